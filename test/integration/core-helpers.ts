/**
 * Helpers for the core integration tests: random names (tests share one stack) and a Lockstep
 * config pointing at the test stack.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { coreConfigSchema, type CoreConfig } from '../../services/core/config/index.ts';
import { testStackEndpoints } from '../stack/env.ts';

export function rand(prefix = 't'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/** Test stack endpoints with topics under a random prefix, so each test owns its topics and subjects. */
export function testConfig(overrides: { serviceName?: string } = {}): CoreConfig {
  const e = testStackEndpoints();
  const p = rand('it');
  return coreConfigSchema.parse({
    kafka: {
      brokers: [e.kafka.bootstrap],
      clientId: p,
      partitions: 3,
      topics: {
        changes: `${p}.changes.v1`,
        commandsPrefix: `${p}.commands.`,
        outcomes: `${p}.outcomes.v1`,
        conflicts: `${p}.conflicts.v1`,
        dlq: `${p}.dlq.v1`,
        audit: `${p}.audit.v1`,
      },
    },
    registry: { url: e.registry.url },
    postgres: { url: e.postgres.url },
    telemetry: {
      enabled: true,
      otlpHttpEndpoint: `${e.jaeger.otlpHttp.replace(/\/+$/, '')}/v1/traces`,
      serviceName: overrides.serviceName ?? p,
    },
    logLevel: 'warn',
  });
}

/** A fresh database on the test Postgres; returns its URL and a drop function. */
export async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = testStackEndpoints().postgres.url;
  const name = rand('db').replace(/-/g, '_');
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(base);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** A valid ChangeEvent with the given id. */
export function sampleChangeEvent(eventId: string) {
  const now = Date.now();
  return {
    eventId,
    op: 'u' as const,
    before: null,
    after: {
      known: ['title', 'labels'],
      title: 'Fix the login bug',
      description: null,
      status: null,
      priority: null,
      assignee: null,
      labels: ['bug', 'p1'],
      dueDate: null,
      url: null,
      body: null,
      author: null,
      createdAtMs: null,
      updatedAtMs: now,
    },
    source: {
      platform: 'linear',
      workspace: 'ENG',
      entityType: 'issue' as const,
      entityId: 'lin-123',
      entityKey: 'ENG-12',
      parentId: null,
      via: 'webhook' as const,
      deliveryId: 'd-1',
      actor: null,
      actorIsLockstep: false,
      marker: null,
      version: String(now),
      tsMs: now - 5,
    },
    changedFields: ['title'],
    tsMs: now,
  };
}
