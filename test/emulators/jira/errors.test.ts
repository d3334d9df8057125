/**
 * Requests Jira would refuse get Jira's status and `{errorMessages, errors}` body; injected faults
 * (429 with Jira's rate-limit headers, 5xx, latency, timeout) reach jira.js as they would from Jira,
 * and the ledger counts every attempt.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Version3Client } from 'jira.js';
import { BOT, adf, failure, harness, testSeed, type Harness } from './helpers.ts';

describe('jira emulator: requests Jira would refuse', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => {
    await h.close();
  });
  beforeEach(async () => {
    await h.control.reset();
    await h.control.seed(testSeed());
  });

  it('401 without credentials', async () => {
    const anonymous = new Version3Client({ host: h.emu.url });
    const r = await failure(() => anonymous.myself.getCurrentUser());
    assert.equal(r.status, 401);
    assert.deepEqual(r.body, {
      errorMessages: ['You are not authenticated. Authentication required to perform this operation.'],
      errors: {},
    });
  });

  it('404 for an unknown issue, in Jira’s words', async () => {
    const r = await failure(() => h.bot.issues.getIssue({ issueIdOrKey: 'LOCK-404' }));
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, {
      errorMessages: ['Issue does not exist or you do not have permission to see it.'],
      errors: {},
    });
  });

  it('400 with per-field errors for missing summary, unknown fields, bad priority and a non-ADF description', async () => {
    const r = await failure(() =>
      h.bot.sendRequest(
        {
          url: '/rest/api/3/issue',
          method: 'POST',
          data: {
            fields: {
              project: { key: 'LOCK' },
              issuetype: { name: 'Task' },
              description: 'plain text is not ADF in v3',
              priority: { name: 'Urgent!!' },
              customfield_99999: 'x',
            },
          },
        },
        undefined as never,
      ),
    );
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, {
      errorMessages: [],
      errors: {
        customfield_99999:
          "Field 'customfield_99999' cannot be set. It is not on the appropriate screen, or unknown.",
        summary: 'You must specify a summary of the issue.',
        description: 'Operation value must be an Atlassian Document (see the Atlassian Document Format)',
        priority: "Specify a valid 'id' or 'name' for Priority",
      },
    });
    const ledger = await h.control.ledger();
    assert.equal(ledger.entries.at(-1)?.status, 400);
    const state = await h.control.state<{ issues: unknown[] }>();
    assert.equal(state.issues.length, 0);
  });

  it('400 for what the published swagger forbids: unknown property, wrong type, unknown update operation', async () => {
    // SearchAndReconcileRequestBean has additionalProperties: false.
    const extra = await failure(() =>
      h.bot.sendRequest(
        { url: '/rest/api/3/search/jql', method: 'POST', data: { jql: 'project = LOCK', startAt: 0 } },
        undefined as never,
      ),
    );
    assert.equal(extra.status, 400);
    assert.match(
      (extra.body as { errorMessages: string[] }).errorMessages[0] ?? '',
      /additional properties \(startAt\)/,
    );

    const wrongType = await failure(() =>
      h.bot.sendRequest(
        { url: '/rest/api/3/search/jql', method: 'POST', data: { jql: 'project = LOCK', maxResults: 'ten' } },
        undefined as never,
      ),
    );
    assert.equal(wrongType.status, 400);
    assert.match(
      (wrongType.body as { errorMessages: string[] }).errorMessages[0] ?? '',
      /maxResults must be integer/,
    );

    const badQuery = await failure(() =>
      h.bot.sendRequest(
        {
          url: '/rest/api/3/search/jql',
          method: 'GET',
          params: { jql: 'project = LOCK', maxResults: 'many' },
        },
        undefined as never,
      ),
    );
    assert.equal(badQuery.status, 400);
    assert.deepEqual(badQuery.body, {
      errorMessages: [],
      errors: { maxResults: 'The value must be a integer.' },
    });

    const { key } = await h.bot.issues.createIssue({
      fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary: 'x' },
    });
    // FieldUpdateOperation allows only add/copy/edit/remove/set.
    const badOp = await failure(() =>
      h.bot.issues.editIssue({ issueIdOrKey: key, update: { labels: [{ append: 'x' } as never] } }),
    );
    assert.equal(badOp.status, 400);

    const badComment = await failure(() =>
      h.bot.sendRequest(
        { url: `/rest/api/3/issue/${key}/comment`, method: 'POST', data: { body: 'plain' } },
        undefined as never,
      ),
    );
    assert.equal(badComment.status, 400);
    assert.deepEqual(badComment.body, {
      errorMessages: [],
      errors: {
        comment: 'Operation value must be an Atlassian Document (see the Atlassian Document Format)',
      },
    });
    const noTransition = await failure(() =>
      h.bot.issues.doTransition({ issueIdOrKey: key, transition: {} }),
    );
    assert.deepEqual(noTransition.body, { errorMessages: ["Missing 'transition' identifier"], errors: {} });
  });
});

describe('jira emulator: injected faults', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
    await h.control.reset();
    await h.control.seed(testSeed());
    await h.bot.issues.createIssue({
      fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary: 'x', description: adf('y') },
    });
  });
  after(async () => {
    await h.close();
  });
  beforeEach(async () => {
    await h.control.clearFaults();
    await h.control.clearLedger();
  });

  it("429 carries Jira's rate-limit headers, then the call succeeds; the ledger counts both", async () => {
    await h.control.fault({ kind: 'rate_limit', retryAfterSec: 3, count: 1, match: { method: 'GET' } });
    const r = await failure(() => h.bot.issues.getIssue({ issueIdOrKey: 'LOCK-1' }));
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '3');
    assert.equal(r.headers['ratelimit-reason'], 'jira-burst-based');
    assert.equal(r.headers['x-ratelimit-limit'], '100');
    assert.equal(r.headers['x-ratelimit-remaining'], '0');
    const reset = Date.parse(r.headers['x-ratelimit-reset'] ?? '');
    assert.ok(reset > Date.now() && reset <= Date.now() + 3_000);
    assert.deepEqual(r.body, { errorMessages: ['Rate limit exceeded.'], errors: {} });
    const ok = await h.bot.issues.getIssue({ issueIdOrKey: 'LOCK-1', fields: ['summary'] });
    assert.equal(ok.fields.summary, 'x');
    const { summary, entries } = await h.control.ledger();
    assert.equal(summary.total, 2);
    assert.deepEqual(
      entries.map((e) => e.status),
      [429, 200],
    );
  });

  it('5xx for a window, only for the matching actor', async () => {
    await h.control.fault({
      kind: 'server_error',
      status: 503,
      forMs: 60_000,
      match: { actor: BOT.accountId },
    });
    const r = await failure(() => h.bot.myself.getCurrentUser());
    assert.equal(r.status, 503);
    assert.deepEqual(r.body, { errorMessages: ['Internal server error.'], errors: {} });
    assert.equal((await failure(() => h.bot.myself.getCurrentUser())).status, 503);
    const me = await h.alice.myself.getCurrentUser();
    assert.notEqual(me.accountId, BOT.accountId);
    const { summary } = await h.control.ledger();
    assert.deepEqual(summary.byActor, { [BOT.accountId]: 2, [me.accountId ?? '']: 1 });
  });

  it('latency delays the answer; a timeout never answers and the client gives up', async () => {
    await h.control.fault({ kind: 'latency', ms: 150, count: 1 });
    const t0 = Date.now();
    await h.bot.myself.getCurrentUser();
    assert.ok(Date.now() - t0 >= 140);

    await h.control.fault({ kind: 'timeout', count: 1 });
    const impatient = new Version3Client({
      host: h.emu.url,
      authentication: { basic: { email: BOT.email, apiToken: BOT.token } },
      baseRequestConfig: { timeout: 200 },
    });
    await assert.rejects(() => impatient.myself.getCurrentUser(), /timeout/i);
    const { entries } = await h.control.ledger();
    assert.deepEqual(
      entries.map((e) => e.status),
      [200, 0],
    );
  });
});
