/**
 * Label writes in the Linear emulator, through @linear/sdk: issueLabelCreate/Update, duplicate
 * names, labels used on issues and carried by Issue webhooks, and the label mutations the
 * emulator refuses explicitly.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { InvalidInputLinearError, LinearError, OtherLinearError, type LinearClient } from '@linear/sdk';
import type { EmulatorControl } from '../common/control-client.ts';
import { demoSeed } from './index.ts';
import { startDemo, startReceiver, type Emu } from './harness.ts';

let emu: Emu;
let control: EmulatorControl;
let client: (who: string) => LinearClient;
let bot: LinearClient;
let teamId: string;

before(async () => {
  ({ emu, control, client } = await startDemo({ webhookTimeScale: 0.0001 }));
});
after(() => emu.close());

beforeEach(async () => {
  await control.reset();
  await control.seed(demoSeed());
  bot = client('bot');
  teamId = (await bot.teams({ filter: { key: { eq: 'ENG' } } })).nodes[0]!.id;
  await control.clearLedger();
});

async function rejection(p: Promise<unknown>): Promise<LinearError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof LinearError, `expected a LinearError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the request to be rejected');
}

async function createLabel(input: Parameters<LinearClient['createIssueLabel']>[0]): Promise<string> {
  const made = await bot.createIssueLabel(input);
  assert.equal(made.success, true);
  const id = made.issueLabelId;
  assert.ok(id, 'the payload carries the new label id');
  return id;
}

describe('Linear emulator: issue labels', () => {
  it('creates a team label that issueLabels, team.labels and issueLabel(id) then return', async () => {
    const made = await bot.createIssueLabel({
      name: 'needs-triage',
      teamId,
      color: '#ff0000',
      description: 'Synced from Jira',
    });
    assert.equal(made.success, true);
    assert.ok(made.lastSyncId > 0);
    const label = (await made.issueLabel)!;
    assert.equal(label.name, 'needs-triage');
    assert.equal(label.color, '#ff0000');
    assert.equal(label.description, 'Synced from Jira');
    assert.equal(label.isGroup, false);
    assert.equal((await label.team)?.id, teamId);
    assert.equal((await label.creator)?.email, 'lockstep-bot@example.com');

    const byName = await bot.issueLabels({ filter: { name: { eq: 'needs-triage' } } });
    assert.deepEqual(
      byName.nodes.map((l) => l.id),
      [label.id],
    );
    const team = await bot.team(teamId);
    assert.ok((await team.labels()).nodes.some((l) => l.id === label.id));
    const ops = (await control.ledger()).entries.map((e) => e.operation);
    assert.equal(ops.filter((o) => o === 'issueLabelCreate').length, 1);
  });

  it('creates a workspace label without teamId; a client-chosen id is kept', async () => {
    const id = '0b6c2d2e-6a43-4c6f-9d55-0d7a3f7e8b11';
    assert.equal(await createLabel({ id, name: 'customer' }), id);
    const label = await bot.issueLabel(id);
    assert.equal(label.name, 'customer');
    assert.equal(await label.team, undefined);
    const again = await rejection(bot.createIssueLabel({ id, name: 'other' }));
    assert.ok(again instanceof InvalidInputLinearError);
  });

  it('refuses a duplicate name (ignoring case) where both labels would be usable', async () => {
    await createLabel({ name: 'Backend', teamId });
    const dup = await rejection(bot.createIssueLabel({ name: 'backend', teamId }));
    assert.ok(dup instanceof InvalidInputLinearError);
    assert.equal(dup.message, 'Duplicate label name - Label with this name already exists in the team');
    assert.equal(dup.errors?.[0]?.userError, true);
    // "bug" is a workspace label in the demo seed, so every team already has it.
    const ws = await rejection(bot.createIssueLabel({ name: 'Bug', teamId }));
    assert.ok(ws instanceof InvalidInputLinearError);
    assert.match(ws.message, /^Duplicate label name - /);
    // A workspace label would clash with the team's "Backend".
    assert.ok(
      (await rejection(bot.createIssueLabel({ name: 'backend' }))) instanceof InvalidInputLinearError,
    );
    // Another team may have its own "backend".
    await control.seed({ teams: [{ key: 'OPS', name: 'Operations' }] });
    const ops = (await bot.teams({ filter: { key: { eq: 'OPS' } } })).nodes[0]!.id;
    await createLabel({ name: 'backend', teamId: ops });
    const all = await bot.issueLabels({ filter: { name: { eqIgnoreCase: 'backend' } } });
    assert.equal(all.nodes.length, 2);
    // Nothing else was created by the refused requests.
    assert.equal((await bot.issueLabels()).nodes.length, 5);
  });

  it('refuses an empty name, an unknown team and a colour that is not hex', async () => {
    assert.ok(
      (await rejection(bot.createIssueLabel({ name: ' ', teamId }))) instanceof InvalidInputLinearError,
    );
    const team = await rejection(bot.createIssueLabel({ name: 'x', teamId: 'no-such-team' }));
    assert.equal(team.errors?.[0]?.message, 'Could not find referenced Team.');
    assert.ok(
      (await rejection(bot.createIssueLabel({ name: 'x', teamId, color: 'red' }))) instanceof
        InvalidInputLinearError,
    );
  });

  it('a created label goes on an issue, reads back on it, and the Issue webhook carries it', async () => {
    const receiver = await startReceiver();
    try {
      await bot.createWebhook({ url: receiver.url, teamId, resourceTypes: ['Issue'], secret: 's' });
      const labelId = await createLabel({ name: 'from-jira', teamId, color: '#00aa00' });
      const created = await bot.createIssue({ teamId, title: 'Labelled', labelIds: [labelId] });
      const issue = (await created.issue)!;
      assert.deepEqual(
        (await issue.labels()).nodes.map((l) => l.name),
        ['from-jira'],
      );
      const filtered = await bot.issues({ filter: { labels: { some: { id: { eq: labelId } } } } });
      assert.deepEqual(
        filtered.nodes.map((i) => i.id),
        [issue.id],
      );
      const [d] = await receiver.waitFor(1);
      const data = d!.body.data as {
        labelIds: string[];
        labels: { id: string; name: string; color: string }[];
      };
      assert.deepEqual(data.labelIds, [labelId]);
      assert.deepEqual(data.labels, [{ id: labelId, name: 'from-jira', color: '#00aa00' }]);

      // A label of another team cannot go on this team's issue.
      await control.seed({ teams: [{ key: 'OPS', name: 'Operations' }] });
      const ops = (await bot.teams({ filter: { key: { eq: 'OPS' } } })).nodes[0]!.id;
      const opsLabel = await createLabel({ name: 'ops-only', teamId: ops });
      const e = await rejection(bot.updateIssue(issue.id, { addedLabelIds: [opsLabel] }));
      assert.ok(e instanceof InvalidInputLinearError);
    } finally {
      await receiver.close();
    }
  });

  it('updates name, colour and description, with the same duplicate check', async () => {
    const id = await createLabel({ name: 'old', teamId });
    const up = await bot.updateIssueLabel(id, { name: 'new', color: '#123456', description: 'd' });
    assert.equal(up.success, true);
    const label = await bot.issueLabel(id);
    assert.deepEqual([label.name, label.color, label.description], ['new', '#123456', 'd']);
    const dup = await rejection(bot.updateIssueLabel(id, { name: 'FEATURE' }));
    assert.ok(dup instanceof InvalidInputLinearError);
    // Renaming to its own name in another case is not a clash with itself.
    assert.equal((await bot.updateIssueLabel(id, { name: 'New' })).success, true);
    const missing = await rejection(bot.updateIssueLabel('no-such-label', { name: 'x' }));
    assert.equal(missing.errors?.[0]?.message, 'Could not find referenced IssueLabel.');
  });

  it('refuses what it does not model — label groups, retiring, replaceTeamLabels, delete — explicitly', async () => {
    const id = await createLabel({ name: 'plain', teamId });
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      ['isGroup', () => bot.createIssueLabel({ name: 'g', isGroup: true }), /label groups/],
      ['parentId', () => bot.createIssueLabel({ name: 'c', teamId, parentId: id }), /label groups/],
      ['retiredAt', () => bot.createIssueLabel({ name: 'r', retiredAt: new Date() }), /retired labels/],
      [
        'replaceTeamLabels',
        () => bot.createIssueLabel({ name: 'w' }, { replaceTeamLabels: true }),
        /replaceTeamLabels: true/,
      ],
      ['delete', () => bot.deleteIssueLabel(id), /the mutation issueLabelDelete/],
      [
        'retire',
        () =>
          bot.client.rawRequest('mutation($id: String!) { issueLabelRetire(id: $id) { success } }', { id }),
        /the mutation issueLabelRetire/,
      ],
    ];
    for (const [what, call, re] of cases) {
      const e = await rejection(call());
      assert.ok(e instanceof OtherLinearError, what);
      assert.match(e.message, /Linear emulator does not support/, what);
      assert.match(e.message, re, what);
    }
    // None of them changed anything.
    const names = (await bot.issueLabels()).nodes.map((l) => l.name).sort();
    assert.deepEqual(names, ['bug', 'feature', 'improvement', 'plain']);
  });
});
