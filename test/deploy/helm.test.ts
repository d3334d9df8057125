/**
 * The Helm chart (deploy/helm/lockstep), checked offline as CI can: `helm lint --strict`, `helm
 * template` of each shipped values file, and strict schema validation of every rendered object —
 * Kubernetes kinds and the KEDA / prometheus-operator CRDs — with kubeconform, no object skipped
 * for want of a schema. The tools and schemas are fetched and built once into the cache
 * (deploy/helm/tools.ts). No cluster runs here: nothing is applied to an API server.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { installChartTools, KUBERNETES_VERSIONS, type ChartTools } from '../../deploy/helm/tools.ts';
import { configValuesSchema, VALUES_SCHEMA } from '../../deploy/helm/lockstep/schema-config.ts';
import { localStackEnv } from '../../deploy/local/config.ts';
import { loadAppConfig } from '../../services/app/config.ts';
import { pipelineServices } from '../../services/app/launcher.ts';

const CHART = join(import.meta.dirname, '..', '..', 'deploy', 'helm', 'lockstep');
const VALUES_FILES = readdirSync(join(CHART, 'ci'))
  .filter((f) => f.endsWith('-values.yaml'))
  .sort();
// The alert rules the project ships (deploy/prometheus), rendered into the PrometheusRule.
const RULES_FIXTURE = join(import.meta.dirname, '..', '..', 'deploy', 'prometheus', 'lockstep-rules.yml');

type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};
interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function runTool(cmd: string, args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 << 20, timeout: 300_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`running ${cmd} ${args.join(' ')}: ${err.message}`));
        return;
      }
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
    });
  });
}

let tools: ChartTools;
let scratch: string;

before(async () => {
  const env = localStackEnv();
  const t0 = Date.now();
  tools = await installChartTools({
    cacheDir: env.cacheDir,
    go: env.go,
    logFile: join(env.cacheDir, 'helm-tools.log'),
    log: (line) => process.stderr.write(`[helm test] ${line}\n`),
  });
  process.stderr.write(`[helm test] tools ready in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
  scratch = mkdtempSync(join(tmpdir(), 'lockstep-helm-'));
});
after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

async function template(valuesFile: string, extra: string[] = [], kube = KUBERNETES_VERSIONS[0]!) {
  const r = await runTool(tools.helm, [
    'template',
    'lockstep',
    CHART,
    '--namespace',
    'sync',
    '--kube-version',
    kube,
    '-f',
    valuesFile,
    ...extra,
  ]);
  assert.equal(r.code, 0, `helm template -f ${valuesFile} failed:\n${r.stderr}`);
  const objects = parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
  return { text: r.stdout, objects };
}

interface KubeconformReport {
  resources: { filename: string; kind: string; name: string; version: string; status: string; msg: string }[];
  summary: { valid: number; invalid: number; errors: number; skipped: number };
}

async function kubeconform(manifests: string, kube: string): Promise<KubeconformReport & { code: number }> {
  const file = join(scratch, `manifests-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, manifests);
  const r = await runTool(tools.kubeconform, [
    '-strict',
    '-summary',
    '-verbose',
    '-output',
    'json',
    '-kubernetes-version',
    kube,
    ...tools.schemaLocations.flatMap((l) => ['-schema-location', l]),
    file,
  ]);
  return { code: r.code, ...(JSON.parse(r.stdout) as KubeconformReport) };
}

const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);

test('the config part of values.schema.json is generated from the services’ config schema and current', () => {
  const file = JSON.parse(readFileSync(VALUES_SCHEMA, 'utf8')) as { properties: { config: unknown } };
  assert.deepEqual(
    file.properties.config,
    configValuesSchema(),
    'values.schema.json is stale: run node deploy/helm/lockstep/schema-config.ts && npx prettier --write deploy/helm',
  );
});

describe('every shipped values file', () => {
  test('the ci/ values files are the three documented ones', () => {
    assert.deepEqual(VALUES_FILES, [
      'everything-values.yaml',
      'minimal-values.yaml',
      'strimzi-cnpg-values.yaml',
    ]);
  });

  for (const name of VALUES_FILES) {
    const file = join(CHART, 'ci', name);
    test(`${name}: helm lint --strict is clean`, async () => {
      const r = await runTool(tools.helm, ['lint', '--strict', CHART, '-f', file]);
      assert.equal(r.code, 0, `helm lint failed:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      assert.doesNotMatch(r.stdout, /\[(WARNING|ERROR)\]/, r.stdout);
    });

    for (const kube of KUBERNETES_VERSIONS) {
      test(`${name}: every rendered object passes strict validation for Kubernetes ${kube}`, async () => {
        const extra = name.startsWith('everything')
          ? ['--set-file', `prometheusRule.rulesFile=${RULES_FIXTURE}`]
          : [];
        const { text, objects } = await template(file, extra, kube);
        const report = await kubeconform(text, kube);
        const bad = report.resources.filter((r) => r.status !== 'statusValid');
        assert.deepEqual(bad, [], `kubeconform found problems:\n${JSON.stringify(bad, null, 2)}`);
        assert.equal(report.code, 0);
        assert.deepEqual(
          { ...report.summary, valid: report.summary.valid === objects.length },
          { valid: true, invalid: 0, errors: 0, skipped: 0 },
          `every one of the ${objects.length} objects must be validated, none skipped: ${JSON.stringify(report.summary)}`,
        );
      });
    }

    test(`${name}: one Deployment per service of the configuration, as the launcher runs them`, async () => {
      const values = parse(readFileSync(file, 'utf8')) as { config: unknown; secretEnv?: { name: string }[] };
      const configFile = join(scratch, `${name}.lockstep.yaml`);
      writeFileSync(configFile, stringify(values.config));
      // Every secret the configuration names, set to a dummy: only the shape is checked here.
      const env: NodeJS.ProcessEnv = {};
      for (const m of JSON.stringify(values.config).matchAll(/\{"env":"([A-Z0-9_]+)"\}/g))
        env[m[1]!] = 'dummy';
      const expected = pipelineServices(loadAppConfig(configFile, env));

      const { objects } = await template(file);
      // The status page (admin.enabled) is the one Deployment that is not a pipeline service.
      const deployments = byKind(objects, 'Deployment').filter((d) => d.metadata.name !== 'lockstep-admin');
      assert.deepEqual(
        deployments.map((d) => d.metadata.name).sort(),
        expected.map((s) => `lockstep-${s.name}`).sort(),
      );
      for (const s of expected) {
        const d = deployments.find((x) => x.metadata.name === `lockstep-${s.name}`)!;
        const pod = (d.spec as { template: { spec: PodSpec } }).template.spec;
        const c = pod.containers[0]!;
        assert.deepEqual(c.args, s.args, `${s.name}: args`);
        assert.equal(c.ports[0]!.containerPort, s.port, `${s.name}: port`);
        assert.equal(c.livenessProbe.httpGet.path, '/healthz');
        assert.equal(c.readinessProbe.httpGet.path, '/readyz');
        assert.equal(c.startupProbe.httpGet.path, '/healthz');
        assert.ok(
          pod.terminationGracePeriodSeconds > 30,
          `${s.name}: the grace period must cover the 30 s drain`,
        );
        assert.ok(c.resources.requests, `${s.name}: resource requests`);
        const env = Object.fromEntries(c.env.map((e) => [e.name, e]));
        assert.equal(
          env['LOCKSTEP_HTTP_HOST']?.value,
          '0.0.0.0',
          `${s.name}: listens where the kubelet probes`,
        );
        // Every secret reaches the container only as a reference to an existing Secret.
        for (const e of c.env)
          assert.ok(
            e.valueFrom || !/KEY|TOKEN|SECRET|PASSWORD|URL/.test(e.name),
            `${s.name}: ${e.name} is a literal`,
          );
      }
      assert.equal(byKind(objects, 'Secret').length, 0, 'the chart never renders a Secret');
      for (const s of expected) {
        assert.ok(
          byKind(objects, 'PodDisruptionBudget').some((p) => p.metadata.name === `lockstep-${s.name}`),
          `${s.name}: a PodDisruptionBudget`,
        );
      }
      const [cm] = byKind(objects, 'ConfigMap').filter((c) => c.metadata.name === 'lockstep-config');
      assert.deepEqual(
        parse(cm!.data!['lockstep.yaml']!),
        values.config,
        'lockstep.yaml is config, verbatim',
      );

      const job = byKind(objects, 'Job')[0]!;
      assert.equal(job.metadata.annotations?.['helm.sh/hook'], 'pre-install,pre-upgrade');
      const jobPod = (job.spec as { template: { spec: PodSpec } }).template.spec;
      assert.deepEqual(jobPod.containers[0]!.args, ['prepare']);
    });
  }
});

interface PodSpec {
  terminationGracePeriodSeconds: number;
  containers: {
    args: string[];
    ports: { containerPort: number }[];
    env: { name: string; value?: string; valueFrom?: unknown }[];
    resources: { requests?: unknown };
    livenessProbe: { httpGet: { path: string } };
    readinessProbe: { httpGet: { path: string } };
    startupProbe: { httpGet: { path: string } };
  }[];
}

test('KEDA scales the reconciler and each egress on the lag of their own consumer groups', async () => {
  const { objects } = await template(join(CHART, 'ci', 'everything-values.yaml'));
  const scaled = byKind(objects, 'ScaledObject');
  const triggers = (name: string) =>
    (
      scaled.find((s) => s.metadata.name === `lockstep-${name}`)!.spec as {
        triggers: { type: string; metadata: Record<string, string> }[];
      }
    ).triggers.map((t) => [t.type, t.metadata['consumerGroup'], t.metadata['topic']]);
  // clientId acme-lockstep: the groups the services join (reconciler/service.ts, egress/service.ts).
  assert.deepEqual(triggers('reconciler'), [
    ['kafka', 'acme-lockstep-reconciler', 'lockstep.changes.v1'],
    ['kafka', 'acme-lockstep-reconciler', 'lockstep.outcomes.v1'],
  ]);
  assert.deepEqual(triggers('egress-jira'), [
    ['kafka', 'acme-lockstep-egress-jira', 'lockstep.commands.jira.v1'],
  ]);
  assert.deepEqual(triggers('egress-linear'), [
    ['kafka', 'acme-lockstep-egress-linear', 'lockstep.commands.linear.v1'],
  ]);
  assert.equal(scaled.length, 3, 'ingest consumes nothing: it is not scaled on lag');
  for (const d of byKind(objects, 'Deployment')) {
    const keda = !['lockstep-ingest', 'lockstep-admin'].includes(d.metadata.name);
    assert.equal('replicas' in d.spec!, !keda, `${d.metadata.name}: replicas are KEDA's when it scales it`);
  }
});

describe('the status page (admin.enabled)', () => {
  test('is off by default: no admin object is rendered', async () => {
    const { objects } = await template(join(CHART, 'ci', 'minimal-values.yaml'));
    assert.deepEqual(
      objects.filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'admin'),
      [],
    );
  });

  test('on: `lockstep admin` on its own configuration, the token only from the existing Secret', async () => {
    const file = join(CHART, 'ci', 'everything-values.yaml');
    const values = parse(readFileSync(file, 'utf8')) as {
      config: Record<string, unknown>;
      admin: { existingSecret: { name: string; key: string } };
    };
    const { objects } = await template(file);
    const admin = objects.filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'admin');
    assert.deepEqual(admin.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
      'ConfigMap/lockstep-admin-config',
      'Deployment/lockstep-admin',
      'NetworkPolicy/lockstep-admin',
      'Service/lockstep-admin',
    ]);
    const pod = (
      byKind(admin, 'Deployment')[0]!.spec as {
        template: { spec: PodSpec & { volumes: { configMap?: { name: string } }[] } };
      }
    ).template.spec;
    const c = pod.containers[0]!;
    assert.deepEqual(c.args, ['admin']);
    assert.equal(c.ports[0]!.containerPort, 7080);
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    const env = Object.fromEntries(c.env.map((e) => [e.name, e]));
    assert.deepEqual(env['LOCKSTEP_ADMIN_TOKEN'], {
      name: 'LOCKSTEP_ADMIN_TOKEN',
      valueFrom: { secretKeyRef: values.admin.existingSecret },
    });
    assert.ok(pod.volumes.some((v) => v.configMap?.name === 'lockstep-admin-config'));

    // Its configuration is the chart's config plus the admin section, and loads as the CLI loads it.
    const cm = byKind(admin, 'ConfigMap')[0]!;
    const doc = parse(cm.data!['lockstep.yaml']!) as Record<string, unknown>;
    assert.deepEqual({ ...doc, admin: undefined }, { ...values.config, admin: undefined });
    const configFile = join(scratch, 'admin.lockstep.yaml');
    writeFileSync(configFile, cm.data!['lockstep.yaml']!);
    const secrets: NodeJS.ProcessEnv = { LOCKSTEP_ADMIN_TOKEN: 'a-token-of-at-least-16-chars' };
    for (const m of JSON.stringify(values.config).matchAll(/\{"env":"([A-Z0-9_]+)"\}/g))
      secrets[m[1]!] = 'dummy';
    const loaded = loadAppConfig(configFile, secrets);
    assert.equal(loaded.admin.host, '0.0.0.0', 'listens where the kubelet and the Service reach it');
    assert.equal(loaded.admin.port, 7080);
    assert.equal(loaded.admin.token?.reveal(), 'a-token-of-at-least-16-chars');
    // Each pipeline service through its Service, on the port its Deployment listens on.
    const services = pipelineServices(loaded);
    assert.deepEqual(
      loaded.admin.serviceUrls,
      Object.fromEntries(services.map((s) => [s.name, `http://lockstep-${s.name}:${s.port}`])),
    );
    // The pipeline's own ConfigMap does not name the token's variable (its containers lack it).
    const [pipelineCm] = byKind(objects, 'ConfigMap').filter((o) => o.metadata.name === 'lockstep-config');
    assert.doesNotMatch(pipelineCm!.data!['lockstep.yaml']!, /LOCKSTEP_ADMIN_TOKEN/);
    for (const d of byKind(objects, 'Deployment').filter((o) => o.metadata.name !== 'lockstep-admin')) {
      const names = (d.spec as { template: { spec: PodSpec } }).template.spec.containers[0]!.env.map(
        (e) => e.name,
      );
      assert.ok(!names.includes('LOCKSTEP_ADMIN_TOKEN'), `${d.metadata.name} does not get the admin token`);
    }
  });

  test('a token written into config.admin is refused: it comes only from admin.existingSecret', async () => {
    const r = await runTool(tools.helm, [
      'template',
      'lockstep',
      CHART,
      '--kube-version',
      KUBERNETES_VERSIONS[0]!,
      '-f',
      join(CHART, 'ci', 'minimal-values.yaml'),
      '--set',
      'config.admin.token.env=MY_ADMIN_TOKEN',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /config\.admin\.token: give the status page's token with admin\.existingSecret/);
  });
});

test('a rules file given with --set-file becomes the PrometheusRule verbatim, {{ $labels }} untouched', async () => {
  const { objects } = await template(join(CHART, 'ci', 'everything-values.yaml'), [
    '--set-file',
    `prometheusRule.rulesFile=${RULES_FIXTURE}`,
  ]);
  const [rule] = byKind(objects, 'PrometheusRule');
  const fixture = parse(readFileSync(RULES_FIXTURE, 'utf8')) as { groups: unknown[] };
  assert.deepEqual((rule!.spec as { groups: unknown[] }).groups, fixture.groups);
  assert.equal(rule!.metadata.labels?.['release'], 'kube-prometheus-stack', 'additionalLabels');
});

test('kubeconform really is strict: an unknown field in a Deployment or a ScaledObject is refused', async () => {
  const { objects } = await template(join(CHART, 'ci', 'everything-values.yaml'));
  const deployment = structuredClone(byKind(objects, 'Deployment')[0]!);
  (deployment.spec as Record<string, unknown>)['replicass'] = 2;
  const scaled = structuredClone(byKind(objects, 'ScaledObject')[0]!);
  (scaled.spec as Record<string, unknown>)['minReplicas'] = 1;
  const report = await kubeconform(
    [deployment, scaled].map((o) => stringify(o)).join('---\n'),
    KUBERNETES_VERSIONS[0]!,
  );
  const results = [...report.resources].sort((a, b) => a.kind.localeCompare(b.kind));
  assert.deepEqual(
    results.map((r) => [r.kind, r.status]),
    [
      ['Deployment', 'statusInvalid'],
      ['ScaledObject', 'statusInvalid'],
    ],
    JSON.stringify(report.resources, null, 2),
  );
  assert.match(results[0]!.msg, /replicass/);
  assert.match(results[1]!.msg, /minReplicas/);
});

describe('values.schema.json refuses what would deploy wrong', () => {
  const refused = async (name: string, values: unknown, message: RegExp) => {
    const file = join(scratch, `${name}.yaml`);
    const base = parse(readFileSync(join(CHART, 'ci', 'minimal-values.yaml'), 'utf8')) as Record<
      string,
      unknown
    >;
    writeFileSync(file, stringify(merge(base, values)));
    const r = await runTool(tools.helm, [
      'template',
      'lockstep',
      CHART,
      '--kube-version',
      KUBERNETES_VERSIONS[0]!,
      '-f',
      file,
    ]);
    assert.notEqual(r.code, 0, `${name}: helm template should have failed`);
    assert.match(r.stderr, /values don't meet the specifications of the schema/);
    assert.match(r.stderr, message);
  };
  test('a typo in a chart value', () =>
    refused('typo-chart', { reconciler: { replcas: 2 } }, /additional properties 'replcas' not allowed/));
  test('a typo inside the Lockstep configuration', () =>
    refused(
      'typo-config',
      { config: { kafka: { borkers: ['a:9092'] } } },
      /additional properties 'borkers' not allowed/,
    ));
  test('a secret value written into the configuration', () =>
    refused(
      'literal-secret',
      { config: { connectors: { linear: { apiKey: 'lin_api_0123456789' } } } },
      /apiKey/,
    ));
  test('a Postgres URL with its password in the configuration', () =>
    refused(
      'pg-password',
      { config: { postgres: { url: 'postgres://app:hunter2@db:5432/app' } } },
      /postgres/,
    ));
});

function merge(a: unknown, b: unknown): unknown {
  if (
    typeof a !== 'object' ||
    a === null ||
    Array.isArray(a) ||
    typeof b !== 'object' ||
    b === null ||
    Array.isArray(b)
  )
    return b;
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [k, v] of Object.entries(b)) out[k] = merge(out[k], v);
  return out;
}
