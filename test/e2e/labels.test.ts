/**
 * Labels Jira cannot hold as they are: Jira labels cannot contain spaces, so the Jira connector
 * writes Linear's `needs review` as `needs_review` (connectors/jira/README.md, "Labels"). When
 * Jira shows that label back it is the same label, not a change: no second write, no drift repair,
 * Linear keeps `needs review`; and a person's edits of it in Jira still sync. One world for all.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LedgerEntry } from '../emulators/common/ledger.ts';
import { routeName } from '../emulators/common/ledger.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import {
  botCalls,
  jiraIssue as jiraIssueByKey,
  jiraIssues,
  lastSeq,
  linearIds,
  linearIssues,
  writes,
} from './helpers.ts';

type Platform = 'linear' | 'jira';
const other = (p: Platform): Platform => (p === 'linear' ? 'jira' : 'linear');
const sorted = (xs: readonly string[]) => [...xs].sort();

/** Bot writes on a platform (Jira's POST …/comment/list is a read, see fields.test.ts). */
function botWrites(e: E2E, platform: Platform, since: number): LedgerEntry[] {
  return writes(botCalls(e, platform, since), platform).filter((x) => !x.path.endsWith('/comment/list'));
}

const JIRA_EDIT = /^PUT \/rest\/api\/3\/issue\/\d+ editIssue$/;
const LINEAR_UPDATE = /^POST \/graphql issueUpdate$/;

describe('labels with spaces between Linear and Jira (end to end)', { timeout: 600_000 }, () => {
  let e: E2E;
  let linearId = '';
  let jiraKey = '';

  before(async () => {
    e = await startE2E();
    // A Linear label with a space, present before the issue is made (seeded, not created by the bot).
    await e.linearControl.seed({ labels: [{ name: 'needs review', color: '#f2c94c' }] });
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    const created = await bob.createIssue({
      teamId: ids.teamId,
      title: 'Labels: a space Jira cannot hold',
      labelIds: [ids.label('bug')],
    });
    const issue = await created.issue;
    assert.ok(issue, 'Linear returned the created issue');
    linearId = issue.id;
    const mirrored = await eventually('the issue in Jira', async () =>
      (await jiraIssues(e.jiraAs('carol'))).find(
        (i) => i.fields.summary === 'Labels: a space Jira cannot hold',
      ),
    );
    jiraKey = mirrored.key;
    await settled(e);
  });
  after(async () => {
    await e?.stop();
  });

  const linearLabels = async () => {
    const found = (await linearIssues(e.linearAs('alice'))).find((i) => i.id === linearId);
    assert.ok(found, `Linear issue ${linearId} exists`);
    return sorted(found.labels.nodes.map((l) => l.name));
  };
  const jiraLabels = async () => {
    const found = await jiraIssueByKey(e.jiraAs('alice'), jiraKey);
    return sorted(found.fields.labels ?? []);
  };

  /**
   * One person's edit on `from`: waits until `probe` sees it on the other side, for the pipeline to
   * settle, then checks that no bot call at all happens for 3 s more. Returns the bot's writes.
   */
  async function step(
    what: string,
    from: Platform,
    act: () => Promise<unknown>,
    probe: () => Promise<boolean>,
  ): Promise<{ there: LedgerEntry[]; here: LedgerEntry[] }> {
    const since = { linear: lastSeq(e, 'linear'), jira: lastSeq(e, 'jira') };
    await act();
    await eventually(what, probe);
    await settled(e);
    const there = botWrites(e, other(from), since[other(from)]);
    const here = botWrites(e, from, since[from]);
    const quiet = { linear: lastSeq(e, 'linear'), jira: lastSeq(e, 'jira') };
    await settled(e); // a loop would keep work pending or make calls here
    assert.deepEqual(botCalls(e, 'linear', quiet.linear).map(routeName), [], 'no Linear calls once settled');
    assert.deepEqual(botCalls(e, 'jira', quiet.jira).map(routeName), [], 'no Jira calls once settled');
    return { there, here };
  }
  function oneWrite(r: { there: LedgerEntry[]; here: LedgerEntry[] }, route: RegExp) {
    const there = r.there.map(routeName);
    assert.equal(there.length, 1, `one write on the other side, got ${JSON.stringify(there)}`);
    assert.match(there[0]!, route);
    assert.deepEqual(r.here.map(routeName), [], 'no write back on the edited side');
  }
  const setLinearLabels = async (names: string[]) => {
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    await bob.updateIssue(linearId, { labelIds: names.map((n) => ids.label(n)) });
  };
  const setJiraLabels = (labels: string[]) =>
    e.jiraAs('carol').issues.editIssue({ issueIdOrKey: jiraKey, fields: { labels } });

  it('starts with bug on both sides', async () => {
    assert.deepEqual(await linearLabels(), ['bug']);
    assert.deepEqual(await jiraLabels(), ['bug']);
  });

  it('Linear adds "needs review": Jira holds needs_review after one write, Linear keeps "needs review"', async () => {
    const r = await step(
      'needs_review in Jira',
      'linear',
      () => setLinearLabels(['bug', 'needs review']),
      async () => (await jiraLabels()).includes('needs_review'),
    );
    oneWrite(r, JIRA_EDIT);
    assert.deepEqual(await jiraLabels(), ['bug', 'needs_review']);
    assert.deepEqual(await linearLabels(), ['bug', 'needs review']);
  });

  it('Linear adds another label while Jira holds needs_review: one write, nothing refused as stale', async () => {
    const r = await step(
      'improvement in Jira',
      'linear',
      () => setLinearLabels(['bug', 'needs review', 'improvement']),
      async () => (await jiraLabels()).includes('improvement'),
    );
    oneWrite(r, JIRA_EDIT);
    assert.deepEqual(await jiraLabels(), ['bug', 'improvement', 'needs_review']);
    assert.deepEqual(await linearLabels(), ['bug', 'improvement', 'needs review']);
  });

  it('Jira adds a label: Linear gets it and keeps "needs review" (not needs_review)', async () => {
    const r = await step(
      'feature in Linear',
      'jira',
      () => setJiraLabels(['bug', 'improvement', 'needs_review', 'feature']),
      async () => (await linearLabels()).includes('feature'),
    );
    oneWrite(r, LINEAR_UPDATE);
    assert.deepEqual(await linearLabels(), ['bug', 'feature', 'improvement', 'needs review']);
    assert.deepEqual(await jiraLabels(), ['bug', 'feature', 'improvement', 'needs_review']);
  });

  it('Jira removes needs_review: Linear loses "needs review"', async () => {
    const r = await step(
      '"needs review" gone from Linear',
      'jira',
      () => setJiraLabels(['bug', 'improvement', 'feature']),
      async () => !(await linearLabels()).includes('needs review'),
    );
    oneWrite(r, LINEAR_UPDATE);
    assert.deepEqual(await linearLabels(), ['bug', 'feature', 'improvement']);
    assert.deepEqual(await jiraLabels(), ['bug', 'feature', 'improvement']);
  });
});
