/** Delta search with /rest/api/3/search/jql through jira.js, and the JQL subset's rules. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseJql, parseJqlDate, matches, JqlError, type JqlIssue } from './jql.ts';
import { failure, harness, testSeed, type Harness } from './helpers.ts';

describe('jira emulator: search/jql', () => {
  let h: Harness;
  before(async () => {
    // The JQL semantics, with a search index that keeps up (lag and indexing: the next suite).
    h = await harness({ searchLagMs: 0 });
    await h.control.reset();
    await h.control.seed(testSeed());
    // As if an app's entity-property module indexed `lockstep` (an API-token client has none).
    h.emu.jira.indexedProperties.add('lockstep');
    for (let n = 1; n <= 5; n++)
      await h.bot.issues.createIssue({
        fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary: `Issue ${n}` },
      });
    await h.bot.issues.createIssue({
      fields: { project: { key: 'OTHER' }, issuetype: { name: 'Task' }, summary: 'Elsewhere' },
    });
    await h.bot.issueProperties.setIssueProperty({
      issueIdOrKey: 'LOCK-2',
      propertyKey: 'lockstep',
      propertyValue: { origin: 'linear', link: 'L-9' },
    });
    // Touch LOCK-1 last so `ORDER BY updated` differs from creation order.
    await h.alice.issues.editIssue({ issueIdOrKey: 'LOCK-1', fields: { summary: 'Issue 1 (edited)' } });
  });
  after(async () => {
    await h.close();
  });

  it('returns a delta by project and updated >= minute, ordered by updated, with fields', async () => {
    const since = new Date(Date.now() - 60_000);
    const stamp = `${since.getUTCFullYear()}/${String(since.getUTCMonth() + 1).padStart(2, '0')}/${String(since.getUTCDate()).padStart(2, '0')} ${String(since.getUTCHours()).padStart(2, '0')}:${String(since.getUTCMinutes()).padStart(2, '0')}`;
    const res = await h.bot.issueSearch.searchForIssuesUsingJqlEnhancedSearch({
      jql: `project = LOCK AND updated >= "${stamp}" ORDER BY updated ASC`,
      fields: ['summary', 'updated'],
      maxResults: 50,
    });
    // jira.js 5.4 leaves `isLast` out of its type; the swagger's SearchAndReconcileResults has it.
    assert.equal((res as { isLast?: boolean }).isLast, true);
    assert.equal(res.nextPageToken, undefined);
    assert.deepEqual(
      res.issues?.map((i) => i.key),
      ['LOCK-2', 'LOCK-3', 'LOCK-4', 'LOCK-5', 'LOCK-1'],
    );
    assert.deepEqual(Object.keys(res.issues?.[0]?.fields ?? {}).sort(), ['summary', 'updated']);
    const future = await h.bot.issueSearch.searchForIssuesUsingJqlEnhancedSearch({
      jql: `project = LOCK AND updated >= "2999/01/01 00:00"`,
    });
    assert.deepEqual(future.issues, []);
  });

  it('pages with nextPageToken over POST, and defaults fields to id', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await h.bot.issueSearch.searchForIssuesUsingJqlEnhancedSearchPost({
        jql: 'project = LOCK ORDER BY key ASC',
        maxResults: 2,
        nextPageToken: token,
      });
      pages++;
      for (const i of page.issues ?? []) {
        assert.deepEqual(Object.keys(i), ['id']);
        seen.push(i.id);
      }
      token = page.nextPageToken;
      assert.equal((page as { isLast?: boolean }).isLast, token === undefined);
    } while (token);
    assert.equal(pages, 3);
    assert.equal(new Set(seen).size, 5);
  });

  it('finds issues by property, by key list, by relative time and by epoch ms', async () => {
    const byProp = await h.bot.issueSearch.searchForIssuesUsingJqlEnhancedSearch({
      jql: 'issue.property[lockstep].origin = "linear"',
      fields: ['summary'],
    });
    assert.deepEqual(
      byProp.issues?.map((i) => i.key),
      ['LOCK-2'],
    );
    const byKey = await h.bot.issueSearch.searchForIssuesUsingJqlEnhancedSearch({
      jql: 'key in (LOCK-3, OTHER-1) ORDER BY key DESC',
      fields: ['key'],
    });
    assert.deepEqual(
      byKey.issues?.map((i) => i.key),
      ['OTHER-1', 'LOCK-3'],
    );
    const recent = await h.bot.issueSearch.searchForIssuesUsingJqlEnhancedSearch({
      jql: 'project = OTHER AND updated >= -15m',
      fields: ['summary'],
    });
    assert.equal(recent.issues?.length, 1);
    const epoch = await h.bot.issueSearch.searchForIssuesUsingJqlEnhancedSearch({
      jql: `project = OTHER AND updated >= ${Date.now() + 120_000}`,
      fields: ['summary'],
    });
    assert.equal(epoch.issues?.length, 0);
  });

  it('refuses unbounded and malformed JQL with Jira’s 400 shape', async () => {
    const unbounded = await failure(() =>
      h.bot.issueSearch.searchForIssuesUsingJqlEnhancedSearch({ jql: 'ORDER BY updated DESC' }),
    );
    assert.equal(unbounded.status, 400);
    assert.deepEqual(unbounded.body, {
      errorMessages: [
        'Unbounded JQL queries are not allowed here. Please add a search restriction to your query.',
      ],
      errors: {},
    });
    const badField = await failure(() =>
      h.bot.issueSearch.searchForIssuesUsingJqlEnhancedSearch({ jql: 'nosuchfield = 1' }),
    );
    assert.equal(badField.status, 400);
    assert.deepEqual(badField.body, {
      errorMessages: ["Field 'nosuchfield' does not exist or you do not have permission to view it."],
      errors: {},
    });
  });

  it('a text search on summary, or OR, is a plain 501 not_emulated, never a Jira error', async () => {
    for (const jql of ['project = OTHER AND summary ~ "login"', 'project = A OR project = B']) {
      const r = await failure(() => h.bot.issueSearch.searchForIssuesUsingJqlEnhancedSearch({ jql }));
      assert.equal(r.status, 501, `${jql}: ${JSON.stringify(r.body)}`);
      const body = r.body as { error?: string; detail?: string; errorMessages?: unknown };
      assert.equal(body.error, 'not_emulated');
      assert.match(body.detail ?? '', /the Jira emulator does not model/);
      assert.equal(body.errorMessages, undefined, 'not in the shape of a Jira error');
    }
  });
});

describe('jql subset (pure)', () => {
  const issue = (updatedMs: number): JqlIssue => ({
    id: '10000',
    key: 'LOCK-1',
    projectKey: 'LOCK',
    statusName: 'To Do',
    statusCategoryName: 'To Do',
    createdMs: updatedMs,
    updatedMs,
    properties: new Map([['lockstep', { origin: 'jira' }]]),
  });

  it('is minute precise: "updated >= 10:30" includes 10:30:59 and excludes 10:29:59', () => {
    const q = parseJql('project = LOCK AND updated >= "2026/05/01 10:30"');
    assert.equal(matches(q, issue(Date.UTC(2026, 4, 1, 10, 30, 59, 999)), 0), true);
    assert.equal(matches(q, issue(Date.UTC(2026, 4, 1, 10, 29, 59, 999)), 0), false);
    // An epoch-ms bound is truncated to its minute as well.
    const e = parseJql(`updated >= ${Date.UTC(2026, 4, 1, 10, 30, 45)}`);
    assert.equal(matches(e, issue(Date.UTC(2026, 4, 1, 10, 30, 1)), 0), true);
  });

  it('reads the documented date formats', () => {
    assert.equal(parseJqlDate('2026-05-01 10:30', true, 0), Date.UTC(2026, 4, 1, 10, 30));
    assert.equal(parseJqlDate('2026/05/01', true, 0), Date.UTC(2026, 4, 1));
    assert.equal(parseJqlDate('-15m', false, Date.UTC(2026, 4, 1, 10, 30, 20)), Date.UTC(2026, 4, 1, 10, 15));
    assert.throws(() => parseJqlDate('yesterday', true, 0), JqlError);
  });

  it('parses ORDER BY and rejects what Lockstep never sends rather than guessing', () => {
    assert.deepEqual(parseJql('project = A ORDER BY updated ASC, key DESC').orderBy, [
      { field: 'updated', dir: 'ASC' },
      { field: 'key', dir: 'DESC' },
    ]);
    assert.throws(() => parseJql('project = A OR project = B'), JqlError);
    assert.throws(() => parseJql('project = '), JqlError);
    assert.equal(matches(parseJql('issue.property[lockstep].origin = "jira"'), issue(0), 0), true);
  });
});

describe('jira emulator: search lags writes, and sees only indexed properties (as Jira Cloud)', () => {
  let h: Harness;
  before(async () => {
    h = await harness({ searchLagMs: 600 });
  });
  after(async () => {
    await h.close();
  });

  it('a new issue is readable by key at once, found by search only after the lag or by reconcileIssues', async () => {
    const created = await h.bot.issues.createIssue({
      fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary: 'Fresh' },
    });
    const read = await h.bot.issues.getIssue({ issueIdOrKey: created.key, fields: ['summary'] });
    assert.equal(read.fields.summary, 'Fresh');
    const search = () =>
      h.bot.issueSearch.searchForIssuesUsingJqlEnhancedSearchPost({
        jql: 'project = LOCK ORDER BY created DESC',
        fields: ['summary'],
      });
    assert.ok(!(await search()).issues?.some((i) => i.key === created.key), 'search saw a write at once');
    const reconciled = await h.bot.issueSearch.searchForIssuesUsingJqlEnhancedSearchPost({
      jql: 'project = LOCK ORDER BY created DESC',
      fields: ['summary'],
      reconcileIssues: [Number(created.id)],
    });
    assert.ok(
      reconciled.issues?.some((i) => i.key === created.key),
      'reconcileIssues did not read it',
    );
    const deadline = Date.now() + 10_000;
    while (!(await search()).issues?.some((i) => i.key === created.key)) {
      assert.ok(Date.now() < deadline, 'search never saw the new issue');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('JQL over an issue property no app indexes finds nothing; reading the property by key works', async () => {
    const created = await h.bot.issues.createIssue({
      fields: { project: { key: 'LOCK' }, issuetype: { name: 'Task' }, summary: 'Marked' },
      properties: [{ key: 'lockstep.link', value: { id: 'link-x' } }],
    });
    // Once search sees the issue, only the property rule can keep it out of the property query.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const all = await h.bot.issueSearch.searchForIssuesUsingJqlEnhancedSearchPost({
        jql: 'project = LOCK ORDER BY created DESC',
        fields: ['summary'],
      });
      if (all.issues?.some((i) => i.key === created.key)) break;
      assert.ok(Date.now() < deadline, 'search never saw the new issue');
      await new Promise((r) => setTimeout(r, 50));
    }
    const byProp = await h.bot.issueSearch.searchForIssuesUsingJqlEnhancedSearchPost({
      jql: 'issue.property[lockstep.link].id = "link-x"',
      fields: ['summary'],
    });
    assert.deepEqual(byProp.issues ?? [], []);
    const prop = await h.bot.issueProperties.getIssueProperty({
      issueIdOrKey: created.key,
      propertyKey: 'lockstep.link',
    });
    assert.deepEqual(prop.value, { id: 'link-x' });
  });
});
