/**
 * The visible notes' outbox (services/egress/notes.ts) on the real test Postgres, posting through
 * the real Linear connector to the Linear emulator (test infrastructure, not Linear): a note is
 * recorded once per link+platform+field+value however many writes meet the value, survives a
 * restart as posted, is posted once by two replicas racing for it, is retried while the platform
 * fails and given up after `maxAttempts` (audited), and a later write of the same value arms a
 * failed note again; while the platform refuses the bot's token a note waits, never given up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { LinearClient } from '@linear/sdk';
import { createLinearApplier } from '../../services/connectors/linear/apply.ts';
import { linearConfigSchema } from '../../services/connectors/linear/config.ts';
import { classifyLinearError } from '../../services/connectors/linear/errors.ts';
import { entityState } from '../../services/connectors/types.ts';
import { createPool, migrate, type Pool } from '../../services/core/db/index.ts';
import { insertAuditRecords } from '../../services/egress/audit.ts';
import { notesFor, postNextNote, type NotesDeps } from '../../services/egress/notes.ts';
import { createAppliedStore } from '../../services/egress/store.ts';
import type { AuditRecord, WriteCommand, WriteOutcome } from '../../schemas/generated/types.ts';
import { EmulatorControl } from '../emulators/common/control-client.ts';
import { demoSeed, LINEAR_DEMO_TOKENS, startLinearEmulator } from '../emulators/linear/index.ts';
import type { RunningEmulator } from '../emulators/common/server.ts';
import { freshDatabase } from './core-helpers.ts';

let db: { url: string; drop(): Promise<void> };
let pool: Pool;
let emu: RunningEmulator;
let control: EmulatorControl;
let teamId: string;
const config = () =>
  linearConfigSchema.parse({
    apiKey: LINEAR_DEMO_TOKENS.bot,
    webhookSecret: 'unused',
    apiUrl: `${emu.url}/graphql`,
    teams: ['ENG'],
  });

before(async () => {
  db = await freshDatabase();
  await migrate(db.url);
  pool = createPool(db.url, { max: 4 });
  emu = await startLinearEmulator({ seed: demoSeed(), webhookTimeScale: 0.001 });
  control = new EmulatorControl(emu.url);
  const c = new LinearClient({ apiKey: LINEAR_DEMO_TOKENS.alice, apiUrl: `${emu.url}/graphql` });
  teamId = (await c.teams({ filter: { key: { eq: 'ENG' } } })).nodes[0]!.id;
});
after(async () => {
  await pool?.end();
  await db?.drop();
  await emu?.close();
});

const FRANK = { email: 'frank@example.com', platformUserId: '712020:frank', displayName: 'Frank' };
const names = { platformName: 'Linear', nameOf: () => 'Jira Cloud' };

async function newIssue(title: string): Promise<string> {
  const r = await createLinearApplier({ config: config(), botUserId: null }).apply({
    ...command(`create-${title}`, 'none', ''),
    action: 'create',
    targetId: null,
    fields: entityState({ title }),
    marker: `marker-${title}`,
  });
  return r.targetId;
}

function command(commandId: string, linkId: string, targetId: string): WriteCommand {
  return {
    commandId,
    linkId,
    flowId: 'eng',
    platform: 'linear',
    workspace: teamId,
    action: 'update',
    entityType: 'issue',
    targetId,
    parentId: null,
    fields: entityState({ assignee: FRANK }),
    base: null,
    marker: null,
    causedBy: null,
    unresolved: [],
    cause: null,
    createdAtMs: 0,
  };
}

/** Records one applied write that could not carry Frank, as egress does (one transaction). */
async function recordWrite(p: Pool, commandId: string, linkId: string, targetId: string): Promise<void> {
  const cmd = command(commandId, linkId, targetId);
  const outcome: WriteOutcome = {
    commandId,
    linkId,
    flowId: 'eng',
    platform: 'linear',
    workspace: teamId,
    entityType: 'issue',
    action: 'update',
    status: 'applied',
    targetId,
    targetKey: null,
    written: null,
    platformVersion: null,
    platformTsMs: null,
    error: null,
    coalesced: [],
    tsMs: Date.now(),
  };
  const notes = notesFor(
    cmd,
    { targetId, targetKey: null },
    [{ field: 'assignee', reason: 'unresolvable', detail: 'no Linear user with email frank@example.com' }],
    names,
  );
  await createAppliedStore(p, 'linear').record([commandId], outcome, [], notes);
}

function notesDeps(p: Pool, maxAttempts = 3): NotesDeps {
  return {
    pool: p,
    platform: 'linear',
    applier: createLinearApplier({ config: config(), botUserId: null }),
    classify: classifyLinearError,
    insertAudit: insertAuditRecords,
    allowed: () => true,
    retry: { maxAttempts, baseMs: 5, maxMs: 20 },
    logger: pino({ level: 'silent' }),
  };
}

async function noteRows(linkId: string) {
  return (
    await pool.query<{ status: string; attempts: number; comment_id: string | null }>(
      'select status, attempts, comment_id from item_notes where link_id = $1',
      [linkId],
    )
  ).rows;
}

async function comments(issueId: string): Promise<{ id: string; body: string }[]> {
  const c = new LinearClient({ apiKey: LINEAR_DEMO_TOKENS.alice, apiUrl: `${emu.url}/graphql` });
  return (await (await c.issue(issueId)).comments()).nodes.map((n) => ({ id: n.id, body: n.body }));
}

async function auditOf(linkId: string): Promise<AuditRecord[]> {
  return (
    await pool.query<{ record: AuditRecord }>('select record from audit_log where link_id = $1 order by id', [
      linkId,
    ])
  ).rows.map((r) => r.record);
}

/** Posts due notes until none is due now (a failed attempt is due again after its backoff). */
async function drain(d: NotesDeps, until: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await until())) {
    if (Date.now() > deadline) throw new Error(`waiting for ${what}: not within 30 s`);
    if (!(await postNextNote(d))) await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the notes outbox on Postgres', () => {
  it('one note per value however many writes meet it; after a restart it stays posted', async () => {
    const issue = await newIssue('once');
    await recordWrite(pool, 'c1', 'link-once', issue);
    await recordWrite(pool, 'c2', 'link-once', issue);
    assert.deepEqual(await noteRows('link-once'), [{ status: 'pending', attempts: 0, comment_id: null }]);
    assert.equal(await postNextNote(notesDeps(pool)), true);
    assert.equal(await postNextNote(notesDeps(pool)), false, 'nothing else due');
    const posted = await comments(issue);
    assert.equal(posted.length, 1);
    assert.deepEqual(await noteRows('link-once'), [
      { status: 'posted', attempts: 1, comment_id: posted[0]!.id },
    ]);

    // A "restart": another pool, a third write of the same value.
    const again = createPool(db.url, { max: 2 });
    try {
      await recordWrite(again, 'c3', 'link-once', issue);
      assert.equal(await postNextNote(notesDeps(again)), false);
    } finally {
      await again.end();
    }
    assert.equal((await comments(issue)).length, 1);
    const audit = (await auditOf('link-once')).filter((r) => r.result === 'noted');
    assert.equal(audit.length, 1);
    assert.match(audit[0]!.detail ?? '', new RegExp(posted[0]!.id));
  });

  it('two replicas racing for the same note post it once', async () => {
    const issue = await newIssue('race');
    await recordWrite(pool, 'r1', 'link-race', issue);
    const other = createPool(db.url, { max: 2 });
    try {
      const results = await Promise.all([postNextNote(notesDeps(pool)), postNextNote(notesDeps(other))]);
      assert.deepEqual(results.filter(Boolean).length, 1, 'one took the row, the other found it locked');
    } finally {
      await other.end();
    }
    assert.equal((await comments(issue)).length, 1);
  });

  it('retried while the platform fails, given up after maxAttempts, armed again by a later write', async () => {
    const issue = await newIssue('fails');
    await control.fault({
      kind: 'server_error',
      status: 500,
      count: 3,
      match: { operation: 'commentCreate' },
    });
    await recordWrite(pool, 'f1', 'link-fails', issue);
    const d = notesDeps(pool, 3);
    await drain(d, async () => (await noteRows('link-fails'))[0]?.status === 'failed', 'the note to fail');
    assert.deepEqual(await noteRows('link-fails'), [{ status: 'failed', attempts: 3, comment_id: null }]);
    assert.deepEqual(await comments(issue), []);
    const failed = (await auditOf('link-fails')).filter((r) => r.result === 'note_failed');
    assert.equal(failed.length, 1);
    assert.match(failed[0]!.detail ?? '', /posting the note .* failed/);

    // The fault is spent; the next write that meets Frank arms the note again.
    await recordWrite(pool, 'f2', 'link-fails', issue);
    await drain(d, async () => (await noteRows('link-fails'))[0]?.status === 'posted', 'the note to post');
    assert.equal((await comments(issue)).length, 1);
  });

  it('while the platform refuses the credentials a note waits, not counted as an attempt, and posts once they are back', async () => {
    const issue = await newIssue('refused');
    await recordWrite(pool, 'k1', 'link-refused', issue);
    const bot = emu.kit.actors.all().find((u) => u.isBot);
    assert.ok(bot, 'the emulator has a bot user');
    assert.equal(await control.revokeToken(LINEAR_DEMO_TOKENS.bot), true);
    const d = notesDeps(pool, 2);
    try {
      // More tries than maxAttempts: a refused token is an outage, never the note's failure.
      for (let i = 0; i < 3; i++) {
        assert.equal(await postNextNote(d), true, `try ${i + 1} took the note`);
        const due = await pool.query<{
          status: string;
          attempts: number;
          wait_s: number;
          last_error: string;
        }>(
          `select status, attempts, extract(epoch from next_attempt_at - now())::float8 as wait_s, last_error
             from item_notes where link_id = 'link-refused'`,
        );
        const row = due.rows[0]!;
        assert.deepEqual([row.status, row.attempts], ['pending', 0], JSON.stringify(row));
        assert.ok(row.wait_s > 25, `held for about 30 s, not ${row.wait_s} s`);
        assert.ok(row.last_error.length > 0, 'the refusal is recorded as the last error');
        // Due again now: this test does not wait out the 30 s hold.
        await pool.query(`update item_notes set next_attempt_at = now() where link_id = 'link-refused'`);
      }
      assert.deepEqual(await comments(issue), []);
      assert.deepEqual(
        (await auditOf('link-refused')).filter((r) => r.result === 'note_failed'),
        [],
        'not given up',
      );
    } finally {
      assert.equal(await control.issueToken(bot.id, LINEAR_DEMO_TOKENS.bot), true);
    }
    await drain(d, async () => (await noteRows('link-refused'))[0]?.status === 'posted', 'the note to post');
    assert.equal((await comments(issue)).length, 1);
    assert.deepEqual(await noteRows('link-refused'), [
      { status: 'posted', attempts: 1, comment_id: (await comments(issue))[0]!.id },
    ]);
  });
});
