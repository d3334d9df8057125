/**
 * apply and poll against the Linear emulator (test/emulators/linear, test infrastructure — not
 * Linear), through @linear/sdk exactly as in production.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { LinearClient } from '@linear/sdk';
import type { WriteCommand } from '../../../schemas/generated/types.ts';
import { demoSeed, LINEAR_DEMO_TOKENS, startLinearEmulator } from '../../../test/emulators/linear/index.ts';
import { entityState } from '../types.ts';
import { createLinearApplier } from './apply.ts';
import { linearConfigSchema, type LinearConfig } from './config.ts';
import { createLinearPoller } from './poll.ts';

let emu: Awaited<ReturnType<typeof startLinearEmulator>>;
let config: LinearConfig;
let teamId: string;
before(async () => {
  emu = await startLinearEmulator({ seed: demoSeed(), webhookTimeScale: 0.001 });
  config = linearConfigSchema.parse({
    apiKey: LINEAR_DEMO_TOKENS.bot,
    webhookSecret: 'unused',
    apiUrl: `${emu.url}/graphql`,
    teams: ['ENG'],
  });
  const c = new LinearClient({ apiKey: LINEAR_DEMO_TOKENS.bot, apiUrl: `${emu.url}/graphql` });
  const r = await c.client.rawRequest<
    { teams: { nodes: { id: string; key: string }[] } },
    Record<string, never>
  >('query { teams { nodes { id key } } }');
  teamId = r.data!.teams.nodes.find((t) => t.key === 'ENG')!.id;
});
after(() => emu.close());

const cmd = (over: Partial<WriteCommand>): WriteCommand => ({
  commandId: `cmd-${Math.random().toString(36).slice(2)}`,
  linkId: 'link-1',
  flowId: 'flow-1',
  platform: 'linear',
  workspace: teamId,
  action: 'create',
  entityType: 'issue',
  targetId: null,
  parentId: null,
  fields: entityState({}),
  base: null,
  marker: null,
  causedBy: null,
  unresolved: [],
  cause: null,
  createdAtMs: 0,
  ...over,
});

test('create maps status, priority, assignee and labels, attaches the marker; a retry finds it', async () => {
  const applier = createLinearApplier({ config, botUserId: null });
  const fields = entityState({
    title: 'Synced from Jira',
    description: 'Hello **world**',
    status: { category: 'in_progress', name: 'In Progress' },
    priority: 'urgent',
    assignee: { email: 'bob@example.com', platformUserId: null, displayName: null },
    labels: ['bug', 'feature'],
  });
  const first = await applier.apply(cmd({ fields, marker: 'lin-link-1' }));
  assert.equal(first.alreadyApplied, false);
  assert.match(first.targetKey ?? '', /^ENG-\d+$/);
  assert.equal(first.written!.title, 'Synced from Jira');
  assert.equal(first.written!.description, 'Hello **world**');
  assert.equal(first.written!.status?.category, 'in_progress');
  assert.equal(first.written!.priority, 'urgent');
  assert.equal(first.written!.assignee?.email, 'bob@example.com');
  assert.deepEqual(first.written!.labels, ['bug', 'feature']);

  assert.deepEqual(
    await applier.findByMarker({ marker: 'lin-link-1', entityType: 'issue', parentId: null }),
    {
      targetId: first.targetId,
      targetKey: first.targetKey,
    },
  );
  const again = await applier.apply(cmd({ fields, marker: 'lin-link-1' }));
  assert.equal(again.alreadyApplied, true);
  assert.equal(again.targetId, first.targetId);
});

test('update skips a stale field and writes the others; an unknown email is reported, not guessed', async () => {
  const applier = createLinearApplier({ config, botUserId: null });
  const created = await applier.apply(
    cmd({ fields: entityState({ title: 'Current', priority: 'low' }), marker: 'lin-link-2' }),
  );
  const res = await applier.apply(
    cmd({
      action: 'update',
      targetId: created.targetId,
      base: entityState({ title: 'What we last agreed', priority: 'low' }),
      fields: entityState({
        title: 'Ours',
        priority: 'high',
        assignee: { email: 'nobody@example.com', platformUserId: null, displayName: null },
      }),
    }),
  );
  assert.deepEqual(res.skipped.map((s) => [s.field, s.reason]).sort(), [
    ['assignee', 'unresolvable'],
    ['title', 'stale_base'],
  ]);
  assert.equal(res.written!.title, 'Current');
  assert.equal(res.written!.priority, 'high');
});

test('an update the issue already holds writes nothing: a repeat after a crash costs no second write', async () => {
  const applier = createLinearApplier({ config, botUserId: null });
  const created = await applier.apply(
    cmd({ fields: entityState({ title: 'Before', priority: 'low' }), marker: 'link-repeat-1' }),
  );
  const update = cmd({
    action: 'update',
    targetId: created.targetId,
    base: entityState({ title: 'Before', priority: 'low' }),
    fields: entityState({ title: 'After', priority: 'high' }),
  });
  const since = emu.ledger.list().at(-1)?.seq ?? 0;
  const first = await applier.apply(update);
  assert.equal(first.alreadyApplied, false);
  assert.equal(first.written!.title, 'After');
  // The same command again, as egress re-delivers it when it died before recording the first apply.
  const again = await applier.apply(update);
  assert.equal(again.alreadyApplied, true);
  assert.deepEqual(again.skipped, []);
  assert.equal(again.written!.title, 'After');
  assert.equal(again.written!.priority, 'high');
  const updates = emu.ledger.list(since).filter((e) => e.operation === 'issueUpdate');
  assert.equal(updates.length, 1);
});

test('comment create uses the marker-derived id; a retry finds it', async () => {
  const applier = createLinearApplier({ config, botUserId: null });
  const issue = await applier.apply(
    cmd({ fields: entityState({ title: 'Has comments' }), marker: 'lin-link-3' }),
  );
  const c = cmd({
    entityType: 'comment',
    parentId: issue.targetId,
    marker: 'lin-comment-1',
    fields: entityState({ body: 'A _comment_' }),
  });
  const first = await applier.apply(c);
  assert.equal(first.written!.body, 'A _comment_');
  const again = await applier.apply(c);
  assert.equal(again.alreadyApplied, true);
  assert.equal(again.targetId, first.targetId);
});

test('poll reads issues and comments with via=poll, then nothing new', async () => {
  const poller = createLinearPoller({ config, botUserId: null });
  const r1 = await poller.poll(null);
  assert.equal(r1.caughtUp, true);
  assert.ok(r1.events.some((e) => e.source.entityType === 'issue'));
  assert.ok(r1.events.every((e) => e.source.via === 'poll' && e.op === 'r'));
  const r2 = await poller.poll(r1.cursor);
  assert.deepEqual(r2.events, []);
});

test('a label the team lacks is created in the team (one issueLabelCreate) and attached', async () => {
  const applier = createLinearApplier({ config, botUserId: null });
  const since = emu.ledger.list().at(-1)?.seq ?? 0;
  const res = await applier.apply(
    cmd({
      fields: entityState({ title: 'Needs a new label', labels: ['bug', 'from-jira'] }),
      marker: 'lin-link-label-1',
    }),
  );
  assert.deepEqual(res.skipped, []);
  assert.deepEqual([...res.written!.labels!].sort(), ['bug', 'from-jira']);
  const creates = emu.ledger.list(since).filter((e) => e.operation === 'issueLabelCreate');
  assert.equal(creates.length, 1);

  const c = new LinearClient({ apiKey: LINEAR_DEMO_TOKENS.bot, apiUrl: `${emu.url}/graphql` });
  const made = (await c.issueLabels({ filter: { name: { eq: 'from-jira' } } })).nodes;
  assert.equal(made.length, 1);
  assert.equal((await made[0]!.team)?.id, teamId);
  const issue = await c.issue(res.targetId);
  assert.deepEqual((await issue.labels()).nodes.map((l) => l.name).sort(), ['bug', 'from-jira']);

  // The next command with that label reuses it, whatever its case: Linear refuses a second
  // "from-jira" in the team, so a case-sensitive lookup would fail the write.
  const since2 = emu.ledger.list().at(-1)?.seq ?? 0;
  const next = await applier.apply(
    cmd({
      fields: entityState({ title: 'Reuses it', labels: ['From-Jira', 'BUG'] }),
      marker: 'lin-link-label-2',
    }),
  );
  assert.deepEqual(next.skipped, []);
  assert.deepEqual([...next.written!.labels!].sort(), ['bug', 'from-jira']);
  assert.equal(emu.ledger.list(since2).filter((e) => e.operation === 'issueLabelCreate').length, 0);
});

test('a poll of an issue Lockstep created carries its create marker; a person’s issue carries none', async () => {
  const applier = createLinearApplier({ config, botUserId: null });
  const ours = await applier.apply(
    cmd({ fields: entityState({ title: 'Ours, polled' }), marker: 'lin-poll-1' }),
  );
  const r = await createLinearPoller({ config, botUserId: null }).poll(null);
  const mine = r.events.find((e) => e.source.entityId === ours.targetId);
  assert.ok(mine, 'the poll did not return the issue Lockstep created');
  assert.equal(mine.source.actor, null, 'a poll knows no actor');
  assert.equal(mine.source.marker, 'lin-poll-1');
  // The seeded issues were made by people: no marker (earlier tests' creates carry theirs).
  assert.ok(
    r.events.some((e) => e.source.entityType === 'issue' && e.source.marker === null),
    'no person’s issue without a marker in the poll',
  );
});

test('a create whose marker attachment fails still succeeds (the issue exists), reporting it skipped', async () => {
  const applier = createLinearApplier({ config, botUserId: null });
  const from = emu.ledger.list().at(-1)?.seq ?? 0;
  emu.faults.add({ kind: 'server_error', status: 500, count: 1, match: { operation: 'attachmentCreate' } });
  const r = await applier.apply(
    cmd({ fields: entityState({ title: 'attach fails' }), marker: 'lin-attach-fails' }),
  );
  assert.equal(r.alreadyApplied, false);
  assert.match(r.targetKey ?? '', /^ENG-\d+$/);
  assert.deepEqual(
    r.skipped.map((s) => [s.field, s.reason]),
    [['attachment', 'follow_up_failed']],
  );
  assert.equal(emu.ledger.list(from).filter((e) => e.operation === 'issueCreate').length, 1);
  // A retry of the same command finds the issue by its marker-derived id and adds the attachment.
  const again = await applier.apply(
    cmd({ fields: entityState({ title: 'attach fails' }), marker: 'lin-attach-fails' }),
  );
  assert.equal(again.alreadyApplied, true);
  assert.equal(again.targetId, r.targetId);
  assert.equal(emu.ledger.list(from).filter((e) => e.operation === 'issueCreate').length, 1);
});

test('assignee: a user id from a people override is assigned (checked first); a wrong one is reported', async () => {
  const applier = createLinearApplier({ config, botUserId: null });
  const created = await applier.apply(
    cmd({ fields: entityState({ title: 'Assign by id' }), marker: 'lin-people-1' }),
  );
  const bob = await applier.apply(
    cmd({
      action: 'update',
      targetId: created.targetId,
      fields: entityState({
        assignee: { email: 'bob@example.com', platformUserId: null, displayName: null },
      }),
    }),
  );
  const bobId = bob.written!.assignee?.platformUserId;
  assert.ok(bobId, 'bob assigned by email');
  const carol = await applier.apply(
    cmd({
      action: 'update',
      targetId: created.targetId,
      fields: entityState({
        assignee: { email: 'carol@example.com', platformUserId: null, displayName: null },
      }),
    }),
  );
  const carolId = carol.written!.assignee?.platformUserId;
  assert.ok(carolId);
  // The override's id wins over the email the command also carries.
  const byId = await applier.apply(
    cmd({
      action: 'update',
      targetId: created.targetId,
      fields: entityState({
        assignee: { email: 'carol@example.com', platformUserId: bobId, displayName: null },
      }),
    }),
  );
  assert.deepEqual(byId.skipped, []);
  assert.equal(byId.written!.assignee?.platformUserId, bobId);
  const wrong = await applier.apply(
    cmd({
      action: 'update',
      targetId: created.targetId,
      fields: entityState({ assignee: { email: null, platformUserId: 'no-such-user', displayName: null } }),
    }),
  );
  assert.deepEqual(
    wrong.skipped.map((s) => [s.field, s.reason, s.detail]),
    [['assignee', 'unresolvable', 'no Linear user no-such-user (given by people)']],
  );
  assert.equal(wrong.written!.assignee?.platformUserId, bobId, 'a wrong id changes nothing');
});
