/**
 * What every Lockstep process starts with: config, logger, Kafka (producer + serde through the
 * registry), Postgres, the HTTP surface (/healthz, /readyz, /metrics), and a clean shutdown.
 */
import { SECRET_HEADERS } from '../connectors/registry.ts';
import { Counter, type Registry } from 'prom-client';
import { createPool, type Pool } from '../core/db/index.ts';
import {
  createHttpServer,
  onTerminate,
  shutdownGracefully,
  type HttpServer,
  type ShutdownStep,
} from '../core/http/index.ts';
import {
  createKafka,
  createProducer,
  createRegistry,
  createSerde,
  type AvroSerde,
  type DecodeRetry,
  type KafkaHandle,
  type LockstepProducer,
} from '../core/kafka/index.ts';
import { ERROR_CATEGORIES, LockstepError } from '../core/errors/index.ts';
import { createLogger, type Logger } from '../core/logging/index.ts';
import type { DeadLetter, ErrorInfo } from '../../schemas/generated/types.ts';
import { loadAppConfig, type AppConfig } from './config.ts';

export interface Runtime {
  config: AppConfig;
  logger: Logger;
  kafka: KafkaHandle;
  serde: AvroSerde;
  producer: LockstepProducer;
  pool: Pool;
  http: HttpServer;
  metrics: Registry;
  deadLetters: Counter<'stage' | 'category'>;
  /** Publishes a DeadLetter for something a stage could not process, with its original bytes. */
  deadLetter(d: Pick<DeadLetter, 'stage' | 'topic' | 'error'> & Partial<DeadLetter>): Promise<void>;
  /** Steps run on SIGTERM/SIGINT in order, before the runtime's own resources close. */
  onShutdown(step: ShutdownStep): void;
  /**
   * A consumer's `onDecodeRetry`: a record that could not be decoded because the registry failed
   * (not a poison record) is logged and counted in `lockstep_decode_retries_total{topic}` while the
   * consumer waits on it, so a stalled consumer shows why.
   */
  onDecodeRetry(info: DecodeRetry): void;
  /**
   * A consumer's `onCrash`: logged; when kafkajs will not start the consumer again (an error it
   * deems non-retriable) the process exits 1, so its supervisor (or Kubernetes) restarts it and a
   * crash loop shows — instead of a process that stays up, ready, and consumes nothing.
   */
  onConsumerCrash(consumer: string, err: unknown, restart: boolean): void;
}

export interface RuntimeOptions {
  /**
   * Start without Kafka: the producer connects on first use, and again on the next use after a
   * failed connect. For ingest, whose webhooks answer 503 (the platform retries) while the
   * brokers are unreachable, instead of a process that cannot start during a broker outage.
   */
  lazyProducer?: boolean;
}

/** Connects `p` when first used; a failed connect is tried again by the next call. */
function connectOnUse(p: LockstepProducer): LockstepProducer {
  let connecting: Promise<void> | null = null;
  const connected = () =>
    (connecting ??= p.connect().catch((err: unknown) => {
      connecting = null;
      throw new LockstepError('connecting the Kafka producer', { category: 'network', cause: err });
    }));
  return {
    connect: connected,
    async produce(topic, key, value, headers) {
      await connected();
      return p.produce(topic, key, value, headers);
    },
    async produceRaw(topic, key, value, headers) {
      await connected();
      return p.produceRaw(topic, key, value, headers);
    },
    disconnect: async () => {
      if (connecting) await connecting.catch(() => undefined);
      await p.disconnect();
    },
  };
}

/** `httpPort` picks this process's port from the config (each service has its own). */
export async function startRuntime(
  service: string,
  httpPort: (c: AppConfig) => number,
  opts: RuntimeOptions = {},
): Promise<Runtime> {
  const config = loadAppConfig();
  const logger = createLogger({ level: config.logLevel, name: service, secretHeaders: SECRET_HEADERS });
  const http = createHttpServer({ host: config.http.host, port: httpPort(config), logger });
  const metrics = http.metrics;
  metrics.setDefaultLabels({ service });
  const kafka = createKafka(config.kafka, logger);
  const serde = createSerde(createRegistry(config.registry.url), config.kafka.topics);
  const producer = opts.lazyProducer
    ? connectOnUse(createProducer(kafka, serde))
    : createProducer(kafka, serde);
  if (!opts.lazyProducer) await producer.connect();
  const pool = createPool(config.postgres.url, { applicationName: `lockstep-${service}`, logger });
  const deadLetters = new Counter({
    name: 'lockstep_dead_letters_total',
    help: 'Messages sent to the dead-letter topic, by stage and error category',
    labelNames: ['stage', 'category'],
    registers: [metrics],
  });
  for (const category of ERROR_CATEGORIES) deadLetters.inc({ stage: service, category }, 0); // alerts see the first one
  http.addReadinessCheck('postgres', async () => void (await pool.query('select 1')));
  const decodeRetries = new Counter({
    name: 'lockstep_decode_retries_total',
    help: 'Records whose decoding failed because the schema registry did (not poison), by topic; each is retried, never skipped',
    labelNames: ['topic'] as const,
    registers: [metrics],
  });

  const steps: ShutdownStep[] = [];
  const rt: Runtime = {
    config,
    logger,
    kafka,
    serde,
    producer,
    pool,
    http,
    metrics,
    deadLetters,
    async deadLetter(d) {
      const now = Date.now();
      const value: DeadLetter = {
        id: d.id ?? crypto.randomUUID(),
        stage: d.stage,
        topic: d.topic,
        partition: d.partition ?? null,
        offset: d.offset ?? null,
        key: d.key ?? null,
        value: d.value ?? null,
        headers: d.headers ?? {},
        error: d.error,
        attempts: d.attempts ?? 1,
        firstFailedAtMs: d.firstFailedAtMs ?? now,
        tsMs: now,
      };
      deadLetters.inc({ stage: d.stage, category: d.error.category });
      await producer.produce(config.kafka.topics.dlq, d.key?.toString('utf8') ?? value.id, value);
    },
    onShutdown: (step) => void steps.push(step),
    onConsumerCrash(consumer, err, restart) {
      if (restart) {
        logger.error({ consumer, err: String(err) }, 'consumer crashed; kafkajs restarts it');
        return;
      }
      logger.fatal(
        { consumer, err: String(err) },
        'consumer stopped for good; exiting so the process is restarted',
      );
      process.exit(1);
    },
    onDecodeRetry(info) {
      decodeRetries.inc({ topic: info.topic });
      logger.warn(
        {
          topic: info.topic,
          partition: info.partition,
          offset: info.offset,
          attempt: info.attempt,
          retryInMs: info.delayMs,
          err: info.error,
        },
        'record not decoded (schema registry failing); waiting on it, nothing is skipped',
      );
    },
  };

  onTerminate(() => {
    http.setDraining();
    return shutdownGracefully(
      [
        ...steps,
        { name: 'http', run: () => http.close() },
        { name: 'producer', run: () => producer.disconnect() },
        { name: 'postgres', run: () => pool.end() },
      ],
      { logger, timeoutMs: 30_000 },
    );
  });
  return rt;
}

export function errorInfo(category: ErrorInfo['category'], message: string, retriable = false): ErrorInfo {
  return { category, message, retriable };
}
