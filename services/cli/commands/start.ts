/**
 * `lockstep start` (what `npm start` runs): the local stack, then — when lockstep.yaml configures
 * no platform — the sandbox of EMULATED platforms with a demo flow, then the pipeline's services.
 * Everything runs in the background; running it again is harmless; `lockstep down` stops it all.
 *
 * The sandbox's emulators keep their data in memory only: a new sandbox process starts from the
 * demo seed with new ids. So Lockstep's sandbox state (its database, topics and consumer groups)
 * is started afresh together with it — links kept from the old emulators would point at items
 * that no longer exist, and every write to them would be dead-lettered. A restart of the sandbox
 * is a clean demo again; the README says so.
 */
import { registerWebhook } from '../../ingest/register.ts';
import { lockstepTopicSpecs } from '../../app/topics.ts';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import pg from 'pg';
import { stringify } from 'yaml';
import { isAlive, readPid, startDaemon, waitUntil } from '../../../deploy/local/process.ts';
import {
  CHECKOUT_ROOT,
  devStack,
  stackEndpoints,
  stackUpInStages,
  STATE_ROOT,
  type StackOptions,
} from '../../../deploy/local/stack.ts';
import { addStatusSection } from '../../../deploy/local/status.ts';
import { boundConnectors, loadAppConfig, type AppConfig } from '../../app/config.ts';
import {
  pipelineStatus,
  preparePipeline,
  startPipeline,
  stopPipeline,
  type PipelineOptions,
  type ServiceStatus,
} from '../../app/launcher.ts';
import {
  SANDBOX_CREDENTIALS,
  SANDBOX_SIDES,
  sandboxConfig,
  sandboxEndpoint,
  type SandboxEndpointsFile,
} from '../../app/sandbox-config.ts';
import {
  displayNames,
  KNOWN_PLATFORMS,
  platformFacts,
  type KnownPlatform,
} from '../../connectors/registry.ts';
import { defaultConfigFile } from '../../core/config/index.ts';
import { createKafka } from '../../core/kafka/index.ts';

/** Where one `start` keeps its files and which stack it runs on. */
export interface StartOptions {
  stack: StackOptions;
  /** `<stateDir>/pipeline` (pids, logs), `<stateDir>/sandbox.lockstep.yaml`, `<stateDir>/sandbox-owner.json`. */
  stateDir: string;
  /** The endpoints file `lockstep sandbox --out` writes. */
  sandboxFile: string;
  /** The operator's configuration; undefined = none found. */
  configFile: string | undefined;
  /**
   * For tests on the shared test stack: emulator ports (0 = any free one), service ports, and a
   * private database and topic/consumer-group namespace. `npm start` uses the defaults.
   */
  sandbox?: {
    ports?: Partial<Record<KnownPlatform, number>>;
    ingestPort?: number;
    reconcilerPort?: number;
    egressPort?: number;
    database?: string;
    namespace?: string;
    pollIntervalMs?: number;
  };
  say: (line: string) => void;
  progress: (line: string) => void;
}

export function defaultStartOptions(): StartOptions {
  const progress = (line: string) => process.stderr.write(`  ${line}\n`);
  return {
    stack: devStack(progress),
    stateDir: join(STATE_ROOT, 'dev'),
    sandboxFile: join(STATE_ROOT, 'sandbox.json'),
    configFile: defaultConfigFile(),
    say: (line: string) => process.stdout.write(`${line}\n`),
    progress,
  };
}

const pipelineDir = (o: StartOptions) => join(o.stateDir, 'pipeline');
const sandboxConfigFile = (o: StartOptions) => join(o.stateDir, 'sandbox.lockstep.yaml');
const sandboxPidFile = (o: StartOptions) => join(pipelineDir(o), 'sandbox.pid');
/** Who the instance's database and topics belong to: the sandbox, or the operator's config. */
const ownerFile = (o: StartOptions) => join(o.stateDir, 'state-owner.json');

/** Which config the pipeline runs with: the operator's, or the generated sandbox one. */
function chooseConfig(file: string | undefined): { file: string | undefined; sandbox: boolean } {
  if (file === undefined) return { file: undefined, sandbox: true };
  const cfg = loadAppConfig(file);
  return {
    file,
    sandbox:
      Object.keys(cfg.connectors).filter((k) => (cfg.connectors as Record<string, unknown>)[k]).length === 0,
  };
}

function pipelineOptions(o: StartOptions, configFile: string, sandbox: boolean): PipelineOptions {
  return {
    stateDir: pipelineDir(o),
    configFile,
    env: sandbox ? { ...SANDBOX_CREDENTIALS } : {},
    log: o.progress,
  };
}

function sandboxRunning(o: StartOptions): number | undefined {
  const pid = readPid(sandboxPidFile(o));
  return pid !== undefined && isAlive(pid) ? pid : undefined;
}

async function startSandbox(o: StartOptions): Promise<SandboxEndpointsFile> {
  if (sandboxRunning(o) === undefined) {
    mkdirSync(join(pipelineDir(o), 'logs'), { recursive: true });
    rmSync(o.sandboxFile, { force: true });
    const logFile = join(pipelineDir(o), 'logs', 'sandbox.log');
    const ports = o.sandbox?.ports ?? {};
    const portArgs = Object.entries(ports).flatMap(([name, port]) => [`--${name}-port`, String(port)]);
    const started = await startDaemon(
      process.execPath,
      [join(CHECKOUT_ROOT, 'bin', 'lockstep.mjs'), 'sandbox', '--out', o.sandboxFile, ...portArgs],
      { component: 'sandbox', logFile, pidFile: sandboxPidFile(o), cwd: CHECKOUT_ROOT },
    );
    await waitUntil(async () => existsSync(o.sandboxFile) && (await sandboxAnswers(o)), {
      component: 'sandbox',
      logFile,
      timeoutMs: 60_000,
      pid: started,
    });
  }
  return JSON.parse(readFileSync(o.sandboxFile, 'utf8')) as SandboxEndpointsFile;
}

async function sandboxAnswers(o: StartOptions): Promise<boolean> {
  // The file is written once every emulator listens; one answering shows the sandbox is up.
  const s = JSON.parse(readFileSync(o.sandboxFile, 'utf8')) as SandboxEndpointsFile;
  const url = KNOWN_PLATFORMS.map((f) => sandboxEndpoint(s, f)).find((u) => u !== undefined);
  if (url === undefined) return false;
  const res = await fetch(new URL('/_emulator/ledger', url)).catch(() => null);
  return res?.ok === true;
}

/** Points the emulators' webhooks at ingest, once per sandbox run (kept in a marker file). */
async function registerSandboxWebhooks(
  o: StartOptions,
  config: AppConfig,
  sandboxPid: number | undefined,
): Promise<void> {
  const marker = join(pipelineDir(o), 'webhooks.json');
  if (existsSync(marker) && JSON.parse(readFileSync(marker, 'utf8')).sandboxPid === sandboxPid) return;
  const ingestUrl = `http://${config.ingest.host}:${config.ingest.port}`;
  const registered: Record<string, unknown> = {};
  const sb = JSON.parse(readFileSync(o.sandboxFile, 'utf8')) as SandboxEndpointsFile;
  for (const [platform, connector] of boundConnectors(config)) {
    const facts = platformFacts(platform);
    const url = `${ingestUrl}/webhooks/${platform}`;
    const emulator = facts ? sandboxEndpoint(sb, facts) : undefined;
    if (facts?.sandbox.pointWebhook && emulator) {
      // A webhook URL that is an app setting, not an API call: set on the emulator's app.
      await facts.sandbox.pointWebhook(emulator, url);
      registered[platform] = [{ id: 'app-setting', url }];
      o.progress(`sandbox ${platform}: webhook → ${url}`);
      continue;
    }
    const env = facts?.sandbox.webhookSecretEnv;
    const secret = env === undefined ? null : (SANDBOX_CREDENTIALS[env] ?? null);
    if (secret === null && !connector.learnsSecrets)
      throw new Error(`registering the sandbox ${platform} webhook: no demo webhook secret`);
    registered[platform] = await registerWebhook(connector, {
      url,
      secret,
      postgresUrl: config.postgres.url,
    });
    o.progress(`sandbox ${platform}: webhook → ${url}`);
  }
  writeFileSync(marker, JSON.stringify({ sandboxPid, registered }, null, 2));
}

function sandboxDocument(
  o: StartOptions,
  stack: ReturnType<typeof stackEndpoints>,
  sb: SandboxEndpointsFile,
) {
  const t = o.sandbox ?? {};
  const doc = sandboxConfig(stack, sb, {
    ...(t.ingestPort !== undefined ? { ingestPort: t.ingestPort } : {}),
    ...(t.pollIntervalMs !== undefined ? { pollIntervalMs: t.pollIntervalMs } : {}),
  });
  if (t.database) {
    const url = new URL(stack.postgres.url);
    url.pathname = `/${t.database}`;
    doc['postgres'] = { url: url.toString() };
  }
  if (t.namespace) {
    const ns = t.namespace;
    doc['kafka'] = {
      ...(doc['kafka'] as object),
      clientId: ns,
      topics: {
        changes: `${ns}.changes.v1`,
        commandsPrefix: `${ns}.commands.`,
        outcomes: `${ns}.outcomes.v1`,
        conflicts: `${ns}.conflicts.v1`,
        dlq: `${ns}.dlq.v1`,
        audit: `${ns}.audit.v1`,
      },
    };
  }
  if (t.reconcilerPort !== undefined) doc['reconciler'] = { port: t.reconcilerPort };
  if (t.egressPort !== undefined) doc['egress'] = { port: t.egressPort };
  return doc;
}

/** Lockstep's topics for a config: what the sandbox reset deletes and preparePipeline recreates. */
function lockstepTopics(config: AppConfig): string[] {
  return lockstepTopicSpecs(config.kafka).map((t) => t.name);
}

/**
 * preparePipeline, retried while Kafka answers with retriable errors: right after the reset
 * deleted the topics, recreating them can briefly meet "This server does not host this
 * topic-partition" while the deletion settles. That is a dependency catching up, not bad input.
 */
async function prepareWithRetry(config: AppConfig, log: (line: string) => void): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (let attempt = 1; ; attempt++) {
    try {
      await preparePipeline(config, log);
      return;
    } catch (err) {
      const retriable = (err as { retriable?: unknown }).retriable === true;
      if (!retriable || Date.now() > deadline) throw err;
      log(`preparing the pipeline: ${(err as Error).message}; retrying (attempt ${attempt + 1})…`);
      await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
    }
  }
}

/**
 * Starts the sandbox's Lockstep state afresh (the emulators just did): drops and recreates its
 * database, deletes its topics and its consumer groups. Only ever for state the sandbox owns.
 */
async function resetSandboxState(o: StartOptions, config: AppConfig): Promise<void> {
  const url = new URL(config.postgres.url);
  const database = decodeURIComponent(url.pathname.slice(1));
  if (!/^[a-z_][a-z0-9_]*$/.test(database))
    throw new Error(`resetting the sandbox state: unexpected database name ${database}`);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`drop database if exists ${database} with (force)`);
    await client.query(`create database ${database}`);
  } finally {
    await client.end();
  }
  const kafka = createKafka(config.kafka).kafka.admin();
  await kafka.connect();
  try {
    const names = new Set(lockstepTopics(config));
    const present = (await kafka.listTopics()).filter((t) => names.has(t));
    if (present.length > 0) await kafka.deleteTopics({ topics: present, timeout: 30_000 });
    // Deletion is asynchronous: recreating a topic still being deleted fails.
    await waitUntil(async () => (await kafka.listTopics()).every((t) => !names.has(t)), {
      component: 'sandbox',
      logFile: join(pipelineDir(o), 'logs', 'sandbox.log'),
      timeoutMs: 60_000,
    });
    const prefix = `${config.kafka.clientId}-`;
    const groups = (await kafka.listGroups()).groups
      .map((g) => g.groupId)
      .filter((g) => g.startsWith(prefix));
    if (groups.length > 0) await kafka.deleteGroups(groups).catch(() => undefined);
  } finally {
    await kafka.disconnect();
  }
  o.progress(
    `sandbox: new emulators, so Lockstep's sandbox state was reset too (database ${database}, ${lockstepTopics(config).length} topics, consumer groups ${config.kafka.clientId}-*)`,
  );
}

function readOwner(o: StartOptions): 'sandbox' | 'config' | undefined {
  try {
    const owner = (JSON.parse(readFileSync(ownerFile(o), 'utf8')) as { owner?: string }).owner;
    return owner === 'sandbox' || owner === 'config' ? owner : undefined;
  } catch {
    return undefined;
  }
}

export interface StartResult {
  sandbox: boolean;
  configFile: string;
  config: AppConfig;
  services: ServiceStatus[];
}

export async function startAll(o: StartOptions = defaultStartOptions()): Promise<StartResult> {
  const t0 = Date.now();
  const { say, progress } = o;
  const choice = chooseConfig(o.configFile);
  if (choice.sandbox) {
    say(
      `Lockstep: no platform is configured, so this runs the SANDBOX: local EMULATORS of ${displayNames()}`,
    );
    say('with made-up demo data (test/emulators). Nothing here touches a real platform.');
    say(
      `Demo flow: ${SANDBOX_SIDES.map((f) => f.sandbox.side.describe).join(' <-> ')}. Configure lockstep.yaml to sync real workspaces.`,
    );
    if (readOwner(o) === 'config')
      throw new Error(
        `starting the sandbox: ${o.stateDir} holds the state of a configured lockstep.yaml (links, cursors), which the sandbox would reset; ` +
          'restore your lockstep.yaml, or run `npx lockstep down` and delete that folder to use the sandbox',
      );
  } else {
    say(`Lockstep: configuration ${choice.file}`);
  }
  say('starting the local stack (Kafka, Apicurio Registry, PostgreSQL, Jaeger)…');
  // Jaeger's one-time build (minutes) must not hold up the pipeline: the services start as soon
  // as Kafka, the registry and Postgres answer, and export traces once Jaeger does.
  const { status, later: jaegerUp } = await stackUpInStages(o.stack, { background: ['jaeger'] });
  if (!status.components.jaeger.healthy)
    say('Jaeger is not up yet (first start: it is being built); the pipeline starts meanwhile.');
  const endpoints = stackEndpoints(o.stack);

  let configFile = choice.file;
  let freshSandbox = false;
  if (choice.sandbox) {
    if (sandboxRunning(o) === undefined) {
      freshSandbox = true;
      // Services still running against the old emulators' state stop before it is reset.
      const stopped = await stopPipeline(pipelineOptions(o, sandboxConfigFile(o), true));
      if (stopped.length > 0) progress(`stopped the services of the previous sandbox: ${stopped.join(', ')}`);
    }
    say('starting the sandbox emulators…');
    const sandbox = await startSandbox(o);
    mkdirSync(o.stateDir, { recursive: true });
    writeFileSync(
      sandboxConfigFile(o),
      `# Generated by \`lockstep start\` for the sandbox (emulated platforms). Do not edit; write your own lockstep.yaml.\n${stringify(sandboxDocument(o, endpoints, sandbox))}`,
    );
    configFile = sandboxConfigFile(o);
  }
  if (configFile === undefined) throw new Error('starting lockstep: no configuration file');
  const env = choice.sandbox ? { ...process.env, ...SANDBOX_CREDENTIALS } : process.env;
  const config = loadAppConfig(configFile, env);
  if (freshSandbox) await resetSandboxState(o, config);
  mkdirSync(o.stateDir, { recursive: true });
  writeFileSync(ownerFile(o), `${JSON.stringify({ owner: choice.sandbox ? 'sandbox' : 'config' })}\n`);
  say('preparing Kafka topics, schemas and database migrations…');
  await prepareWithRetry(config, progress);
  say('starting ingest, reconciler and egress…');
  const services = await startPipeline(pipelineOptions(o, configFile, choice.sandbox), config);
  if (choice.sandbox) await registerSandboxWebhooks(o, config, readPid(sandboxPidFile(o)));
  if (!status.components.jaeger.healthy) {
    say('the pipeline is running; waiting for Jaeger (traces) to finish…');
    await jaegerUp;
  }

  say('');
  for (const s of services)
    say(`  ${s.name.padEnd(14)} ${s.healthy ? 'ready' : 'NOT ready'}  ${s.url}  (log ${s.log})`);
  say(`  webhooks       http://${config.ingest.host}:${config.ingest.port}/webhooks/<platform>`);
  say(`  traces         ${endpoints.jaeger.url}`);
  say(
    `Lockstep is running (${((Date.now() - t0) / 1000).toFixed(1)}s). \`npx lockstep status\` shows it; \`npx lockstep down\` stops it.`,
  );
  if (choice.sandbox)
    say(
      `See it sync: \`npx lockstep demo\` acts as people in the emulators and shows each change arriving on the other sides (${displayNames(SANDBOX_SIDES)}).`,
    );
  return { sandbox: choice.sandbox, configFile, config, services };
}

/** Stops the services and the sandbox (the stack command's `down` calls this first). */
export async function stopAll(o: StartOptions = defaultStartOptions()): Promise<string[]> {
  const sandboxFile = sandboxConfigFile(o);
  const configFile = existsSync(sandboxFile) ? sandboxFile : (o.configFile ?? sandboxFile);
  return stopPipeline(pipelineOptions(o, configFile, true));
}

export function register(program: Command): void {
  program
    .command('start')
    .description(
      'start everything: the local stack, the sandbox when no platform is configured, and the pipeline',
    )
    .action(async () => {
      await startAll();
    });

  addStatusSection('services', async () => {
    const o = defaultStartOptions();
    const choice =
      existsSync(sandboxConfigFile(o)) && chooseConfig(o.configFile).sandbox
        ? sandboxConfigFile(o)
        : o.configFile;
    if (choice === undefined || !existsSync(choice)) return { healthy: true, running: false };
    const env = { ...process.env, ...SANDBOX_CREDENTIALS };
    const config = loadAppConfig(choice, env);
    const list = await pipelineStatus(pipelineOptions(o, choice, true), config);
    const running = list.some((s) => s.running);
    return {
      // Not started is not unhealthy (the stack alone may be up); started but failing (or dead and
      // waiting for its supervisor's restart) is.
      healthy: !running || list.every((s) => s.healthy),
      running,
      ...Object.fromEntries(list.map(({ name, ...s }) => [name, s])),
    };
  });
  addStatusSection('ingest', async () => {
    const o = defaultStartOptions();
    const choice =
      existsSync(sandboxConfigFile(o)) && chooseConfig(o.configFile).sandbox
        ? sandboxConfigFile(o)
        : o.configFile;
    const env = { ...process.env, ...SANDBOX_CREDENTIALS };
    const config = choice && existsSync(choice) ? loadAppConfig(choice, env) : loadAppConfig(undefined, env);
    const url = `http://${config.ingest.host}:${config.ingest.port}`;
    return { url, webhooks: `${url}/webhooks/<platform>` };
  });
}
