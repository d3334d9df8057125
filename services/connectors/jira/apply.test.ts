/**
 * apply and poll against the Jira emulator (test/emulators/jira, test infrastructure — not Jira),
 * through jira.js exactly as in production.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { WriteCommand } from '../../../schemas/generated/types.ts';
import {
  DEFAULT_SEARCH_LAG_MS,
  DEMO_BOT_TOKEN,
  demoSeed,
  startJiraEmulator,
  type JiraEmulator,
} from '../../../test/emulators/jira/index.ts';
import type { RunningEmulator } from '../../../test/emulators/common/server.ts';
import { entityState } from '../types.ts';
import { createJiraApplier } from './apply.ts';
import { jiraConfigSchema, type JiraConfig } from './config.ts';
import { createJiraPoller } from './poll.ts';

let emu: RunningEmulator & { jira: JiraEmulator };
let config: JiraConfig;
before(async () => {
  const seed = demoSeed();
  // A person whose profile hides their email (Jira Cloud's profile visibility): no emailAddress.
  seed.users = [
    ...(seed.users ?? []),
    // Her profile visibility hides her email: Jira knows it, and shows it to nobody.
    {
      accountId: '712020:hidden-dana',
      displayName: 'Dana Hidden',
      email: 'dana@example.com',
      hideEmail: true,
      tokens: [],
    },
  ];
  emu = await startJiraEmulator({ seed, webhookTimeScale: 0.001 });
  config = jiraConfigSchema.parse({
    host: emu.url,
    email: 'lockstep-bot@example.com',
    apiToken: DEMO_BOT_TOKEN,
    webhookSecret: 'unused-here',
    projects: ['ENG'],
  });
});
after(() => emu.close());

const cmd = (over: Partial<WriteCommand>): WriteCommand => ({
  commandId: `cmd-${Math.random().toString(36).slice(2)}`,
  linkId: 'link-1',
  flowId: 'flow-1',
  platform: 'jira',
  workspace: 'ENG',
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

test('create writes ADF, transitions status, sets the marker; a retried create finds it', async () => {
  const applier = createJiraApplier({ config, botUserId: null });
  const fields = entityState({
    title: 'Synced from Linear',
    description: 'Hello **world**',
    status: { category: 'in_progress', name: 'In Progress' },
    priority: 'high',
    assignee: { email: 'alice@example.com', platformUserId: null, displayName: null },
    labels: ['sync'],
  });
  const first = await applier.apply(cmd({ fields, marker: 'link-create-1' }));
  assert.equal(first.alreadyApplied, false);
  assert.match(first.targetKey ?? '', /^ENG-\d+$/);
  assert.equal(first.written!.title, 'Synced from Linear');
  assert.equal(first.written!.description, 'Hello **world**');
  assert.deepEqual(first.written!.status, { category: 'in_progress', name: 'In Progress' });
  assert.equal(first.written!.priority, 'high');
  assert.equal(first.written!.assignee?.email, 'alice@example.com');
  assert.deepEqual(first.written!.labels, ['sync']);
  assert.deepEqual(first.skipped, []);

  const found = await applier.findByMarker({ marker: 'link-create-1', entityType: 'issue', parentId: null });
  assert.deepEqual(found, { targetId: first.targetId, targetKey: first.targetKey });
  const again = await applier.apply(cmd({ fields, marker: 'link-create-1' }));
  assert.equal(again.alreadyApplied, true);
  assert.equal(again.targetId, first.targetId);
});

test('update skips a field a person changed since the base, writes the rest', async () => {
  const applier = createJiraApplier({ config, botUserId: null });
  const created = await applier.apply(
    cmd({ fields: entityState({ title: 'Base title', priority: 'low' }), marker: 'link-stale-1' }),
  );
  const base = entityState({ title: 'Title someone else changed', priority: 'low' });
  const res = await applier.apply(
    cmd({
      action: 'update',
      targetId: created.targetId,
      base,
      fields: entityState({ title: 'Our title', priority: 'urgent' }),
    }),
  );
  assert.deepEqual(
    res.skipped.map((s) => [s.field, s.reason]),
    [['title', 'stale_base']],
  );
  assert.equal(res.written!.title, 'Base title', 'the newer value on Jira is kept');
  assert.equal(res.written!.priority, 'urgent');
});

test('an update the issue already holds writes nothing: a repeat after a crash costs no second write', async () => {
  const applier = createJiraApplier({ config, botUserId: null });
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
  const puts = emu.ledger.list(since).filter((e) => e.method === 'PUT');
  assert.deepEqual(
    puts.map((e) => e.path),
    [`/rest/api/3/issue/${created.targetId}`],
  );
});

test('labels with spaces are held as Jira spells them, and compared in that spelling', async () => {
  const applier = createJiraApplier({ config, botUserId: null });
  const created = await applier.apply(
    cmd({
      fields: entityState({ title: 'Labels', labels: ['bug', 'needs review'] }),
      marker: 'link-labels-1',
    }),
  );
  assert.deepEqual(created.written!.labels, ['bug', 'needs_review'], 'Jira holds needs_review');
  const since = emu.ledger.list().at(-1)?.seq ?? 0;
  // The issue holds needs_review: the command's `needs review` is already there, nothing to write.
  const repeat = await applier.apply(
    cmd({
      action: 'update',
      targetId: created.targetId,
      base: entityState({ labels: ['bug'] }),
      fields: entityState({ labels: ['bug', 'needs review'] }),
    }),
  );
  assert.equal(repeat.alreadyApplied, true);
  assert.deepEqual(repeat.skipped, []);
  // A base in Linear's spelling is not stale against the issue's needs_review: the new label is written.
  const next = await applier.apply(
    cmd({
      action: 'update',
      targetId: created.targetId,
      base: entityState({ labels: ['bug', 'needs review'] }),
      fields: entityState({ labels: ['bug', 'needs review', 'ui'] }),
    }),
  );
  assert.deepEqual(next.skipped, []);
  assert.deepEqual(next.written!.labels, ['bug', 'needs_review', 'ui']);
  const puts = emu.ledger.list(since).filter((e) => e.method === 'PUT');
  assert.equal(puts.length, 1, 'one edit: the repeat wrote nothing');
});

test('comments: create writes the body as ADF and returns it as markdown', async () => {
  // The marker lookup for comments (POST /rest/api/3/comment/list?expand=properties) is not served
  // by the emulator yet, so a retried comment create is not tested here; see the README.
  const applier = createJiraApplier({ config, botUserId: null });
  const issue = await applier.apply(
    cmd({ fields: entityState({ title: 'Has comments' }), marker: 'link-c-parent' }),
  );
  const first = await applier.apply(
    cmd({
      entityType: 'comment',
      parentId: issue.targetId,
      marker: 'link-comment-1',
      fields: entityState({ body: 'A _comment_' }),
    }),
  );
  assert.equal(first.alreadyApplied, false);
  assert.equal(first.written!.body, 'A _comment_');
  assert.match(first.targetId, /^\d+$/);
});

test('poll reads the project with via=poll, then is caught up with nothing new', async () => {
  const poller = createJiraPoller({ config, botUserId: null });
  const r1 = await poller.poll(null);
  assert.equal(r1.caughtUp, true);
  assert.ok(r1.events.length >= 3, `expected the seeded issues, got ${r1.events.length}`);
  assert.ok(r1.events.every((e) => e.source.via === 'poll' && e.op === 'r' && e.source.workspace === 'ENG'));
  const r2 = await poller.poll(r1.cursor);
  // Search lags writes, so r2 may bring earlier tests' issues r1 could not see yet; never r1's again.
  const first = new Set(r1.events.map((e) => e.eventId));
  assert.deepEqual(
    r2.events.filter((e) => first.has(e.eventId)),
    [],
    'the overlap re-reads are dropped by the seen-set',
  );
  assert.equal(r2.caughtUp, true);
});

test('a poll of an issue Lockstep created carries its create marker; a person’s issue carries none', async () => {
  const applier = createJiraApplier({ config, botUserId: null });
  const ours = await applier.apply(
    cmd({ fields: entityState({ title: 'Ours, polled' }), marker: 'link-poll-1' }),
  );
  const poller = createJiraPoller({ config, botUserId: null });
  // Search lags writes (as on Jira Cloud): poll until the new issue is searchable.
  const deadline = Date.now() + 30_000;
  let r = await poller.poll(null);
  while (!r.events.some((e) => e.source.entityId === ours.targetId)) {
    assert.ok(Date.now() < deadline, 'the poll never returned the issue Lockstep created');
    await new Promise((res) => setTimeout(res, 100));
    r = await poller.poll(null);
  }
  const mine = r.events.find((e) => e.source.entityId === ours.targetId)!;
  assert.equal(mine.source.actor, null, 'a poll knows no actor');
  assert.equal(mine.source.marker, 'link-poll-1');
  // The seeded issues were made by people: no marker (earlier tests' creates carry theirs).
  assert.ok(
    r.events.some((e) => e.source.entityType === 'issue' && e.source.marker === null),
    'no person’s issue without a marker in the poll',
  );
});

test('a create whose response is lost is found on retry, not repeated, while search still lags', async () => {
  assert.ok(DEFAULT_SEARCH_LAG_MS >= 1000, 'the emulator’s search keeps up: this test would prove nothing');
  const applier = createJiraApplier({ config, botUserId: null });
  const create = cmd({
    fields: entityState({ title: 'Lost response' }),
    marker: 'link-lost-1',
    createdAtMs: Date.now(),
  });
  // Jira makes the issue, then the answer is lost behind a gateway error (egress retries a 503).
  emu.jira.addAfterApplyFault({ method: 'POST', pathPrefix: '/rest/api/3/issue', status: 503, count: 1 });
  await assert.rejects(applier.apply(create), (err: { status?: number }) => err.status === 503);
  const retried = await applier.apply(create);
  assert.equal(retried.alreadyApplied, true, 'the retry created the issue again');
  const made = (emu.jira.state() as { issues: { key: string; fields: { summary: string } }[] }).issues.filter(
    (i) => i.fields.summary === 'Lost response',
  );
  assert.deepEqual(
    made.map((i) => i.key),
    [retried.targetKey],
  );
});

test('a create whose answer was lost before its transition ran: the retry finds it and finishes the transition', async () => {
  const applier = createJiraApplier({ config, botUserId: null });
  const create = cmd({
    fields: entityState({
      title: 'Lost before its transition',
      status: { category: 'in_progress', name: 'In Progress' },
    }),
    marker: 'link-lost-transition',
    createdAtMs: Date.now(),
  });
  // The issue is made, the answer lost: the transition after it never ran.
  emu.jira.addAfterApplyFault({ method: 'POST', pathPrefix: '/rest/api/3/issue', status: 503, count: 1 });
  await assert.rejects(applier.apply(create), (err: { status?: number }) => err.status === 503);
  const retried = await applier.apply(create);
  assert.equal(retried.alreadyApplied, true);
  assert.equal(retried.written?.status?.name, 'In Progress', JSON.stringify(retried.skipped));
  assert.deepEqual(retried.skipped, []);
  // Once there, a third attempt writes nothing more.
  const third = await applier.apply(create);
  assert.equal(third.written?.status?.name, 'In Progress');
});

test('a malformed issue in a poll page is reported as rejected, once, and the other issues still come', async () => {
  // Seeds bypass the API's validation: an ADF version Lockstep cannot read.
  emu.jira.seed(
    {
      issues: [
        { project: 'ENG', summary: 'Malformed', description: { type: 'doc', version: 2, content: [] } },
      ],
    },
    emu.kit,
  );
  const poller = createJiraPoller({ config, botUserId: null });
  const r1 = await poller.poll(null);
  assert.equal(r1.rejected?.length, 1, `rejected: ${JSON.stringify(r1.rejected)}`);
  assert.match(r1.rejected![0]!.reason, /converting ADF to markdown/);
  assert.equal((r1.rejected![0]!.raw as { fields: { summary: string } }).fields.summary, 'Malformed');
  assert.ok(r1.events.some((e) => e.after?.title === 'Sandbox: fix the login redirect'));
  const r2 = await poller.poll(r1.cursor);
  assert.deepEqual(r2.rejected, [], 'the overlap re-read rejected the same item again');
});

test('assignee: an account id from a people override is assigned (checked first); an email Jira hides is not found', async () => {
  const applier = createJiraApplier({ config, botUserId: null });
  const created = await applier.apply(
    cmd({ fields: entityState({ title: 'Assign by id' }), marker: 'link-people-1' }),
  );
  const update = (assignee: { email: string | null; platformUserId: string | null }) =>
    applier.apply(
      cmd({
        action: 'update',
        targetId: created.targetId,
        fields: entityState({ assignee: { ...assignee, displayName: null } }),
      }),
    );
  const byEmail = await update({ email: 'dana@example.com', platformUserId: null });
  assert.deepEqual(
    byEmail.skipped.map((s) => [s.field, s.reason, s.detail]),
    [
      [
        'assignee',
        'unresolvable',
        "no Jira user shows the email dana@example.com (Jira's user search does not find a user by an email their profile visibility hides); add a people override with their Jira account id",
      ],
    ],
  );
  const byId = await update({ email: 'dana@example.com', platformUserId: '712020:hidden-dana' });
  assert.deepEqual(byId.skipped, []);
  assert.deepEqual(byId.written!.assignee, {
    email: null,
    platformUserId: '712020:hidden-dana',
    displayName: 'Dana Hidden',
  });
  const wrong = await update({ email: null, platformUserId: '712020:nobody' });
  assert.deepEqual(
    wrong.skipped.map((s) => [s.field, s.reason, s.detail]),
    [['assignee', 'unresolvable', 'no Jira account 712020:nobody (given by people)']],
  );
  assert.equal(wrong.written!.assignee?.platformUserId, '712020:hidden-dana', 'a wrong id changes nothing');
  const nobody = await update({ email: null, platformUserId: null });
  assert.deepEqual(
    nobody.skipped.map((s) => [s.field, s.reason, s.detail]),
    [
      [
        'assignee',
        'unresolvable',
        'no email to look up in Jira and no Jira account id given; add a people override with their Jira account id',
      ],
    ],
  );
});
