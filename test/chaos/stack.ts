/**
 * A private stack for one chaos scenario: Kafka, Apicurio Registry and PostgreSQL of its own (own
 * state dir under the temp dir, own ports taken by binding port 0), so SIGKILL/SIGSTOP of the
 * broker, the registry or Postgres never touches the shared test stack other test files use at the
 * same time. Registry and Postgres are the local stack's components on a private StackOptions; Kafka
 * is started here from the same cached jars because it needs a second listener: the services reach
 * it through Toxiproxy, so that listener must advertise the proxy's port (a client connects to the
 * advertised address after bootstrap; advertising the broker's own port would bypass the proxy).
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { localStackEnv } from '../../deploy/local/config.ts';
import { kafkaClusterId, kafkaComponent } from '../../deploy/local/kafka.ts';
import { postgresComponent, postgresUrl } from '../../deploy/local/postgres.ts';
import {
  isAlive,
  readPid,
  run,
  startDaemon,
  stopPidFile,
  stopProcess,
  waitUntil,
} from '../../deploy/local/process.ts';
import { registryComponent, registryUrl } from '../../deploy/local/registry.ts';
import type { StackOptions } from '../../deploy/local/types.ts';
import { freePort } from '../support/ports.ts';

export type InfraName = 'kafka' | 'registry' | 'postgres';

export interface PrivateStack {
  o: StackOptions;
  /** The components that are private (the rest are the shared test stack's). */
  only: readonly InfraName[];
  /** The broker's own listener (what the test itself uses to inspect topics). */
  kafkaDirect: string;
  /** The listener the services' proxy forwards to; it advertises `kafkaAdvertised`. */
  kafkaExternal: string;
  postgresUrl(database?: string): string;
  registryUrl: string;
  pid(name: InfraName): number | undefined;
  /** Sends a signal to the component's main process (SIGKILL, SIGSTOP, SIGCONT). */
  signal(name: InfraName, sig: NodeJS.Signals): void;
  /** Starts a component that is down (after a SIGKILL or stop), with its state kept. */
  start(name: InfraName): Promise<void>;
  /** A clean stop (Postgres: fast shutdown, as a failover or restart does). */
  stop(name: InfraName): Promise<void>;
  down(): Promise<void>;
}

function kafkaDir(o: StackOptions): string {
  return join(o.stateDir, 'kafka');
}
function kafkaLog(o: StackOptions): string {
  return join(o.stateDir, 'logs', 'kafka.log');
}
function kafkaPidFile(o: StackOptions): string {
  return join(kafkaDir(o), 'kafka.pid');
}

function kafkaProperties(o: StackOptions, external: number, advertised: number): string {
  const { kafka, kafkaController } = o.ports;
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${kafkaController}`,
    `listeners=PLAINTEXT://127.0.0.1:${kafka},EXTERNAL://127.0.0.1:${external},CONTROLLER://127.0.0.1:${kafkaController}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${kafka},EXTERNAL://127.0.0.1:${advertised}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${join(kafkaDir(o), 'data')}`,
    'num.partitions=1',
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n');
}

/**
 * The private broker logs to its stack's kafka.log (without a log4j2 config it logs nothing): the
 * log manager's lines say how long loading and recovering the logs took after an unclean kill.
 */
const KAFKA_LOG4J2 = `status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = info
logger.broker.name = kafka.server.BrokerServer
logger.broker.level = info
logger.logmanager.name = kafka.log.LogManager
logger.logmanager.level = info
logger.storage.name = org.apache.kafka.storage.internals.log
logger.storage.level = info
`;

/** Bound on a restart after an unclean kill: JVM start plus log recovery (measurements: README). */
export const KAFKA_RECOVERY_BOUND_MS = 240_000;

async function kafkaHealthy(bootstrap: string): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'lockstep-chaos-health',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    return (await admin.describeCluster()).brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function startKafka(
  o: StackOptions,
  external: number,
  advertised: number,
  timeoutMs: number,
): Promise<void> {
  const dir = kafkaDir(o);
  mkdirSync(join(dir, 'data'), { recursive: true });
  const props = join(dir, 'server.properties');
  writeFileSync(props, kafkaProperties(o, external, advertised));
  const log4j = join(dir, 'log4j2.properties');
  writeFileSync(log4j, KAFKA_LOG4J2);
  const lib = join(o.cacheDir, 'kafka', o.env.versions.kafka, 'lib');
  const cp = readdirSync(lib)
    .filter((f) => f.endsWith('.jar'))
    .sort()
    .map((f) => join(lib, f))
    .join(':');
  const log = kafkaLog(o);
  if (!existsSync(join(dir, 'data', 'meta.properties'))) {
    await run(
      o.env.java,
      ['-cp', cp, 'kafka.tools.StorageTool', 'format', '--standalone', '-t', kafkaClusterId(), '-c', props],
      { component: 'kafka', logFile: log },
    );
  }
  const pid = await startDaemon(
    o.env.java,
    [
      '-Xms128m',
      '-Xmx512m',
      '-XX:+UseG1GC',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${log4j}`,
      '-cp',
      cp,
      'kafka.Kafka',
      props,
    ],
    { component: 'kafka', logFile: log, pidFile: kafkaPidFile(o) },
  );
  await waitUntil(() => kafkaHealthy(`127.0.0.1:${o.ports.kafka}`), {
    component: 'kafka',
    logFile: log,
    timeoutMs,
    pid,
  });
}

/**
 * Starts the private parts of a scenario's stack (`only`: the components its faults hit; the
 * others are the shared test stack's). `proxyFor` gets the port of the broker's second listener and
 * returns the Toxiproxy port the services use for it (what that listener advertises).
 */
export async function startPrivateStack(
  stateDir: string,
  only: readonly InfraName[],
  proxyFor: (externalKafkaPort: number) => Promise<number>,
  log: (line: string) => void = () => undefined,
): Promise<PrivateStack> {
  const env = localStackEnv();
  const ports = {
    kafka: await freePort(),
    kafkaController: await freePort(),
    registry: await freePort(),
    registryManagement: await freePort(),
    postgres: await freePort(),
    jaegerQuery: 0,
    jaegerQueryGrpc: 0,
    otlpGrpc: 0,
    otlpHttp: 0,
  };
  const o: StackOptions = {
    instance: 'chaos',
    stateDir,
    cacheDir: env.cacheDir,
    ports,
    env,
    log,
  };
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  // Postgres runs as the `postgres` user when we are root: it must be able to reach its dir.
  chmodSync(stateDir, 0o755);
  const external = await freePort();
  const advertised = only.includes('kafka') ? await proxyFor(external) : 0;
  const starts = {
    kafka: async () => {
      await kafkaComponent.install(o);
      // A broker killed without a clean shutdown (no clean-shutdown marker in its log dir)
      // recovers its logs before it answers: its restart's bound covers that recovery as well as
      // the JVM start (the first start's 120 s).
      const data = join(kafkaDir(o), 'data');
      const unclean =
        existsSync(join(data, 'meta.properties')) && !existsSync(join(data, '.kafka_cleanshutdown'));
      if (!unclean) return startKafka(o, external, advertised, 120_000);
      try {
        await startKafka(o, external, advertised, KAFKA_RECOVERY_BOUND_MS);
      } catch (err) {
        throw new Error(
          `restarting the killed broker on its data (JVM start plus log recovery): not healthy within ${KAFKA_RECOVERY_BOUND_MS / 1000} s: ${String(err)}`,
        );
      }
    },
    registry: async () => {
      await registryComponent.install(o);
      await registryComponent.start(o);
    },
    postgres: async () => {
      await postgresComponent.install(o);
      await postgresComponent.start(o);
    },
  };
  const pid = (name: InfraName): number | undefined =>
    name === 'kafka'
      ? readPid(kafkaPidFile(o))
      : name === 'registry'
        ? registryComponent.pid(o)
        : postgresComponent.pid(o);
  const mine = (name: InfraName, what: string) => {
    if (!only.includes(name))
      throw new Error(
        `${what} ${name}: this scenario uses the shared test stack's ${name}, not a private one`,
      );
  };
  const stack: PrivateStack = {
    o,
    only,
    kafkaDirect: `127.0.0.1:${ports.kafka}`,
    kafkaExternal: `127.0.0.1:${external}`,
    postgresUrl: (database) => postgresUrl(o, database),
    registryUrl: registryUrl(o),
    pid,
    signal(name, sig) {
      mine(name, `signalling ${sig} to`);
      const p = pid(name);
      if (p === undefined || !isAlive(p)) throw new Error(`signalling ${name} with ${sig}: not running`);
      process.kill(p, sig);
    },
    async start(name) {
      mine(name, 'starting');
      await starts[name]();
    },
    async stop(name) {
      mine(name, 'stopping');
      if (name === 'postgres') await postgresComponent.stop(o);
      else if (name === 'registry') await registryComponent.stop(o);
      else await stopPidFile(kafkaPidFile(o), 30_000);
    },
    async down() {
      for (const name of only) {
        const p = pid(name);
        // A stopped (SIGSTOP) process cannot handle SIGTERM: continue it first.
        if (p !== undefined && isAlive(p)) process.kill(p, 'SIGCONT');
      }
      // The private stack is thrown away: the JVMs are killed, not shut down cleanly (minutes on
      // a loaded machine); Postgres gets its fast shutdown (seconds).
      for (const name of ['kafka', 'registry'] as const) {
        const p = only.includes(name) ? pid(name) : undefined;
        if (p !== undefined && isAlive(p)) await stopProcess(p, 0);
      }
      await Promise.allSettled([
        only.includes('kafka') ? stopPidFile(kafkaPidFile(o), 1000) : undefined,
        only.includes('registry') ? registryComponent.stop(o) : undefined,
        only.includes('postgres')
          ? postgresComponent.stop(o).then(async () => {
              const p = pid('postgres');
              if (p !== undefined) await stopProcess(p, 5000, false);
            })
          : undefined,
      ]);
    },
  };
  try {
    await Promise.all(only.map((name) => starts[name]()));
  } catch (err) {
    await stack.down();
    throw err;
  }
  return stack;
}
