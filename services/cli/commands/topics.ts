/**
 * `lockstep topics list | ensure | tail`: look at Lockstep's topics, decoded from Avro.
 */
import { lockstepTopicSpecs } from '../../app/topics.ts';
import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../core/config/index.ts';
import { cliLogger } from '../logger.ts';
import {
  createConsumer,
  createKafka,
  createRegistry,
  createSerde,
  describeTopics,
  ensureTopics,
  schemaForTopic,
  topicOffsets,
} from '../../core/kafka/index.ts';

/** JSON line for a record: Avro `bytes`/`fixed` values (Buffers) as base64. */
export function toJsonLine(record: unknown): string {
  return JSON.stringify(record, function (this: Record<string, unknown>, key, value: unknown) {
    const original = this[key]; // before Buffer#toJSON turned it into {type:'Buffer',data}
    return Buffer.isBuffer(original) ? original.toString('base64') : value;
  });
}

function setup(configFile: string | undefined) {
  const config = loadConfig(configFile);
  // Logs go to stderr so stdout stays pure JSON lines.
  const logger = cliLogger(config);
  const kafka = createKafka(config.kafka, logger);
  return { config, logger, kafka };
}

export function register(program: Command): void {
  const topics = program.command('topics').description("Lockstep's Kafka topics");

  topics
    .command('list')
    .description('list topics with partitions, record counts and the Avro contract they carry')
    .option('-c, --config <file>', 'lockstep.yaml')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const { config, kafka } = setup(opts.config);
      for (const t of await describeTopics(kafka)) {
        const schema = schemaForTopic(config.kafka.topics, t.name) ?? '-';
        console.log(
          opts.json
            ? JSON.stringify({ ...t, schema })
            : `${t.name.padEnd(40)} partitions=${t.partitions} messages=${t.messages} schema=${schema}`,
        );
      }
    });

  topics
    .command('ensure')
    .description('create the missing topics with the configured partitions and retention')
    .option('-c, --config <file>', 'lockstep.yaml')
    .option('--json', 'print {"created": [...], "existing": [...], "warnings": [...]}')
    .action(async (opts: { config?: string; json?: boolean }) => {
      const { kafka } = setup(opts.config);
      const r = await ensureTopics(kafka, lockstepTopicSpecs(kafka.config));
      if (opts.json) {
        console.log(JSON.stringify({ created: r.created, existing: r.existing, warnings: r.warnings }));
        return;
      }
      for (const t of r.created) console.log(`created ${t}`);
      for (const t of r.existing) console.log(`exists  ${t}`);
      for (const w of r.warnings) console.error(`warning: ${w}`);
    });

  topics
    .command('tail <topic>')
    .description('print records as JSON lines (Avro decoded; bytes as base64)')
    .option('-c, --config <file>', 'lockstep.yaml')
    .option('--from-beginning', 'start at the earliest retained record instead of new records only')
    .option('--exit-at-end', 'stop once the records present at start have been printed')
    .option('--max <n>', 'stop after n records', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--max must be a positive integer, got ${v}`);
      return n;
    })
    .action(
      async (
        topic: string,
        opts: { config?: string; fromBeginning?: boolean; exitAtEnd?: boolean; max?: number },
      ) => {
        const { config, kafka } = setup(opts.config);
        const serde = createSerde(createRegistry(config.registry.url), config.kafka.topics);

        // End = the last offset per partition at start; partitions with nothing to read are done.
        // Without --from-beginning the consumer starts after those records, so there is nothing to wait for.
        const pending = new Map<number, bigint>();
        if (opts.exitAtEnd && opts.fromBeginning) {
          for (const o of await topicOffsets(kafka, topic))
            if (BigInt(o.high) > BigInt(o.low)) pending.set(o.partition, BigInt(o.high) - 1n);
        }
        if (opts.exitAtEnd && pending.size === 0) return;

        let count = 0;
        let finish!: () => void;
        const finished = new Promise<void>((r) => (finish = r));
        const consumer = createConsumer<unknown>(kafka, serde, {
          groupId: `lockstep-tail-${randomUUID()}`,
          topics: [topic],
          fromBeginning: opts.fromBeginning ?? false,
          async eachMessage(r) {
            if (opts.max !== undefined && count >= opts.max) return;
            count++;
            process.stdout.write(
              `${toJsonLine({ topic: r.topic, partition: r.partition, offset: r.offset, timestamp: r.timestamp, key: r.key, headers: r.headers, value: r.value })}\n`,
            );
            const last = pending.get(r.partition);
            if (last !== undefined && BigInt(r.offset) >= last) pending.delete(r.partition);
            if ((opts.exitAtEnd && pending.size === 0) || (opts.max !== undefined && count >= opts.max))
              finish();
          },
        });
        consumer.onCrash((err) => {
          process.stderr.write(`tailing ${topic}: ${err instanceof Error ? err.message : String(err)}\n`);
          process.exitCode = 1;
          finish();
        });
        process.once('SIGINT', finish);
        await consumer.start();
        await finished;
        await consumer.stop();
      },
    );
}
