/**
 * Apache Kafka 4.x, one KRaft node (broker + controller), from the Maven Central jars: Maven
 * resolves `org.apache.kafka:kafka_2.13` and its runtime dependencies plus a log4j2 backend into
 * the cache, and the broker runs as `java -cp <those jars> kafka.Kafka server.properties`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { isAlive, readPid, run, startDaemon, stopPidFile, waitUntil } from './process.ts';
import type { Component, StackOptions } from './types.ts';

/**
 * A new cluster id: 16 random bytes, base64url without padding (Kafka's Uuid format), never
 * starting with '-' — `kafka-storage format -t -Zz…` reads such an id as an option and fails
 * ("argument --cluster-id/-t: expected one argument"; seen in a CI run, 1 start in 64). Kafka's
 * own Uuid.randomUuid() skips those ids for the same reason.
 */
export function kafkaClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

// Kafka 4 logs through slf4j 1.7 (its pom's slf4j-api); the binding is log4j2's slf4j-impl.

const LOG4J_VERSION = '2.24.3';
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';
const START_WAIT_MS = 300_000;

function libDir(o: StackOptions): string {
  return join(o.cacheDir, 'kafka', o.env.versions.kafka, 'lib');
}
function dir(o: StackOptions): string {
  return join(o.stateDir, 'kafka');
}
function logFile(o: StackOptions): string {
  return join(o.stateDir, 'logs', 'kafka.log');
}
function pidFile(o: StackOptions): string {
  return join(dir(o), 'kafka.pid');
}

function pom(version: string): string {
  const dep = (g: string, a: string, v: string) =>
    `    <dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>lockstep.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
${dep('org.apache.kafka', 'kafka_2.13', version)}
${dep('org.apache.logging.log4j', 'log4j-core', LOG4J_VERSION)}
${dep('org.apache.logging.log4j', 'log4j-slf4j-impl', LOG4J_VERSION)}
  </dependencies>
</project>
`;
}

function classpath(o: StackOptions): string {
  const lib = libDir(o);
  return readdirSync(lib)
    .filter((f) => f.endsWith('.jar'))
    .sort()
    .map((f) => join(lib, f))
    .join(':');
}

function serverProperties(o: StackOptions): string {
  const { kafka, kafkaController } = o.ports;
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${kafkaController}`,
    `listeners=PLAINTEXT://127.0.0.1:${kafka},CONTROLLER://127.0.0.1:${kafkaController}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${kafka}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${join(dir(o), 'data')}`,
    'num.partitions=1',
    // One node: every internal topic has one replica.
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    // Tests create and join many groups; do not wait 3 s for more members.
    'group.initial.rebalance.delay.ms=0',
    '',
  ].join('\n');
}

const LOG4J2 = `status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = warn
logger.kafka.request.name = kafka.request.logger
logger.kafka.request.level = warn
logger.controller.name = kafka.controller
logger.controller.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = info
logger.clients.name = org.apache.kafka
logger.clients.level = warn
`;

async function install(o: StackOptions): Promise<void> {
  const lib = libDir(o);
  const done = join(lib, '.complete');
  if (existsSync(done)) return;
  const work = join(o.cacheDir, 'kafka', o.env.versions.kafka);
  mkdirSync(work, { recursive: true });
  mkdirSync(join(o.stateDir, 'logs'), { recursive: true });
  writeFileSync(join(work, 'pom.xml'), pom(o.env.versions.kafka));
  o.log(
    `kafka: resolving org.apache.kafka:kafka_2.13:${o.env.versions.kafka} and its runtime jars with Maven (first time only)…`,
  );
  await run(
    o.env.mvn,
    [
      '-B',
      '-q',
      `-Dmaven.repo.local=${join(o.cacheDir, 'm2')}`,
      `${DEPENDENCY_PLUGIN}:copy-dependencies`,
      '-DincludeScope=runtime',
      `-DoutputDirectory=${lib}`,
    ],
    { component: 'kafka', logFile: logFile(o), cwd: work },
  );
  writeFileSync(done, `${new Date().toISOString()}\n`);
}

async function healthy(o: StackOptions): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'lockstep-stack-health',
    brokers: [`127.0.0.1:${o.ports.kafka}`],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function start(o: StackOptions): Promise<void> {
  const running = readPid(pidFile(o));
  const log = logFile(o);
  if (running !== undefined && isAlive(running)) {
    await waitUntil(() => healthy(o), {
      component: 'kafka',
      logFile: log,
      timeoutMs: START_WAIT_MS,
      pid: running,
    });
    return;
  }
  mkdirSync(join(dir(o), 'data'), { recursive: true });
  const props = join(dir(o), 'server.properties');
  writeFileSync(props, serverProperties(o));
  const log4j = join(dir(o), 'log4j2.properties');
  writeFileSync(log4j, LOG4J2);
  const cp = classpath(o);
  const jvm = [`-Dlog4j2.configurationFile=${log4j}`, `-Dkafka.logs.dir=${join(dir(o), 'logs')}`];
  if (!existsSync(join(dir(o), 'data', 'meta.properties'))) {
    await run(
      o.env.java,
      [
        ...jvm,
        '-cp',
        cp,
        'kafka.tools.StorageTool',
        'format',
        '--standalone',
        '-t',
        kafkaClusterId(),
        '-c',
        props,
      ],
      { component: 'kafka', logFile: log },
    );
  }
  const pid = await startDaemon(
    o.env.java,
    [
      '-Xms256m',
      '-Xmx1g',
      '-XX:+UseG1GC',
      '-Djava.awt.headless=true',
      ...jvm,
      '-cp',
      cp,
      'kafka.Kafka',
      props,
    ],
    { component: 'kafka', logFile: log, pidFile: pidFile(o) },
  );
  // Generous: after an unclean stop the broker first recovers every partition log the tests left
  // (minutes on a loaded 2-core machine); the wait ends early if the JVM exits.
  await waitUntil(() => healthy(o), { component: 'kafka', logFile: log, timeoutMs: START_WAIT_MS, pid });
}

export const kafkaComponent: Component = {
  name: 'kafka',
  install,
  start,
  healthy,
  // A broker killed before its controlled shutdown ends must recover its logs on the next start;
  // give the clean shutdown time to finish under load.
  stop: (o) => stopPidFile(pidFile(o), 120_000),
  pid: (o) => readPid(pidFile(o)),
  logFile,
};
