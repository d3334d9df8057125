/**
 * `lockstep doctor [--json]`: what stands between this checkout and a working sync, each check
 * with the fix when it fails — system prerequisites, the local stack's health, the configuration,
 * each platform's credentials, and whether ingest is reachable and verifying webhooks. Exit 1
 * when any check fails. Checks that cannot be made are reported as such (`ok: null`), never as
 * passed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { checkPrerequisites } from '../../../deploy/local/prerequisites.ts';
import { isAlive, readPid } from '../../../deploy/local/process.ts';
import { devStack, stackStatus } from '../../../deploy/local/stack.ts';
import { boundConnectors, loadAppConfig, type AppConfig } from '../../app/config.ts';
import { SANDBOX_CREDENTIALS } from '../../app/sandbox-config.ts';
import { defaultStartOptions } from './start.ts';

export interface DoctorCheck {
  section: 'prerequisites' | 'stack' | 'configuration' | 'credentials' | 'webhooks';
  name: string;
  /** true passed, false failed, null could not be checked. */
  ok: boolean | null;
  detail: string;
  fix?: string;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function configuration(checks: DoctorCheck[]): Promise<{ config: AppConfig; sandbox: boolean } | null> {
  const start = defaultStartOptions();
  const file = start.configFile;
  if (file !== undefined) {
    try {
      const config = loadAppConfig(file);
      const platforms = [...boundConnectors(config).keys()];
      if (platforms.length > 0) {
        checks.push({
          section: 'configuration',
          name: file,
          ok: true,
          detail: `valid; platforms ${platforms.join(', ')}; ${config.flows.length} flow(s)`,
        });
        return { config, sandbox: false };
      }
    } catch (err) {
      checks.push({
        section: 'configuration',
        name: file,
        ok: false,
        detail: message(err),
        fix: `edit ${file} (README: "Configuration: lockstep.yaml" lists every key)`,
      });
      return null;
    }
  }
  const sandboxFile = join(start.stateDir, 'sandbox.lockstep.yaml');
  checks.push({
    section: 'configuration',
    name: file ?? 'lockstep.yaml',
    ok: true,
    detail: `${file ? 'configures no platform' : 'not found'}: \`npm start\` runs the SANDBOX (emulated platforms)`,
  });
  if (!existsSync(sandboxFile)) return null;
  return { config: loadAppConfig(sandboxFile, { ...process.env, ...SANDBOX_CREDENTIALS }), sandbox: true };
}

async function credentials(checks: DoctorCheck[], config: AppConfig, sandbox: boolean): Promise<void> {
  for (const [platform, connector] of boundConnectors(config)) {
    try {
      const bot = await connector.resolveBotUserId();
      checks.push({
        section: 'credentials',
        name: sandbox ? `${platform} (emulator)` : platform,
        ok: true,
        detail: `authenticated; the bot user is ${bot}`,
      });
    } catch (err) {
      checks.push({
        section: 'credentials',
        name: sandbox ? `${platform} (emulator)` : platform,
        ok: false,
        detail: message(err),
        fix: sandbox
          ? 'the sandbox is not answering: run `npm start`'
          : `check connectors.${platform} in the configuration (the token and the account it belongs to) and that the platform is reachable from here`,
      });
    }
  }
}

async function webhooks(checks: DoctorCheck[], config: AppConfig, sandbox: boolean): Promise<void> {
  const base = `http://${config.ingest.host}:${config.ingest.port}`;
  const up = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(3000) })
    .then((r) => r.ok)
    .catch(() => false);
  checks.push({
    section: 'webhooks',
    name: 'ingest',
    ok: up,
    detail: up ? `${base} answers` : `${base}/healthz does not answer`,
    fix: 'start the pipeline: `npm start` (its log: .lockstep/dev/pipeline/logs/ingest.log)',
  });
  for (const platform of boundConnectors(config).keys()) {
    const url = `${base}/webhooks/${platform}`;
    if (up) {
      // An unsigned delivery must be refused: that shows the route is there and verifying.
      const status = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
        signal: AbortSignal.timeout(3000),
      })
        .then((r) => r.status)
        .catch(() => 0);
      checks.push({
        section: 'webhooks',
        name: `${platform} endpoint`,
        ok: status === 401,
        detail:
          status === 401
            ? `${url} refuses an unsigned delivery (401), as it must`
            : `${url} answered ${status || 'nothing'} to an unsigned delivery (expected 401)`,
        fix: `see .lockstep/dev/pipeline/logs/ingest.log`,
      });
    }
    if (sandbox) {
      const marker = join(defaultStartOptions().stateDir, 'pipeline', 'webhooks.json');
      const sandboxPid = readPid(join(defaultStartOptions().stateDir, 'pipeline', 'sandbox.pid'));
      const registered =
        existsSync(marker) &&
        sandboxPid !== undefined &&
        isAlive(sandboxPid) &&
        (JSON.parse(readFileSync(marker, 'utf8')) as { sandboxPid?: number }).sandboxPid === sandboxPid;
      checks.push({
        section: 'webhooks',
        name: `${platform} registration (emulator)`,
        ok: registered,
        detail: registered ? `the emulator delivers to ${url}` : 'not registered with the running sandbox',
        fix: '`npm start` registers them',
      });
    } else {
      checks.push({
        section: 'webhooks',
        name: `${platform} registration`,
        ok: null,
        detail: `not checked: Lockstep cannot list ${platform}'s webhooks yet`,
        fix: `register it once: \`npx lockstep webhooks register --platform ${platform} --url ${config.ingest.publicUrl ?? '<public ingest URL>'}/webhooks/${platform}\``,
      });
    }
  }
}

export async function runDoctor(): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const stack = devStack();
  for (const p of checkPrerequisites(stack))
    checks.push({
      section: 'prerequisites',
      name: p.name,
      ok: p.ok,
      detail: `${p.detail} (for ${p.for})`,
      ...(p.ok ? {} : { fix: p.fix }),
    });
  const status = await stackStatus(stack);
  for (const [name, c] of Object.entries(status.components))
    checks.push({
      section: 'stack',
      name,
      ok: c.healthy,
      detail: c.healthy ? `healthy (pid ${c.pid})` : (c.detail ?? 'unhealthy'),
      ...(c.healthy ? {} : { fix: `\`npm start\` (or \`npx lockstep up\`); its log: ${c.log}` }),
    });
  const chosen = await configuration(checks);
  if (chosen) {
    await credentials(checks, chosen.config, chosen.sandbox);
    await webhooks(checks, chosen.config, chosen.sandbox);
  }
  return checks;
}

export function register(program: Command): void {
  program
    .command('doctor')
    .description(
      'check prerequisites, the stack, the configuration, credentials and webhooks; say how to fix each failure',
    )
    .option('--json', 'print the checks as JSON')
    .action(async (opts: { json?: boolean }) => {
      const checks = await runDoctor();
      const healthy = checks.every((c) => c.ok !== false);
      if (opts.json) process.stdout.write(`${JSON.stringify({ healthy, checks }, null, 2)}\n`);
      else {
        let section = '';
        for (const c of checks) {
          if (c.section !== section) process.stdout.write(`${(section = c.section)}\n`);
          const mark = c.ok === true ? 'ok  ' : c.ok === false ? 'FAIL' : '?   ';
          process.stdout.write(`  ${mark} ${c.name}: ${c.detail}\n`);
          if (c.ok !== true && c.fix) process.stdout.write(`       fix: ${c.fix}\n`);
        }
        process.stdout.write(healthy ? 'all checks passed\n' : 'some checks failed\n');
      }
      if (!healthy) process.exitCode = 1;
    });
}
