/**
 * docker-compose.yml, checked as far as this machine can: the infrastructure images cannot be
 * pulled here, so it is never brought up. It is loaded by podman-compose's own parser
 * (compose-parse.py: Debian 12's podman-compose 1.0.3 has no `config` command), and what that
 * parser made of it is checked: every service, health checks, depends_on conditions, one Lockstep
 * image for every process, the production Kafka settings, and deploy/compose/lockstep.yaml
 * accepted by Lockstep's own configuration validation with egress for exactly the flow's platforms.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadAppConfig } from '../../services/app/config.ts';
import { pipelineServices } from '../../services/app/launcher.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const SECRETS = {
  LINEAR_API_KEY: 'compose-test-linear-key',
  LINEAR_WEBHOOK_SECRET: 'compose-test-linear-secret',
  JIRA_API_TOKEN: 'compose-test-jira-token',
  JIRA_WEBHOOK_SECRET: 'compose-test-jira-secret',
  LOCKSTEP_ADMIN_TOKEN: 'compose-test-admin-token-0123456789',
};

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  read_only?: boolean;
}

/** podman-compose's interpreter: the one its launcher script names (Debian: /usr/bin/python3). */
function podmanComposePython(): string {
  const which = spawnSync('sh', ['-c', 'command -v podman-compose'], { encoding: 'utf8' });
  if (which.status !== 0)
    throw new Error(
      'podman-compose is not installed: `apt-get install -y podman-compose` (Debian; .ci/run installs it)',
    );
  const shebang = readFileSync(which.stdout.trim(), 'utf8').split('\n')[0] ?? '';
  const m = /^#!\s*(\S+)/.exec(shebang);
  if (!m) throw new Error(`reading podman-compose's interpreter: no #! line in ${which.stdout.trim()}`);
  return m[1]!;
}

function parse(env: Record<string, string>) {
  const r = spawnSync(
    podmanComposePython(),
    [join(ROOT, 'test/deploy/compose-parse.py'), 'docker-compose.yml'],
    {
      cwd: ROOT,
      encoding: 'utf8',
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
      timeout: 120_000,
    },
  );
  return r;
}

describe('docker-compose.yml (podman-compose parser; not brought up: images cannot be pulled here)', () => {
  const r = parse(SECRETS);
  const loaded = () => {
    assert.equal(r.status, 0, `podman-compose's parser refused docker-compose.yml:\n${r.stderr}`);
    return JSON.parse(r.stdout) as { services: Record<string, Service> };
  };

  it('is accepted, with the infrastructure and every Lockstep process', () => {
    const { services } = loaded();
    assert.deepEqual(Object.keys(services).sort(), [
      'admin',
      'egress-jira',
      'egress-linear',
      'ingest',
      'jaeger',
      'kafka-1',
      'kafka-2',
      'kafka-3',
      'postgres',
      'prepare',
      'reconciler',
      'registry',
    ]);
  });

  it('refuses to start without the credentials, naming the variable', () => {
    const { LINEAR_API_KEY: _omitted, ...rest } = SECRETS;
    const without = parse(rest);
    assert.notEqual(without.status, 0);
    assert.match(without.stderr, /set LINEAR_API_KEY in \.env/);
  });

  it('runs every Lockstep process from the one image, as the launcher and the chart do', () => {
    const { services } = loaded();
    const config = loadAppConfig(join(ROOT, 'deploy/compose/lockstep.yaml'), SECRETS);
    const expected: [string, string[]][] = [
      ['prepare', ['prepare']],
      ...pipelineServices(config).map((s): [string, string[]] => [s.name, s.args]),
      ['admin', ['admin']],
    ];
    for (const [name, args] of expected) {
      const s = services[name];
      assert.ok(s, `service ${name}`);
      assert.equal(s.image, 'lockstep:local', `${name}: the Lockstep image`);
      assert.deepEqual(
        s.build,
        { context: '.', dockerfile: 'Dockerfile' },
        `${name}: built from the Dockerfile`,
      );
      assert.deepEqual(s.command, args, `${name}: its subcommand`);
      assert.equal(s.read_only, true, `${name}: read-only root, as the chart runs it`);
    }
    // Egress for exactly the flow's platforms.
    assert.deepEqual(
      Object.keys(services)
        .filter((n) => n.startsWith('egress-'))
        .sort(),
      pipelineServices(config)
        .filter((s) => s.name.startsWith('egress-'))
        .map((s) => s.name)
        .sort(),
    );
    // The compose file publishes the ports lockstep.yaml gives them.
    assert.deepEqual(services['ingest']!.ports, [`127.0.0.1:${config.ingest.port}:${config.ingest.port}`]);
    assert.deepEqual(services['admin']!.ports, [`127.0.0.1:${config.admin.port}:${config.admin.port}`]);
  });

  it('has health checks and waits on them: infrastructure healthy → prepare done → the services', () => {
    const { services } = loaded();
    for (const name of [
      'kafka-1',
      'kafka-2',
      'kafka-3',
      'postgres',
      'registry',
      'ingest',
      'reconciler',
      'admin',
    ])
      assert.ok(services[name]!.healthcheck?.test?.length, `${name} has a health check`);
    assert.deepEqual(services['ingest']!.healthcheck?.test, [
      'CMD',
      'node',
      '/app/deploy/image/healthcheck.mjs',
    ]);
    assert.deepEqual(services['prepare']!.depends_on, {
      'kafka-1': { condition: 'service_healthy' },
      'kafka-2': { condition: 'service_healthy' },
      'kafka-3': { condition: 'service_healthy' },
      registry: { condition: 'service_healthy' },
      postgres: { condition: 'service_healthy' },
    });
    assert.deepEqual(services['registry']!.depends_on, { postgres: { condition: 'service_healthy' } });
    for (const name of ['ingest', 'reconciler', 'egress-linear', 'egress-jira'])
      assert.deepEqual(services[name]!.depends_on, {
        prepare: { condition: 'service_completed_successfully' },
      });
    assert.deepEqual(services['admin']!.depends_on, {
      prepare: { condition: 'service_completed_successfully' },
      reconciler: { condition: 'service_healthy' },
    });
  });

  it('uses production Kafka settings: three brokers, replication 3, min.insync.replicas 2', () => {
    const { services } = loaded();
    for (const n of [1, 2, 3]) {
      const env = services[`kafka-${n}`]!.environment ?? {};
      assert.equal(String(env['KAFKA_NODE_ID']), String(n));
      assert.equal(String(env['KAFKA_DEFAULT_REPLICATION_FACTOR']), '3');
      assert.equal(String(env['KAFKA_MIN_INSYNC_REPLICAS']), '2');
      assert.equal(String(env['KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR']), '3');
      assert.equal(String(env['KAFKA_TRANSACTION_STATE_LOG_MIN_ISR']), '2');
      assert.equal(String(env['KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE']), 'false');
      assert.equal(String(env['KAFKA_AUTO_CREATE_TOPICS_ENABLE']), 'false');
      assert.equal(env['KAFKA_CONTROLLER_QUORUM_VOTERS'], '1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093');
    }
    const config = loadAppConfig(join(ROOT, 'deploy/compose/lockstep.yaml'), SECRETS);
    assert.equal(config.kafka.replicationFactor, 3);
    assert.deepEqual(config.kafka.brokers, ['kafka-1:19092', 'kafka-2:19092', 'kafka-3:19092']);
  });
});
