/**
 * `lockstep demo [--json]`: the product in one minute without accounts. On the running sandbox
 * (`npm start` with no platform configured) it acts as people on the emulated platforms —
 * creates an issue, edits a field, comments on one, moves the item on another — and shows each
 * step arriving on the other sides, with the time it took and the trace id of each write (from
 * the `traceparent` header of egress's WriteOutcome on the outcomes topic; the whole trace is in
 * Jaeger under that id).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { isAlive } from '../../../deploy/local/process.ts';
import { loadAppConfig } from '../../app/config.ts';
import { SANDBOX_CREDENTIALS } from '../../app/sandbox-config.ts';
import {
  createConsumer,
  createKafka,
  createRegistry,
  createSerde,
  topicOffsets,
  type ConsumedRecord,
} from '../../core/kafka/index.ts';
import type { WriteOutcome } from '../../../schemas/generated/types.ts';
import type { SandboxEndpoints } from '../../../test/emulators/sandbox.ts';
import { defaultStartOptions } from './start.ts';

export interface DemoOutcome {
  platform: string;
  commandId: string;
  status: string;
  targetKey: string | null;
  traceId: string | null;
}

export interface DemoStepResult {
  step: string;
  did: string;
  arrived: string;
  seconds: number;
  /** The trace of the first write the step caused (each side's write is in `outcomes`). */
  traceId: string | null;
  /** Egress's outcome on each side the step reaches. */
  outcomes: DemoOutcome[];
}

interface Options {
  json?: boolean;
  config?: string;
  sandbox?: string;
  timeout: number;
}

function traceIdOf(headers: Record<string, string>): string | null {
  const parts = headers['traceparent']?.split('-');
  return parts && parts.length === 4 && /^[0-9a-f]{32}$/.test(parts[1] ?? '') ? (parts[1] ?? null) : null;
}

async function runDemo(opts: Options): Promise<void> {
  const defaults = defaultStartOptions();
  const sandboxFile = opts.sandbox ?? defaults.sandboxFile;
  const configFile = opts.config ?? join(defaults.stateDir, 'sandbox.lockstep.yaml');
  const notRunning = 'the sandbox is not running; start it with `npm start` (with no lockstep.yaml)';
  if (!existsSync(sandboxFile) || !existsSync(configFile)) throw new Error(`running the demo: ${notRunning}`);
  const sandbox = JSON.parse(readFileSync(sandboxFile, 'utf8')) as SandboxEndpoints & { pid: number };
  if (!isAlive(sandbox.pid)) throw new Error(`running the demo: ${notRunning}`);
  const config = loadAppConfig(configFile, { ...process.env, ...SANDBOX_CREDENTIALS });
  const out = (line: string) => {
    if (!opts.json) process.stdout.write(`${line}\n`);
  };

  // Outcomes written after this point: the offsets now, then a consumer from the beginning that
  // skips everything below them (a new group's "latest" would be fixed only once it is assigned).
  const kafka = createKafka(config.kafka);
  const topic = config.kafka.topics.outcomes;
  const start = new Map((await topicOffsets(kafka, topic)).map((p) => [p.partition, BigInt(p.high)]));
  const outcomes: ConsumedRecord<WriteOutcome>[] = [];
  const consumer = createConsumer<WriteOutcome>(
    kafka,
    createSerde(createRegistry(config.registry.url), config.kafka.topics),
    {
      groupId: `lockstep-demo-${randomUUID()}`,
      topics: [topic],
      fromBeginning: true,
      async eachMessage(r) {
        if (r.value !== null && BigInt(r.offset) >= (start.get(r.partition) ?? 0n))
          outcomes.push(r as ConsumedRecord<WriteOutcome>);
      },
    },
  );
  await consumer.start();

  const { demoScript } = await import('../../../test/emulators/demo.ts');
  const script = demoScript(sandbox, randomBytes(3).toString('hex'));
  out(`Lockstep demo on the SANDBOX (emulated platforms): ${script.cast}.`);
  const results: DemoStepResult[] = [];
  let linkId: string | undefined;
  try {
    for (const step of script.steps) {
      out(`- ${step.says}…`);
      const t0 = Date.now();
      await step.act();
      const deadline = t0 + opts.timeout * 1000;
      // One outcome per side the step reaches, written after the step began.
      const matches = new Map<string, ConsumedRecord<WriteOutcome>>();
      let failed: ConsumedRecord<WriteOutcome> | undefined;
      let arrived = false;
      while (Date.now() < deadline) {
        for (const x of step.expect) {
          if (matches.has(x.platform)) continue;
          const m = outcomes.find(
            (r) =>
              r.value.platform === x.platform &&
              r.value.entityType === x.entityType &&
              r.value.action === x.action &&
              (x.entityType === 'comment' || linkId === undefined || r.value.linkId === linkId) &&
              Number(r.timestamp) >= t0 - 1000,
          );
          if (m) matches.set(x.platform, m);
        }
        failed = [...matches.values()].find((m) => m.value.status === 'failed');
        arrived = !failed && matches.size === step.expect.length && (await step.arrived());
        if (arrived || failed) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const seconds = (Date.now() - t0) / 1000;
      if (!arrived) {
        const missing = step.expect.filter((x) => !matches.has(x.platform)).map((x) => x.platform);
        const why = failed
          ? `the write on ${failed.value.platform} failed: ${failed.value.error?.message ?? '?'}`
          : `not within ${opts.timeout}s${missing.length > 0 ? `; no write on ${missing.join(', ')}` : ''}`;
        throw new Error(
          `running the demo: "${step.says}" did not arrive in ${step.to} (${why}); \`npx lockstep status\` and the service logs under .lockstep/dev/pipeline/logs say more`,
        );
      }
      const written = step.expect.flatMap((x) => {
        const m = matches.get(x.platform);
        return m ? [m] : [];
      });
      if (step.name === 'create') linkId = written[0]?.value.linkId;
      const r: DemoStepResult = {
        step: step.name,
        did: step.says,
        arrived: await step.where(),
        seconds: Number(seconds.toFixed(2)),
        traceId: written[0] ? traceIdOf(written[0].headers) : null,
        outcomes: written.map((m) => ({
          platform: m.value.platform,
          commandId: m.value.commandId,
          status: m.value.status,
          targetKey: m.value.targetKey,
          traceId: traceIdOf(m.headers),
        })),
      };
      results.push(r);
      out(`  arrived: ${r.arrived} in ${seconds.toFixed(1)}s (trace ${r.traceId ?? 'none'})`);
    }
  } finally {
    await consumer.stop();
  }
  if (opts.json) process.stdout.write(`${JSON.stringify({ sandbox: true, steps: results }, null, 2)}\n`);
  else
    out(
      'Done. Each trace id is one trace in Jaeger: GET <jaeger>/api/traces/<trace id> (`npx lockstep status` shows the Jaeger URL).',
    );
}

export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'on the running sandbox: act as people on the emulated platforms and show each change arriving on the other sides, with times and trace ids',
    )
    .option('--json', 'print the steps as JSON')
    .option('--config <file>', 'the sandbox configuration (default: the one `npm start` generated)')
    .option('--sandbox <file>', 'the sandbox endpoints file (default: .lockstep/sandbox.json)')
    .option(
      '--timeout <seconds>',
      'how long each step may take to arrive',
      (v) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0)
          throw new Error(`parsing --timeout: ${v} is not a positive number`);
        return n;
      },
      60,
    )
    .action(runDemo);
}
