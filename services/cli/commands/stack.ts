/**
 * `lockstep up | down | status`: the local stack without Docker (deploy/local).
 */
import type { Command } from 'commander';
import { devStack, stackDown, stackUp, testStack, type StackOptions } from '../../../deploy/local/stack.ts';
import { collectStatus, type FullStatus } from '../../../deploy/local/status.ts';

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

function printHuman(s: FullStatus): void {
  const lines = [
    `stack ${s.instance}: ${s.healthy ? 'healthy' : 'NOT healthy'}`,
    `  kafka     ${s.kafka.bootstrap}`,
    `  registry  ${s.registry.url}`,
    `  postgres  ${s.postgres.url}`,
    `  jaeger    ${s.jaeger.url}  (OTLP http ${s.jaeger.otlpHttp}, grpc ${s.jaeger.otlpGrpc})`,
    '',
  ];
  for (const [name, c] of Object.entries(s.components)) {
    lines.push(
      `  ${name.padEnd(9)} ${c.healthy ? 'ok' : (c.detail ?? 'unhealthy')}${c.pid ? ` (pid ${c.pid})` : ''}  log ${c.log}`,
    );
  }
  lines.push(...serviceLines(s.services));
  lines.push('', `  state ${s.stateDir}`, `  cache ${s.cacheDir}`);
  console.log(lines.join('\n'));
}

interface ServiceLine {
  healthy?: boolean;
  pid?: number | null;
  state?: string | null;
  restarts?: number;
  crashLoop?: boolean;
  lastExit?: { code: number | null; signal: string | null; atMs: number } | null;
  nextStartAtMs?: number | null;
}

/** The pipeline services (the `services` status section of start.ts), with their restarts. */
function serviceLines(section: unknown): string[] {
  if (typeof section !== 'object' || section === null || !('running' in section) || !section.running)
    return [];
  const lines = ['', '  services'];
  for (const [name, v] of Object.entries(section as Record<string, ServiceLine>)) {
    if (typeof v !== 'object' || v === null) continue;
    const what = v.crashLoop
      ? 'CrashLoopBackOff'
      : v.state === 'backoff'
        ? 'restarting'
        : v.healthy
          ? 'ok'
          : 'NOT ready';
    const exit = v.lastExit
      ? `, last exit ${v.lastExit.signal ?? `code ${v.lastExit.code}`} ${new Date(v.lastExit.atMs).toISOString()}`
      : '';
    const next =
      v.state === 'backoff' && v.nextStartAtMs
        ? `, next start in ${Math.max(0, Math.round((v.nextStartAtMs - Date.now()) / 1000))}s`
        : '';
    lines.push(
      `  ${name.padEnd(16)} ${what}${v.pid ? ` (pid ${v.pid})` : ''}  restarts ${v.restarts ?? 0}${exit}${next}`,
    );
  }
  return lines;
}

const TEST_FLAG = [
  '--test',
  'act on the test stack (the one `npm test` starts) instead of the dev stack',
] as const;

function pick(opts: { test?: boolean }, log?: (line: string) => void): StackOptions {
  return opts.test ? testStack(log) : devStack(log);
}

export function register(program: Command): void {
  program
    .command('up')
    .description('start the local stack (Kafka, Apicurio Registry, PostgreSQL, Jaeger) without Docker')
    .option(...TEST_FLAG)
    .option('--json', 'progress on stderr; the resulting status (as `status --json`) on stdout')
    .action(async (opts: { test?: boolean; json?: boolean }) => {
      const o = pick(opts, progress);
      progress(`lockstep up: cache ${o.cacheDir}, state ${o.stateDir}`);
      const t0 = Date.now();
      await stackUp(o);
      progress(`lockstep up: stack ${o.instance} healthy in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      const s = await collectStatus(o);
      if (opts.json) console.log(JSON.stringify(s, null, 2));
      else printHuman(s);
    });

  program
    .command('down')
    .description('stop the pipeline services, the sandbox and the local stack; data stays in the state dir')
    .option(...TEST_FLAG)
    .option('--json', 'print {"stopped": [...]} ')
    .action(async (opts: { test?: boolean; json?: boolean }) => {
      const o = pick(opts, progress);
      // Services first (they hold Kafka and Postgres connections), then the stack under them.
      const services = opts.test ? [] : await (await import('./start.ts')).stopAll();
      const stopped = [...services, ...(await stackDown(o))];
      if (opts.json) console.log(JSON.stringify({ stopped }));
      else console.log(stopped.length ? `stopped: ${stopped.join(', ')}` : 'nothing was running');
    });

  program
    .command('status')
    .description('show the local stack: endpoints and health of each component')
    .option('--json', 'print JSON')
    .option(...TEST_FLAG)
    .action(async (opts: { json?: boolean; test?: boolean }) => {
      const s = await collectStatus(pick(opts));
      if (opts.json) console.log(JSON.stringify(s, null, 2));
      else printHuman(s);
      if (!s.healthy) process.exitCode = 1;
    });
}
