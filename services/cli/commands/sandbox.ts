/**
 * `lockstep sandbox`: runs the four platform EMULATORS (test/emulators) with demo data in the
 * foreground until SIGINT/SIGTERM, and writes their endpoints to `.lockstep/sandbox.json`:
 *   {"notice": "...", "pid": 123,
 *    "linear": {"apiUrl"}, "jira": {"baseUrl"}, "asana": {"baseUrl"}, "slack": {"apiUrl"}}
 * It also adds a `sandbox` section to `lockstep status`. The emulators are test infrastructure:
 * nothing they hold is, or is ever shown as, a real platform's data.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { isAlive } from '../../../deploy/local/process.ts';
import { STATE_ROOT } from '../../../deploy/local/stack.ts';
import { addStatusSection } from '../../../deploy/local/status.ts';
import type { SandboxEndpoints, SandboxPlatform } from '../../../test/emulators/sandbox.ts';

export const SANDBOX_FILE = join(STATE_ROOT, 'sandbox.json');

/** The same defaults as test/emulators/sandbox.ts, kept here so loading the CLI does not load the emulators. */
const DEFAULT_PORTS: Record<SandboxPlatform, number> = {
  linear: 17101,
  jira: 17102,
  asana: 17103,
  slack: 17104,
};

export type SandboxFile = SandboxEndpoints & { notice: string; pid: number };

const BANNER = [
  '',
  '  ##########################################################################',
  '  #  LOCKSTEP SANDBOX — EMULATED PLATFORMS WITH DEMO DATA                   #',
  '  #  These are local EMULATORS of Linear, Jira, Asana and Slack.           #',
  '  #  They are NOT the real platforms; nothing here reaches or syncs them.  #',
  '  ##########################################################################',
  '',
].join('\n');

function port(name: SandboxPlatform) {
  return [
    `--${name}-port <port>`,
    `port of the ${name} emulator`,
    (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535)
        throw new Error(`parsing --${name}-port: ${v} is not a port`);
      return n;
    },
    DEFAULT_PORTS[name],
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
  program
    .command('sandbox')
    .description(
      'run EMULATORS of Linear, Jira, Asana and Slack with demo data (not the real platforms) in the foreground',
    )
    .option(...port('linear'))
    .option(...port('jira'))
    .option(...port('asana'))
    .option(...port('slack'))
    .option('--webhook-time-scale <factor>', "multiply the platforms' webhook retry delays", Number, 1)
    .option('--out <file>', 'where to write the endpoints', SANDBOX_FILE)
    .action(
      async (opts: {
        linearPort: number;
        jiraPort: number;
        asanaPort: number;
        slackPort: number;
        webhookTimeScale: number;
        out: string;
      }) => {
        // Loaded on use: the emulators (and their vendor specs) stay out of every other command.
        const { startSandbox, SANDBOX_NOTICE } = await import('../../../test/emulators/sandbox.ts');
        const sandbox = await startSandbox({
          ports: {
            linear: opts.linearPort,
            jira: opts.jiraPort,
            asana: opts.asanaPort,
            slack: opts.slackPort,
          },
          webhookTimeScale: opts.webhookTimeScale,
        });
        const file: SandboxFile = { notice: SANDBOX_NOTICE, pid: process.pid, ...sandbox.endpoints };
        writeAtomically(opts.out, `${JSON.stringify(file, null, 2)}\n`);
        process.stdout.write(BANNER);
        const lines = [
          `  linear (EMULATOR)  ${sandbox.endpoints.linear.apiUrl}`,
          `  jira   (EMULATOR)  ${sandbox.endpoints.jira.baseUrl}`,
          `  asana  (EMULATOR)  ${sandbox.endpoints.asana.baseUrl}`,
          `  slack  (EMULATOR)  ${sandbox.endpoints.slack.apiUrl}`,
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
      },
    );

  addStatusSection('sandbox', async () => {
    if (!existsSync(SANDBOX_FILE)) return { running: false };
    const file = JSON.parse(readFileSync(SANDBOX_FILE, 'utf8')) as SandboxFile;
    if (!isAlive(file.pid)) return { running: false, staleFile: SANDBOX_FILE };
    const probes = await Promise.all([
      answers(file.linear.apiUrl),
      answers(file.jira.baseUrl),
      answers(file.asana.baseUrl),
      answers(file.slack.apiUrl),
    ]);
    const [linear, jira, asana, slack] = probes;
    return {
      running: true,
      healthy: probes.every(Boolean),
      emulated: true,
      notice: file.notice,
      pid: file.pid,
      linear: { apiUrl: file.linear.apiUrl, answering: linear },
      jira: { baseUrl: file.jira.baseUrl, answering: jira },
      asana: { baseUrl: file.asana.baseUrl, answering: asana },
      slack: { apiUrl: file.slack.apiUrl, answering: slack },
    };
  });
}
