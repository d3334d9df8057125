/**
 * `lockstep start` (what `npm start` runs): the local stack, then — when lockstep.yaml configures
 * no platform — the sandbox of EMULATED platforms with a demo flow, then the pipeline's services.
 * Everything runs in the background; running it again is harmless; `lockstep down` stops it all.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { isAlive, readPid, startDaemon, waitUntil } from '../../../deploy/local/process.ts';
import {
  CHECKOUT_ROOT,
  devStack,
  stackEndpoints,
  stackUpInStages,
  STATE_ROOT,
} from '../../../deploy/local/stack.ts';
import { addStatusSection } from '../../../deploy/local/status.ts';
import { boundConnectors, loadAppConfig, type AppConfig } from '../../app/config.ts';
import {
  pipelineStatus,
  preparePipeline,
  startPipeline,
  stopPipeline,
  type PipelineOptions,
} from '../../app/launcher.ts';
import { SANDBOX_CREDENTIALS, sandboxConfig, type SandboxEndpoints } from '../../app/sandbox-config.ts';
import { defaultConfigFile } from '../../core/config/index.ts';

const PIPELINE_DIR = join(STATE_ROOT, 'dev', 'pipeline');
const SANDBOX_JSON = join(STATE_ROOT, 'sandbox.json');
const SANDBOX_CONFIG = join(STATE_ROOT, 'dev', 'sandbox.lockstep.yaml');
const SANDBOX_PID = join(PIPELINE_DIR, 'sandbox.pid');

const say = (line: string) => process.stdout.write(`${line}\n`);
const progress = (line: string) => process.stderr.write(`  ${line}\n`);

/** Which config the pipeline runs with: the operator's, or the generated sandbox one. */
function chooseConfig(): { file: string | undefined; sandbox: boolean } {
  const file = defaultConfigFile();
  if (file === undefined) return { file: undefined, sandbox: true };
  const cfg = loadAppConfig(file);
  return {
    file,
    sandbox:
      Object.keys(cfg.connectors).filter((k) => (cfg.connectors as Record<string, unknown>)[k]).length === 0,
  };
}

function pipelineOptions(configFile: string, sandbox: boolean): PipelineOptions {
  return {
    stateDir: PIPELINE_DIR,
    configFile,
    env: sandbox ? { ...SANDBOX_CREDENTIALS } : {},
    log: progress,
  };
}

async function startSandbox(): Promise<SandboxEndpoints> {
  const pid = readPid(SANDBOX_PID);
  if (pid === undefined || !isAlive(pid)) {
    mkdirSync(join(PIPELINE_DIR, 'logs'), { recursive: true });
    const logFile = join(PIPELINE_DIR, 'logs', 'sandbox.log');
    const started = await startDaemon(
      process.execPath,
      [join(CHECKOUT_ROOT, 'bin', 'lockstep.mjs'), 'sandbox'],
      {
        component: 'sandbox',
        logFile,
        pidFile: SANDBOX_PID,
        cwd: CHECKOUT_ROOT,
      },
    );
    await waitUntil(async () => existsSync(SANDBOX_JSON) && isAlive(started) && (await sandboxAnswers()), {
      component: 'sandbox',
      logFile,
      timeoutMs: 30_000,
      pid: started,
    });
  }
  return JSON.parse(readFileSync(SANDBOX_JSON, 'utf8')) as SandboxEndpoints;
}

async function sandboxAnswers(): Promise<boolean> {
  const s = JSON.parse(readFileSync(SANDBOX_JSON, 'utf8')) as SandboxEndpoints;
  const res = await fetch(new URL('/_emulator/ledger', s.jira.baseUrl)).catch(() => null);
  return res?.ok === true;
}

/** Points the emulators' webhooks at ingest, once per sandbox run (kept in a marker file). */
async function registerSandboxWebhooks(config: AppConfig, sandboxPid: number | undefined): Promise<void> {
  const marker = join(PIPELINE_DIR, 'webhooks.json');
  if (existsSync(marker) && JSON.parse(readFileSync(marker, 'utf8')).sandboxPid === sandboxPid) return;
  const ingestUrl = `http://${config.ingest.host}:${config.ingest.port}`;
  const registered: Record<string, unknown> = {};
  for (const [platform, connector] of boundConnectors(config)) {
    const secret =
      platform === 'linear'
        ? SANDBOX_CREDENTIALS.LOCKSTEP_SANDBOX_LINEAR_WEBHOOK_SECRET
        : SANDBOX_CREDENTIALS.LOCKSTEP_SANDBOX_JIRA_WEBHOOK_SECRET;
    registered[platform] = await connector.registerWebhook({
      url: `${ingestUrl}/webhooks/${platform}`,
      secret,
    });
    progress(`sandbox ${platform}: webhook → ${ingestUrl}/webhooks/${platform}`);
  }
  writeFileSync(marker, JSON.stringify({ sandboxPid, registered }, null, 2));
}

export async function startAll(): Promise<void> {
  const t0 = Date.now();
  const choice = chooseConfig();
  if (choice.sandbox) {
    say('Lockstep: no platform is configured, so this runs the SANDBOX: local EMULATORS of Linear, Jira,');
    say('Asana and Slack with made-up demo data (test/emulators). Nothing here touches a real platform.');
    say('Demo flow: Linear team ENG <-> Jira project ENG. Configure lockstep.yaml to sync real workspaces.');
  } else {
    say(`Lockstep: configuration ${choice.file}`);
  }
  say('starting the local stack (Kafka, Apicurio Registry, PostgreSQL, Jaeger)…');
  const stack = devStack(progress);
  // Jaeger's one-time build (minutes) must not hold up the pipeline: the services start as soon
  // as Kafka, the registry and Postgres answer, and export traces once Jaeger does.
  const { status, later: jaegerUp } = await stackUpInStages(stack, { background: ['jaeger'] });
  if (!status.components.jaeger.healthy)
    say('Jaeger is not up yet (first start: it is being built); the pipeline starts meanwhile.');
  const endpoints = stackEndpoints(stack);

  let configFile = choice.file;
  if (choice.sandbox) {
    say('starting the sandbox emulators…');
    const sandbox = await startSandbox();
    mkdirSync(join(STATE_ROOT, 'dev'), { recursive: true });
    writeFileSync(
      SANDBOX_CONFIG,
      `# Generated by \`lockstep start\` for the sandbox (emulated platforms). Do not edit; write your own lockstep.yaml.\n${stringify(sandboxConfig(endpoints, sandbox))}`,
    );
    configFile = SANDBOX_CONFIG;
  }
  if (configFile === undefined) throw new Error('starting lockstep: no configuration file');
  const env = choice.sandbox ? { ...process.env, ...SANDBOX_CREDENTIALS } : process.env;
  const config = loadAppConfig(configFile, env);
  say('preparing Kafka topics, schemas and database migrations…');
  await preparePipeline(config, progress);
  say('starting ingest, reconciler and egress…');
  const o = pipelineOptions(configFile, choice.sandbox);
  const services = await startPipeline(o, config);
  if (choice.sandbox) await registerSandboxWebhooks(config, readPid(SANDBOX_PID));
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
}

/** Stops the services and the sandbox (the stack command's `down` calls this first). */
export async function stopAll(): Promise<string[]> {
  const configFile = existsSync(SANDBOX_CONFIG) ? SANDBOX_CONFIG : (defaultConfigFile() ?? SANDBOX_CONFIG);
  return stopPipeline(pipelineOptions(configFile, true));
}

export function register(program: Command): void {
  program
    .command('start')
    .description(
      'start everything: the local stack, the sandbox when no platform is configured, and the pipeline',
    )
    .action(startAll);

  addStatusSection('services', async () => {
    const choice =
      existsSync(SANDBOX_CONFIG) && chooseConfig().sandbox ? SANDBOX_CONFIG : defaultConfigFile();
    if (choice === undefined || !existsSync(choice)) return { healthy: true, running: false };
    const env = { ...process.env, ...SANDBOX_CREDENTIALS };
    const config = loadAppConfig(choice, env);
    const list = await pipelineStatus(pipelineOptions(choice, true), config);
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
    const choice =
      existsSync(SANDBOX_CONFIG) && chooseConfig().sandbox ? SANDBOX_CONFIG : defaultConfigFile();
    const env = { ...process.env, ...SANDBOX_CREDENTIALS };
    const config = choice && existsSync(choice) ? loadAppConfig(choice, env) : loadAppConfig(undefined, env);
    const url = `http://${config.ingest.host}:${config.ingest.port}`;
    return { url, webhooks: `${url}/webhooks/<platform>` };
  });
}
