/**
 * `lockstep replay --from-beginning`: the reconciler reads lockstep.changes.v1 again from the
 * earliest retained record. It moves the reconciler's consumer group offsets on the changes topic
 * (outcomes are left where they are); eventId dedupe and base comparison make the replayed events
 * change nothing that was already applied. Kafka only moves the offsets of a group without
 * members, so stop the reconciler first and start it again afterwards.
 */
import { SECRET_HEADERS } from '../../connectors/registry.ts';
import type { Command } from 'commander';
import pino from 'pino';
import { loadAppConfig } from '../../app/config.ts';
import { createLogger } from '../../core/logging/index.ts';
import { createKafka, resetGroupOffsets, topicOffsets } from '../../core/kafka/index.ts';

export function register(program: Command): void {
  program
    .command('replay')
    .description(
      "re-read the changes topic from the earliest retained record (moves the reconciler's consumer group; stop the reconciler first)",
    )
    .option('-c, --config <file>', 'lockstep.yaml')
    .option('--from-beginning', 'start from the earliest retained record of the changes topic')
    .option(
      '--wait <seconds>',
      'wait this long for the reconciler group to have no members (a killed reconciler leaves when its session times out)',
      (v) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0) throw new Error(`--wait must be a number of seconds ≥ 0, got ${v}`);
        return n;
      },
      0,
    )
    .action(async (opts: { config?: string; fromBeginning?: boolean; wait: number }) => {
      if (!opts.fromBeginning) {
        // The only starting point there is so far; say so rather than guess one.
        throw new Error('replay: give the starting point: --from-beginning (the only one supported)');
      }
      const config = loadAppConfig(opts.config);
      const logger = createLogger({
        level: config.logLevel === 'info' ? 'warn' : config.logLevel,
        secretHeaders: SECRET_HEADERS,
        destination: pino.destination(2),
      });
      const kafka = createKafka(config.kafka, logger);
      const groupId = `${config.kafka.clientId}-reconciler`;
      const topic = config.kafka.topics.changes;
      const resets = await resetGroupOffsets(kafka, { groupId, topic, waitEmptyMs: opts.wait * 1000 });
      const high = new Map((await topicOffsets(kafka, topic)).map((o) => [o.partition, BigInt(o.high)]));
      let total = 0n;
      for (const r of resets) {
        const n = (high.get(r.partition) ?? 0n) - BigInt(r.to);
        total += n;
        console.log(
          `${topic} partition ${r.partition}: ${r.from ?? 'nothing committed'} → ${r.to} (${n} records to replay)`,
        );
      }
      console.log(
        `consumer group ${groupId} will replay ${total} records of ${topic} when the reconciler starts`,
      );
    });
}
