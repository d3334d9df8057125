/**
 * `lockstep demo [--json]`: the product in one minute without accounts. On the running sandbox
 * (`npm start` with no platform configured) it acts as a person on one emulated platform —
 * creates an issue, edits a field, comments — and shows each step arriving on the other, with
 * the time it took and the trace id of the write (from the `traceparent` header of egress's
 * WriteOutcome on the outcomes topic; the whole trace is in Jaeger under that id).
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

export interface DemoStepResult {
  step: string;
  did: string;
  arrived: string;
  seconds: number;
  traceId: string | null;
  outcome: { commandId: string; status: string; targetKey: string | null } | null;
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
  out(`Lockstep demo on the SANDBOX (emulated platforms): acting in ${script.from}, watching ${script.to}.`);
  const results: DemoStepResult[] = [];
  let linkId: string | undefined;
  try {
    for (const step of script.steps) {
      out(`- ${step.says}…`);
      const t0 = Date.now();
      await step.act();
      const deadline = t0 + opts.timeout * 1000;
      let match: ConsumedRecord<WriteOutcome> | undefined;
      let arrived = false;
      while (Date.now() < deadline) {
        match ??= outcomes.find(
          (r) =>
            r.value.platform === step.expect.platform &&
            r.value.entityType === step.expect.entityType &&
            r.value.action === step.expect.action &&
            (step.expect.entityType === 'comment' || linkId === undefined || r.value.linkId === linkId) &&
            Number(r.timestamp) >= t0 - 1000,
        );
        arrived = match !== undefined && match.value.status !== 'failed' && (await step.arrived());
        if (arrived || match?.value.status === 'failed') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const seconds = (Date.now() - t0) / 1000;
      if (!arrived) {
        const why =
          match?.value.status === 'failed'
            ? `the write failed: ${match.value.error?.message ?? '?'}`
            : `not within ${opts.timeout}s`;
        throw new Error(
          `running the demo: "${step.says}" did not arrive in ${script.to} (${why}); \`npx lockstep status\` and the service logs under .lockstep/dev/pipeline/logs say more`,
        );
      }
      if (step.name === 'create') linkId = match?.value.linkId;
      const r: DemoStepResult = {
        step: step.name,
        did: step.says,
        arrived: await step.where(),
        seconds: Number(seconds.toFixed(2)),
        traceId: match ? traceIdOf(match.headers) : null,
        outcome: match
          ? { commandId: match.value.commandId, status: match.value.status, targetKey: match.value.targetKey }
          : null,
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
      'on the running sandbox: act as a person on one emulated platform and show each change arriving on the other, with times and trace ids',
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
