/**
 * The audit log end to end: edits on both emulated platforms go through the real pipeline, and
 * `lockstep audit` (the real CLI, against the world's Postgres) shows each write with its value
 * before and after, the change that caused it, the command, the link and the trace; the same
 * records arrive on the audit topic, decoded through the registry; a redelivered command adds no
 * record; old records are deleted by the retention prune.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { AuditRecord, WriteCommand } from '../../schemas/generated/types.ts';
import {
  commandsTopic,
  createConsumer,
  createKafka,
  createProducer,
  createRegistry,
  createSerde,
  type ConsumedRecord,
} from '../../services/core/kafka/index.ts';
import { testStackEndpoints } from '../stack/env.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import {
  botCalls,
  type CliRun,
  jiraIssue,
  jiraIssues,
  lastSeq,
  linearIds,
  linearIssues,
  lockstep,
  writes,
} from './helpers.ts';

function cli(e: E2E, args: string[]): Promise<CliRun> {
  return lockstep(e, ['audit', ...args]);
}

async function audit(e: E2E, args: string[]): Promise<AuditRecord[]> {
  const r = await cli(e, [...args, '--json']);
  assert.equal(r.code, 0, `lockstep audit ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as AuditRecord);
}

const who = (r: AuditRecord) => r.cause?.actor?.email ?? r.cause?.actor?.displayName ?? null;

/** Every record of a topic from the beginning, decoded through the registry, until `enough` says so. */
async function readTopic<T>(
  e: E2E,
  topic: string,
  what: string,
  enough: (seen: ConsumedRecord<T | null>[]) => boolean,
): Promise<ConsumedRecord<T | null>[]> {
  const seen: ConsumedRecord<T | null>[] = [];
  const consumer = createConsumer<T>(
    createKafka(e.config.kafka),
    createSerde(createRegistry(e.config.registry.url), e.config.kafka.topics),
    {
      groupId: `${e.config.kafka.clientId}-audit-test-${randomBytes(3).toString('hex')}`,
      topics: [topic],
      fromBeginning: true,
      eachMessage: async (r) => void seen.push(r),
    },
  );
  await consumer.start();
  try {
    await eventually(what, async () => enough(seen), 90_000);
  } finally {
    await consumer.stop();
  }
  return seen;
}

describe('the audit log of every write (end to end)', { timeout: 600_000 }, () => {
  let e: E2E;
  let jiraKey = '';
  let linearKey = '';
  before(async () => {
    // Retention 30 days, checked every second, so the prune is seen within the test.
    e = await startE2E({ audit: { retentionDays: 30, pruneIntervalMs: 1000, publishIdleMs: 200 } });
  });
  after(async () => {
    await e?.stop();
  });

  it('`lockstep audit --item` shows each write with before/after, its cause, command, link and trace', async () => {
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    await bob.createIssue({ teamId: ids.teamId, title: 'Audit: export fails', priority: 3 });
    const jira = e.jiraAs('carol');
    const created = await eventually('the issue in Jira', async () =>
      (await jiraIssues(jira)).find((i) => i.fields.summary === 'Audit: export fails'),
    );
    jiraKey = created.key;
    await settled(e);
    const lin = (await linearIssues(bob)).find((i) => i.title === 'Audit: export fails');
    assert.ok(lin);
    linearKey = lin.identifier;

    // Bob edits the title in Linear; then Carol raises the priority in Jira.
    await bob.updateIssue(lin.id, { title: 'Audit: export fails on Safari' });
    await eventually(
      'the new title in Jira',
      async () => (await jiraIssue(jira, jiraKey)).fields.summary === 'Audit: export fails on Safari',
    );
    await settled(e);
    await jira.issues.editIssue({ issueIdOrKey: jiraKey, fields: { priority: { name: 'High' } } });
    await eventually(
      'the new priority in Linear',
      async () => (await linearIssues(bob)).find((i) => i.id === lin.id)?.priority === 2,
    );
    await settled(e);

    const onJira = await audit(e, ['--item', `jira:${jiraKey}`]);
    // The create: every field it wrote, nothing before it, caused by Bob's create in Linear.
    const create = onJira.filter((r) => r.action === 'create');
    assert.ok(create.length > 0, `no create records for jira:${jiraKey}: ${JSON.stringify(onJira)}`);
    for (const r of create) {
      assert.equal(r.beforeJson, null);
      assert.equal(r.cause?.platform, 'linear');
      assert.equal(r.cause?.entityKey, linearKey);
    }
    assert.equal(create.find((r) => r.field === 'title')?.afterJson, '"Audit: export fails"');
    // The title update: before is what Jira held (read by the stale-base check), after what it holds.
    const title = onJira.filter((r) => r.action === 'update' && r.field === 'title');
    assert.equal(title.length, 1, JSON.stringify(onJira));
    const t = title[0]!;
    assert.equal(t.result, 'written');
    assert.equal(t.beforeJson, '"Audit: export fails"');
    assert.equal(t.afterJson, '"Audit: export fails on Safari"');
    assert.equal(t.platform, 'jira');
    assert.equal(t.targetKey, jiraKey);
    assert.equal(t.cause?.kind, 'event');
    assert.equal(t.cause?.platform, 'linear');
    assert.match(who(t) ?? '', /bob/i);
    assert.equal(typeof t.cause?.changedAtMs, 'number');
    assert.match(t.traceId ?? '', /^[0-9a-f]{32}$/);
    // The ids are the pipeline's own: the event the reconciler saw, the command egress applied.
    const seen = await e.db.query('select 1 from reconciler_seen_events where event_id = $1', [t.cause?.ref]);
    assert.equal(seen.rowCount, 1, `event ${t.cause?.ref} is not one the reconciler processed`);
    const applied = await e.db.query<{ outcome: { linkId: string; status: string } }>(
      'select outcome from egress_applied where command_id = $1',
      [t.commandId],
    );
    assert.equal(applied.rows[0]?.outcome.linkId, t.linkId);
    assert.equal(applied.rows[0]?.outcome.status, 'applied');

    // The other way: Carol's priority in Jira, written to Linear.
    const onLinear = await audit(e, ['--item', `linear:${linearKey}`]);
    const prio = onLinear.filter((r) => r.field === 'priority' && r.action === 'update');
    assert.equal(prio.length, 1, JSON.stringify(onLinear));
    assert.equal(prio[0]?.beforeJson, '"medium"');
    assert.equal(prio[0]?.afterJson, '"high"');
    assert.equal(prio[0]?.cause?.platform, 'jira');
    assert.equal(prio[0]?.cause?.entityKey, jiraKey);
    assert.match(who(prio[0]!) ?? '', /carol/i);
    assert.equal(prio[0]?.linkId, t.linkId);

    // --link answers for every side of the item; --since in the future finds nothing.
    const byLink = await audit(e, ['--link', t.linkId]);
    assert.deepEqual([...new Set(byLink.map((r) => r.platform))].sort(), ['jira', 'linear']);
    assert.equal(byLink.length, onJira.length + onLinear.length);
    assert.deepEqual(
      await audit(e, ['--link', t.linkId, '--since', new Date(Date.now() + 60_000).toISOString()]),
      [],
    );

    // The text form says the same for people.
    const text = await cli(e, ['--item', `jira:${jiraKey}`]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /update title: "Audit: export fails" → "Audit: export fails on Safari"/);
    assert.match(text.stdout, new RegExp(`because .*bob.* changed linear ${linearKey} at `, 'i'));
    assert.match(text.stdout, new RegExp(`command ${t.commandId}  link ${t.linkId}  trace ${t.traceId}`));
    process.stdout.write(`# lockstep audit --item jira:${jiraKey}\n${text.stdout.replace(/^/gm, '# ')}\n`);

    // A bad argument gets one clear message.
    const bad = await cli(e, ['--item', 'ENG-1']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--item must be <platform>:<key or id>/);

    // The trace id is the write's trace in Jaeger, with egress's apply span in it.
    const jaeger = testStackEndpoints().jaeger.url.replace(/\/+$/, '');
    await eventually(
      `trace ${t.traceId} with an "apply jira" span in Jaeger`,
      async () => {
        const res = await fetch(`${jaeger}/api/traces/${t.traceId}`);
        if (!res.ok) return false;
        const body = (await res.json()) as { data?: { spans: { operationName: string }[] }[] };
        return body.data?.some((tr) => tr.spans.some((s) => s.operationName === 'apply jira')) ?? false;
      },
      90_000,
    );
  });

  it('the same records arrive on the audit topic, decoded with the registry', async () => {
    const rows = await e.db.query<{ record: AuditRecord; published_at: Date | null }>(
      'select record, published_at from audit_log order by id',
    );
    assert.ok(rows.rows.length >= 3);
    const want = new Map(rows.rows.map((r) => [r.record.auditId, r.record]));
    const seen = await readTopic<AuditRecord>(
      e,
      e.config.kafka.topics.audit,
      'every audit record on the topic',
      (s) => [...want.keys()].every((id) => s.some((r) => r.value?.auditId === id)),
    );
    for (const [id, rec] of want) {
      const got = seen.find((r) => r.value?.auditId === id);
      assert.ok(got, `audit record ${id} not on the topic`);
      // avsc decodes records as class instances: compare as plain JSON.
      assert.deepEqual(JSON.parse(JSON.stringify(got.value)), rec);
      assert.equal(got.key, `${rec.platform}:${rec.targetKey ?? rec.targetId}`);
    }
    const unpublished = await e.db.query('select 1 from audit_log where published_at is null');
    assert.equal(unpublished.rowCount, 0);
  });

  it('a redelivered command is not applied again and adds no audit record', async () => {
    const [t] = (await audit(e, ['--item', `jira:${jiraKey}`])).filter(
      (r) => r.action === 'update' && r.field === 'title',
    );
    assert.ok(t);
    const before = await e.db.query<{ n: number }>('select count(*)::int as n from audit_log');
    const topic = commandsTopic(e.config.kafka.topics, 'jira');
    const found = await readTopic<WriteCommand>(e, topic, `command ${t.commandId} on ${topic}`, (s) =>
      s.some((r) => r.value?.commandId === t.commandId),
    );
    const original = found.find((r) => r.value?.commandId === t.commandId)!;
    const since = lastSeq(e, 'jira');
    const kafka = createKafka(e.config.kafka);
    const producer = createProducer(
      kafka,
      createSerde(createRegistry(e.config.registry.url), e.config.kafka.topics),
    );
    await producer.connect();
    try {
      await producer.produceRaw(topic, original.key, original.raw, original.headers);
    } finally {
      await producer.disconnect();
    }
    // settled: egress-jira has committed past the redelivered record.
    await settled(e);
    assert.deepEqual(writes(botCalls(e, 'jira', since), 'jira'), []);
    const after = await e.db.query<{ n: number }>('select count(*)::int as n from audit_log');
    assert.equal(after.rows[0]?.n, before.rows[0]?.n);
    const again = (await audit(e, ['--item', `jira:${jiraKey}`])).filter((r) => r.commandId === t.commandId);
    assert.equal(again.length, 1);
  });

  it('retention deletes records older than audit.retentionDays, and only those', async () => {
    const rows = await e.db.query<{ n: number }>('select count(*)::int as n from audit_log');
    const total = rows.rows[0]!.n;
    // Age the Jira create's records past the 30 days the world keeps (as if written 40 days ago).
    const aged = await e.db.query(
      `update audit_log set recorded_at = now() - interval '40 days'
        where platform = 'jira' and record->>'action' = 'create' and target_key = $1`,
      [jiraKey],
    );
    assert.ok((aged.rowCount ?? 0) > 0);
    await eventually(
      'egress-jira to prune the aged audit records',
      async () => {
        const left = await e.db.query(
          `select 1 from audit_log where recorded_at < now() - interval '30 days'`,
        );
        return left.rowCount === 0;
      },
      60_000,
    );
    const now = await e.db.query<{ n: number }>('select count(*)::int as n from audit_log');
    assert.equal(now.rows[0]?.n, total - (aged.rowCount ?? 0));
    const onJira = await audit(e, ['--item', `jira:${jiraKey}`]);
    assert.ok(onJira.every((r) => r.action !== 'create'));
    assert.ok(onJira.some((r) => r.field === 'title'));
  });
});
