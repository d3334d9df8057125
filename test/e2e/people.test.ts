/**
 * People overrides end to end, on the real stack with the Linear and Jira emulators: Dana's Jira
 * profile hides her email (Jira Cloud's profile visibility), so neither direction can match her by
 * email; the `people:` entry `{ email: dana@example.com, jira: <her account id> }` carries her both
 * ways. Eve, also without a visible email in Jira and with no entry, is left unassigned in Linear
 * and the reconciler notes it (`lockstep_reconciler_notes_total{code="person_unmatched"}`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { reconcilerMetric } from './faults-support.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import { jiraIssue, jiraIssues, linearIds, linearIssues } from './helpers.ts';

const DANA = { jira: '712020:e2e-dana', linear: 'e2e-linear-user-dana', email: 'dana@example.com' };
const EVE = { jira: '712020:e2e-eve' };

describe('people overrides carry a person with no visible email (end to end)', { timeout: 600_000 }, () => {
  let e: E2E;
  before(async () => {
    e = await startE2E({ people: [{ email: DANA.email, jira: DANA.jira }] });
    // Jira shows neither Dana's nor Eve's email; Linear shows Dana's (Linear users always have one).
    for (const [id, name] of [
      [DANA.jira, 'Dana Example'],
      [EVE.jira, 'Eve Example'],
    ] as const)
      e.jiraEmu.kit.actors.add({ id, name, email: null, isBot: false, tokens: [`e2e-jira-token-${id}`] });
    e.linearEmu.kit.actors.add({
      id: DANA.linear,
      name: 'Dana Example',
      email: DANA.email,
      isBot: false,
      tokens: ['e2e-linear-token-dana'],
    });
  });
  after(async () => {
    await e?.stop();
  });

  it('Jira does not give Dana away by her email: a look-up by email finds nobody', async () => {
    const found = await e.jiraAs('carol').userSearch.findUsers({ query: DANA.email });
    assert.deepEqual(found, []);
  });

  it('a Jira issue assigned to Dana reaches Linear assigned to Dana, by the override', async () => {
    const jira = e.jiraAs('carol');
    await jira.issues.createIssue({
      fields: {
        project: { key: 'ENG' },
        issuetype: { name: 'Task' },
        summary: 'People: assigned in Jira',
        assignee: { accountId: DANA.jira },
      },
    });
    const mirrored = await eventually('the Jira issue in Linear', async () =>
      (await linearIssues(e.linearAs('alice'))).find((i) => i.title === 'People: assigned in Jira'),
    );
    assert.equal(mirrored.assignee?.email, DANA.email);
    await settled(e);
    // Nothing came back to Jira: the echo from Linear (Dana by email) is the same person key.
    const key = (await jiraIssues(jira)).find((i) => i.fields.summary === 'People: assigned in Jira')?.key;
    assert.ok(key);
    assert.equal((await jiraIssue(jira, key)).fields.assignee?.accountId, DANA.jira);
  });

  it('a Linear issue assigned to Dana reaches Jira assigned to her account, by the override', async () => {
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    await bob.createIssue({
      teamId: ids.teamId,
      title: 'People: assigned in Linear',
      assigneeId: DANA.linear,
    });
    const jira = e.jiraAs('carol');
    const mirrored = await eventually('the Linear issue in Jira, assigned', async () => {
      const i = (await jiraIssues(jira)).find((x) => x.fields.summary === 'People: assigned in Linear');
      return i && (await jiraIssue(jira, i.key)).fields.assignee ? i : undefined;
    });
    const issue = await jiraIssue(jira, mirrored.key);
    assert.equal(issue.fields.assignee?.accountId, DANA.jira);
    assert.equal(issue.fields.assignee?.emailAddress, undefined, 'Jira still hides her email');
    await settled(e);
    const linear = (await linearIssues(bob)).find((i) => i.title === 'People: assigned in Linear');
    assert.equal(linear?.assignee?.email, DANA.email, 'the echo from Jira did not unassign Linear');
  });

  it('a Jira person with no visible email and no override is left unassigned in Linear, with a note', async () => {
    const before = await reconcilerMetric(e, 'lockstep_reconciler_notes_total', { code: 'person_unmatched' });
    const jira = e.jiraAs('carol');
    await jira.issues.createIssue({
      fields: {
        project: { key: 'ENG' },
        issuetype: { name: 'Task' },
        summary: 'People: assigned to Eve',
        assignee: { accountId: EVE.jira },
      },
    });
    const mirrored = await eventually('the Eve issue in Linear', async () =>
      (await linearIssues(e.linearAs('alice'))).find((i) => i.title === 'People: assigned to Eve'),
    );
    assert.equal(mirrored.assignee, null);
    await eventually('the reconciler’s person_unmatched note', async () => {
      const now = await reconcilerMetric(e, 'lockstep_reconciler_notes_total', { code: 'person_unmatched' });
      return now > before;
    });
    await settled(e);
    // Jira keeps Eve: the unassigned Linear echo is not taken for a person's change.
    const key = (await jiraIssues(jira)).find((i) => i.fields.summary === 'People: assigned to Eve')?.key;
    assert.ok(key);
    assert.equal((await jiraIssue(jira, key)).fields.assignee?.accountId, EVE.jira);
  });
});
