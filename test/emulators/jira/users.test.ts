/**
 * Profile visibility: a user whose Jira profile hides their email (`hideEmail` in the seed, or
 * `POST /_emulator/jira/users/email-visibility`) is shown without `emailAddress` in every user
 * object the API returns, and a user search by that email finds nobody. Users who show their
 * email are unaffected.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ALICE, BOT, adf, harness, receiver, registerWebhook, testSeed, type Harness } from './helpers.ts';

const DANA = { accountId: '712020:test-dana', email: 'dana@example.com', token: 'dana-api-token' };

function seedWithDana() {
  const seed = testSeed();
  seed.users = [
    ...(seed.users ?? []),
    {
      accountId: DANA.accountId,
      displayName: 'Dana Hidden',
      email: DANA.email,
      hideEmail: true,
      tokens: [DANA.token],
    },
  ];
  return seed;
}

/** Every object under `v` (depth first) that has an `accountId`: the user objects of a response. */
function userObjects(v: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(v)) for (const x of v) userObjects(x, out);
  else if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o['accountId'] === 'string') out.push(o);
    for (const x of Object.values(o)) userObjects(x, out);
  }
  return out;
}

describe('jira emulator: profile visibility hides a user’s email', () => {
  let h: Harness;
  before(async () => {
    h = await harness({ seed: seedWithDana() });
  });
  after(async () => {
    await h.close();
  });
  beforeEach(async () => {
    await h.control.reset();
    await h.control.seed(seedWithDana());
  });

  it('leaves emailAddress out of issue fields, comments and changelog authors', async () => {
    const dana = h.client('dana@example.com', DANA.token);
    const { key } = await dana.issues.createIssue({
      fields: {
        project: { key: 'LOCK' },
        issuetype: { name: 'Task' },
        summary: 'Made by Dana',
        assignee: { accountId: DANA.accountId },
      },
    });
    await dana.issues.editIssue({ issueIdOrKey: key, fields: { summary: 'Edited by Dana' } });
    await dana.issueComments.addComment({ issueIdOrKey: key, comment: adf('a comment by Dana') });

    const issue = await h.bot.issues.getIssue({ issueIdOrKey: key, expand: 'changelog' });
    assert.equal(issue.fields.assignee?.accountId, DANA.accountId);
    assert.equal(issue.fields.assignee?.displayName, 'Dana Hidden');
    assert.equal(issue.fields.reporter?.accountId, DANA.accountId);
    assert.equal(issue.fields.creator?.accountId, DANA.accountId);
    const comment = issue.fields.comment?.comments?.[0];
    assert.equal(comment?.author?.accountId, DANA.accountId);
    assert.equal(issue.changelog?.histories?.[0]?.author?.accountId, DANA.accountId);
    const danas = userObjects(issue).filter((u) => u['accountId'] === DANA.accountId);
    // assignee, reporter, creator, comment author and updateAuthor, changelog author
    assert.ok(danas.length >= 6, `Dana appears ${danas.length} times`);
    for (const u of danas) assert.equal('emailAddress' in u, false, JSON.stringify(u));

    // Search renders the same user objects.
    const found = await h.bot.issueSearch.searchForIssuesUsingJqlEnhancedSearchPost({
      jql: 'project = LOCK',
      fields: ['assignee', 'reporter'],
      reconcileIssues: [Number(issue.id)],
    });
    const inSearch = userObjects(found).filter((u) => u['accountId'] === DANA.accountId);
    assert.equal(inSearch.length, 2);
    for (const u of inSearch) assert.equal('emailAddress' in u, false);
  });

  it('a user search by her email finds nobody; by name or account id it finds her, without the email', async () => {
    assert.deepEqual(await h.bot.userSearch.findUsers({ query: DANA.email }), []);
    assert.deepEqual(await h.bot.userSearch.findUsers({ query: 'dana@' }), []);
    const byName = await h.bot.userSearch.findUsers({ query: 'Dana' });
    assert.deepEqual(
      byName.map((u) => [u.accountId, u.emailAddress]),
      [[DANA.accountId, undefined]],
    );
    const byId = await h.bot.userSearch.findUsers({ accountId: DANA.accountId });
    assert.deepEqual(
      byId.map((u) => [u.accountId, 'emailAddress' in u]),
      [[DANA.accountId, false]],
    );
    const user = await h.bot.users.getUser({ accountId: DANA.accountId });
    assert.equal(user.accountId, DANA.accountId);
    assert.equal('emailAddress' in user, false);
    // A user who shows her email is found by it, with it.
    const alice = await h.bot.userSearch.findUsers({ query: ALICE.email });
    assert.deepEqual(
      alice.map((u) => [u.accountId, u.emailAddress]),
      [[ALICE.accountId, ALICE.email]],
    );
  });

  it('hides it in /myself too (the emulator shows a hidden email to no API caller)', async () => {
    const me = await h.client('dana@example.com', DANA.token).myself.getCurrentUser();
    assert.equal(me.accountId, DANA.accountId);
    assert.equal('emailAddress' in me, false);
    assert.equal((await h.bot.myself.getCurrentUser()).emailAddress, BOT.email);
  });

  it('leaves it out of webhook payloads: the acting user and the issue’s people', async () => {
    const rx = await receiver();
    try {
      await registerWebhook(h.bot, {
        name: 'lockstep',
        url: rx.url,
        events: ['jira:issue_created', 'jira:issue_updated'],
        filters: { 'issue-related-events-section': 'project = LOCK' },
      });
      const dana = h.client('dana@example.com', DANA.token);
      const { key } = await dana.issues.createIssue({
        fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary: 'Hook' },
      });
      await dana.issues.editIssue({ issueIdOrKey: key, fields: { assignee: { accountId: DANA.accountId } } });
      const got = await rx.waitFor(2);
      await h.emu.kit.webhooks.idle();
      for (const r of got) {
        const user = r.body['user'] as Record<string, unknown>;
        assert.equal(user['accountId'], DANA.accountId);
        const danas = userObjects(r.body).filter((u) => u['accountId'] === DANA.accountId);
        assert.ok(danas.length >= 2);
        for (const u of danas) assert.equal('emailAddress' in u, false, JSON.stringify(u));
      }
      const updated = got.find((r) => r.body['webhookEvent'] === 'jira:issue_updated');
      const items = (updated?.body['changelog'] as { items: Record<string, unknown>[] }).items;
      assert.deepEqual(
        items.filter((i) => i['field'] === 'assignee').map((i) => [i['to'], i['toString']]),
        [[DANA.accountId, 'Dana Hidden']],
        'the changelog names her by account id and display name only',
      );
    } finally {
      await rx.close();
    }
  });

  it('the control route changes her visibility at run time, for every rendering and search', async () => {
    await h.control.request('POST', 'jira/users/email-visibility', {
      accountId: DANA.accountId,
      hidden: false,
    });
    assert.deepEqual(
      (await h.bot.userSearch.findUsers({ query: DANA.email })).map((u) => [u.accountId, u.emailAddress]),
      [[DANA.accountId, DANA.email]],
    );
    assert.equal((await h.bot.users.getUser({ accountId: DANA.accountId })).emailAddress, DANA.email);
    await h.control.request('POST', 'jira/users/email-visibility', { accountId: ALICE.accountId });
    assert.deepEqual(await h.bot.userSearch.findUsers({ query: ALICE.email }), []);
    assert.equal('emailAddress' in (await h.bot.users.getUser({ accountId: ALICE.accountId })), false);
    await assert.rejects(
      h.control.request('POST', 'jira/users/email-visibility', { accountId: '712020:nobody' }),
      /404/,
    );
    // A reset forgets the setting with the users.
    await h.control.reset();
    await h.control.seed(testSeed());
    assert.equal((await h.bot.users.getUser({ accountId: ALICE.accountId })).emailAddress, ALICE.email);
  });
});
