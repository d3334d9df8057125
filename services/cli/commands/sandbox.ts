/**
 * `lockstep sandbox`: runs the EMULATORS of every registered platform (test/emulators) with demo
 * data in the foreground until SIGINT/SIGTERM, and writes their endpoints to `.lockstep/sandbox.json`:
 *   {"notice": "...", "pid": 123, "<platform>": {"<sandbox.endpointKey>": url}, ...}
 * It also adds a `sandbox` section to `lockstep status`. The emulators are test infrastructure:
 * nothing they hold is, or is ever shown as, a real platform's data.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { isAlive } from '../../../deploy/local/process.ts';
import { STATE_ROOT } from '../../../deploy/local/stack.ts';
import { addStatusSection } from '../../../deploy/local/status.ts';
import { SANDBOX_SIDES, sandboxEndpoint, type SandboxEndpointsFile } from '../../app/sandbox-config.ts';
import { displayNames, KNOWN_PLATFORMS } from '../../connectors/registry.ts';
import type { PlatformFacts } from '../../connectors/types.ts';
import type { SandboxEndpoints, SandboxPlatform } from '../../../test/emulators/sandbox.ts';

export const SANDBOX_FILE = join(STATE_ROOT, 'sandbox.json');

export type SandboxFile = SandboxEndpoints & { notice: string; pid: number };

const boxed = (text: string): string => `  #  ${text.padEnd(70)}#`;
const BANNER = [
  '',
  `  ${'#'.repeat(74)}`,
  boxed('LOCKSTEP SANDBOX — EMULATED PLATFORMS WITH DEMO DATA'),
  boxed(`These are local EMULATORS of ${displayNames()}.`),
  boxed('They are NOT the real platforms; nothing here reaches or syncs them.'),
  `  ${'#'.repeat(74)}`,
  '',
].join('\n');

/** The commander option value of `--<platform>-port`. */
const portOption = (f: PlatformFacts): string => `${f.platform}Port`;

function port(f: PlatformFacts) {
  const name = f.platform;
  return [
    `--${name}-port <port>`,
    `port of the ${name} emulator`,
    (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535)
        throw new Error(`parsing --${name}-port: ${v} is not a port`);
      return n;
    },
    // The same defaults as test/emulators/sandbox.ts (registry.test.ts checks), kept in the
    // connectors' facts so loading the CLI does not load the emulators.
    f.sandbox.port,
  ] as const;
}

function writeAtomically(file: string, content: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content);
  // `lockstep start` polls for this file: it must never see it half-written.
  renameSync(tmp, file);
}

async function answers(url: string): Promise<boolean> {
  const res = await fetch(new URL('/_emulator/ledger?since=9007199254740991', url), {
    signal: AbortSignal.timeout(2_000),
  }).catch(() => null);
  return res?.ok === true;
}

export function register(program: Command): void {
  const command = program
    .command('sandbox')
    .description(
      `run EMULATORS of ${displayNames()} with demo data (not the real platforms) in the foreground`,
    );
  for (const f of KNOWN_PLATFORMS) command.option(...port(f));
  command
    .option('--webhook-time-scale <factor>', "multiply the platforms' webhook retry delays", Number, 1)
    .option('--out <file>', 'where to write the endpoints', SANDBOX_FILE)
    .action(async (opts: Record<string, number> & { webhookTimeScale: number; out: string }) => {
      // Loaded on use: the emulators (and their vendor specs) stay out of every other command.
      const { startSandbox, SANDBOX_NOTICE } = await import('../../../test/emulators/sandbox.ts');
      const sandbox = await startSandbox({
        ports: Object.fromEntries(KNOWN_PLATFORMS.map((f) => [f.platform, opts[portOption(f)]])) as Partial<
          Record<SandboxPlatform, number>
        >,
        webhookTimeScale: opts.webhookTimeScale,
      });
      const file: SandboxFile = { notice: SANDBOX_NOTICE, pid: process.pid, ...sandbox.endpoints };
      writeAtomically(opts.out, `${JSON.stringify(file, null, 2)}\n`);
      process.stdout.write(BANNER);
      const endpoints: SandboxEndpointsFile = sandbox.endpoints;
      const lines = [
        ...KNOWN_PLATFORMS.map(
          (f) => `  ${f.platform.padEnd(6)} (EMULATOR)  ${sandboxEndpoint(endpoints, f) ?? '(not started)'}`,
        ),
        '',
        `  endpoints written to ${opts.out}; control API at <emulator>/_emulator/ (reset, seed, state, faults, ledger)`,
        '  Ctrl-C stops the sandbox.',
        '',
      ];
      process.stdout.write(`${lines.join('\n')}\n`);

      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          process.stdout.write(`\nlockstep sandbox: ${signal}, stopping the emulators\n`);
          resolve();
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      // Only remove the file if it is still ours (a second sandbox may have replaced it).
      try {
        if ((JSON.parse(readFileSync(opts.out, 'utf8')) as Partial<SandboxFile>).pid === process.pid)
          rmSync(opts.out, { force: true });
      } catch {
        // Already gone: nothing to clean up.
      }
      await sandbox.close();
    });

  addStatusSection('sandbox', async () => {
    if (!existsSync(SANDBOX_FILE)) return { running: false };
    const file = JSON.parse(readFileSync(SANDBOX_FILE, 'utf8')) as SandboxFile;
    if (!isAlive(file.pid)) return { running: false, staleFile: SANDBOX_FILE };
    const endpoints: SandboxEndpointsFile = file;
    const probes = await Promise.all(
      KNOWN_PLATFORMS.map(async (f) => {
        const url = sandboxEndpoint(endpoints, f);
        return [
          f.platform,
          {
            [f.sandbox.endpointKey]: url,
            answering: url !== undefined && (await answers(url)),
            ...f.sandbox.status,
          },
        ] as const;
      }),
    );
    return {
      running: true,
      healthy: probes.every(([, p]) => p.answering),
      emulated: true,
      notice: file.notice,
      pid: file.pid,
      // The sides of the demo flow `npm start` runs on these emulators (the others run unsynced).
      demoFlow: SANDBOX_SIDES.map((f) => f.sandbox.side.describe),
      ...Object.fromEntries(probes),
    };
  });
}
