/**
 * SIGKILL under load: the reconciler and egress-jira are killed (whole process group, no clean
 * shutdown) while people create and edit issues in Linear, then restarted. Afterwards every Linear
 * issue exists exactly once in Jira with its final values, and Lockstep's writes on Jira are exactly
 * those of one clean pass: nothing lost, nothing repeated.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LedgerEntry } from '../emulators/common/ledger.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import { botCalls, jiraIssues, lastSeq, linearIds, linearIssues, writes } from './helpers.ts';

const N = 20;
const title = (i: number) => `Crash-load item ${String(i).padStart(2, '0')}`;
const edited = (i: number) => `${title(i)} (edited)`;

interface JiraState {
  issues: { id: string; key: string; fields: { summary: string }; properties: Record<string, unknown> }[];
}

/** Bot writes on Jira grouped by route, with the issue id replaced by `{id}`. */
function routesOf(entries: LedgerEntry[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const w of entries) {
    const route = `${w.method} ${w.path.replace(/\/issue\/[^/]+/, '/issue/{id}')}`;
    out[route] = (out[route] ?? 0) + 1;
  }
  return out;
}

describe('SIGKILL under load (end to end)', { timeout: 300_000 }, () => {
  let e: E2E;
  before(async () => {
    e = await startE2E();
  });
  after(async () => {
    await e?.stop();
  });

  it('reconciler killed while issues are being created: each arrives in Jira exactly once', async () => {
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    const since = lastSeq(e, 'jira');
    const lSince = lastSeq(e, 'linear');
    const create = (i: number) =>
      bob.createIssue({
        teamId: ids.teamId,
        title: title(i),
        priority: 3,
        stateId: ids.state('In Progress'),
      });
    // The first creates flow; once Jira has seen a bot create, the reconciler dies mid-stream.
    for (let i = 1; i <= 6; i++) await create(i);
    await eventually('a first create applied in Jira', async () =>
      writes(botCalls(e, 'jira', since), 'jira').some(
        (w) => w.method === 'POST' && w.path === '/rest/api/3/issue',
      ),
    );
    await e.kill('reconciler');
    // People keep working while the reconciler is dead: their changes wait in Kafka.
    for (let i = 7; i <= N; i++) await create(i);
    await e.restart('reconciler');

    const jira = e.jiraAs('carol');
    await eventually(`all ${N} issues in Jira`, async () => (await jiraIssues(jira)).length >= N, 90_000);
    await settled(e);
    const issues = await jiraIssues(jira);
    assert.equal(issues.length, N, 'no duplicate creates in Jira');
    assert.deepEqual(
      issues.map((i) => i.fields.summary).sort(),
      Array.from({ length: N }, (_, k) => title(k + 1)),
    );
    for (const i of issues) {
      assert.equal(i.fields.priority?.name, 'Medium', i.key);
      assert.equal(i.fields.status?.name, 'In Progress', i.key);
    }
    const state = await e.jiraControl.state<JiraState>();
    const markers = state.issues.map(
      (i) => (i.properties['lockstep.link'] as { id?: string } | undefined)?.id,
    );
    assert.ok(
      markers.every((m) => typeof m === 'string' && m.length > 0),
      'every Jira issue carries its create marker',
    );
    assert.equal(new Set(markers).size, N, 'each create marker is on exactly one Jira issue');

    // One clean pass per issue: one create, one transition to In Progress; nothing else.
    assert.deepEqual(routesOf(writes(botCalls(e, 'jira', since), 'jira')), {
      'POST /rest/api/3/issue': N,
      'POST /rest/api/3/issue/{id}/transitions': N,
    });
    // The creates' echoes from Jira are recognised: nothing is mirrored back to Linear.
    assert.deepEqual(writes(botCalls(e, 'linear', lSince), 'linear'), []);
  });

  it('egress-jira killed while edits are being applied: every edit lands, each exactly once', async () => {
    const bob = e.linearAs('bob');
    const jira = e.jiraAs('carol');
    const byTitle = new Map((await linearIssues(bob)).map((i) => [i.title, i.id]));
    await settled(e);
    const since = lastSeq(e, 'jira');
    const lSince = lastSeq(e, 'linear');
    const edit = async (i: number) => {
      const id = byTitle.get(title(i));
      assert.ok(id, `Linear issue ${title(i)}`);
      await bob.updateIssue(id, { title: edited(i), priority: 2 });
    };
    for (let i = 1; i <= 6; i++) await edit(i);
    await eventually('a first edit applied in Jira', async () =>
      writes(botCalls(e, 'jira', since), 'jira').some((w) => w.method === 'PUT'),
    );
    // Hold the next edit call in Jira for 3 s and kill egress while it is in flight: Jira applies
    // it, but egress dies before it can record that it did — the window where a restart repeats.
    const armed = lastSeq(e, 'jira');
    await e.jiraControl.fault({
      kind: 'latency',
      ms: 3000,
      count: 1,
      match: { method: 'PUT', pathPrefix: '/rest/api/3/issue/' },
    });
    for (let i = 7; i <= 10; i++) await edit(i);
    await eventually('egress reading an issue before its next edit', async () =>
      botCalls(e, 'jira', armed).some((w) => w.method === 'GET' && w.path.startsWith('/rest/api/3/issue/')),
    );
    await new Promise((r) => setTimeout(r, 500));
    const killedAt = Date.now();
    await e.kill('egress-jira');
    for (let i = 11; i <= N; i++) await edit(i);
    await eventually('the held edit landing in Jira after egress died', async () =>
      botCalls(e, 'jira', armed).some((w) => w.method === 'PUT' && w.atMs > killedAt),
    );
    await e.restart('egress-jira');

    await eventually(
      'every edit in Jira',
      async () => {
        const titles = new Set((await jiraIssues(jira)).map((i) => i.fields.summary));
        return Array.from({ length: N }, (_, k) => edited(k + 1)).every((t) => titles.has(t));
      },
      90_000,
    );
    await settled(e);
    const issues = await jiraIssues(jira);
    assert.equal(issues.length, N, 'no duplicate issues in Jira');
    assert.deepEqual(
      issues.map((i) => i.fields.summary).sort(),
      Array.from({ length: N }, (_, k) => edited(k + 1)),
    );
    for (const i of issues) assert.equal(i.fields.priority?.name, 'High', i.key);

    // One clean pass: one edit call per issue (title and priority together), on each issue once.
    const ws = writes(botCalls(e, 'jira', since), 'jira');
    assert.deepEqual(routesOf(ws), { 'PUT /rest/api/3/issue/{id}': N });
    assert.equal(new Set(ws.map((w) => w.path)).size, N, 'each issue written once');
    // Nothing echoed back to Linear.
    assert.deepEqual(writes(botCalls(e, 'linear', lSince), 'linear'), []);
  });
});
