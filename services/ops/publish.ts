/**
 * Hands change events an operator command made (verify's repairs, backfill's unmatched records) to
 * the live pipeline: each is produced on the changes topic, keyed as ingest keys it, with a
 * `lockstep-origin` header naming the command, in the order given. Awaited one by one: each is
 * acknowledged by Kafka before the next is sent, so a failure leaves a clean prefix published
 * (every event id is deterministic, so a second run repeats nothing the reconciler has seen).
 *
 * With no producer given, one is made from the configuration for this call (a CLI process) and
 * logs at warn to stderr; a long-running service passes its own, which it keeps connected.
 */
import pino from 'pino';
import type { ChangeEvent } from '../../schemas/generated/types.ts';
import type { AppConfig } from '../app/config.ts';
import { SECRET_HEADERS } from '../connectors/registry.ts';
import {
  createKafka,
  createProducer,
  createRegistry,
  createSerde,
  type LockstepProducer,
} from '../core/kafka/index.ts';
import { createLogger } from '../core/logging/index.ts';
import { changeKey } from '../ingest/webhooks.ts';

export type ChangeOrigin = 'verify' | 'backfill';

export async function publishChangeEvents(
  config: Pick<AppConfig, 'kafka' | 'registry' | 'logLevel'>,
  events: readonly ChangeEvent[],
  origin: ChangeOrigin,
  opts: { producer?: LockstepProducer; onPublished?: (event: ChangeEvent) => void } = {},
): Promise<number> {
  if (events.length === 0) return 0;
  let producer = opts.producer;
  const own = producer === undefined;
  if (producer === undefined) {
    const logger = createLogger({
      level: config.logLevel === 'info' ? 'warn' : config.logLevel,
      secretHeaders: SECRET_HEADERS,
      destination: pino.destination(2),
    });
    producer = createProducer(
      createKafka(config.kafka, logger),
      createSerde(createRegistry(config.registry.url), config.kafka.topics),
    );
    await producer.connect();
  }
  let published = 0;
  try {
    for (const event of events) {
      await producer.produce(config.kafka.topics.changes, changeKey(event), event, {
        'lockstep-origin': origin,
      });
      published++;
      opts.onPublished?.(event);
    }
  } finally {
    if (own) await producer.disconnect();
  }
  return published;
}
