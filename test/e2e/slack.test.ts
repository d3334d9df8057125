/**
 * One hub flow with a Slack card (issue 9): Linear team ENG, Jira project ENG, the Asana emulator's
 * project, and the Slack emulator's channel #eng-sync, on the real stack and processes. Each linked
 * item gets one card message (Block Kit, fields in its metadata) kept current with `chat.update`;
 * a person's reply in the card's thread becomes one comment on each tracker; a comment on a tracker
 * appears once in the thread, attributed; Lockstep's own card edits and replies never come back as
 * changes; a retried Events API delivery is deduped by `event_id`; a delivery signed more than five
 * minutes ago is refused. The Request URL is the emulated app's setting, verified by ingest's answer
 * to `url_verification` before the world starts (harness).
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { VerifyReport } from '../../services/ops/verify.ts';
import { routeName } from '../emulators/common/ledger.ts';
import {
  ASANA_PROJECT,
  SLACK_BOT_USER,
  SLACK_CHANNEL,
  SLACK_SIGNING_SECRET,
  eventually,
  settled,
  startE2E,
  type E2E,
} from './harness.ts';
import {
  asanaComments,
  asanaTasks,
  botCalls,
  jiraIssue,
  jiraIssues,
  lastSeq,
  linearIds,
  linearIssues,
  lockstep,
  slackCard,
  slackCards,
  slackThread,
  writes,
  type E2EPlatform,
} from './helpers.ts';

const TITLE = 'Card: invoices render blank in Firefox';
const PLATFORMS: E2EPlatform[] = ['linear', 'jira', 'asana', 'slack'];

describe(
  'one hub flow with a Slack card: Linear, Jira, Asana and #eng-sync (end to end)',
  { timeout: 900_000 },
  () => {
    let e: E2E;
    before(async () => {
      e = await startE2E({ asana: true, slack: true });
    });
    after(async () => {
      await e?.stop();
    });

    const seqs = () =>
      Object.fromEntries(PLATFORMS.map((p) => [p, lastSeq(e, p)])) as Record<E2EPlatform, number>;
    const botWrites = (p: E2EPlatform, since: number) => writes(botCalls(e, p, since), p);
    const assertOneWrite = (p: E2EPlatform, since: number, what = `one write on ${p}`) => {
      const w = botWrites(p, since);
      assert.equal(w.length, 1, `${what}; the writes: ${w.map(routeName).join(', ') || 'none'}`);
    };
    const card = (title: string) =>
      eventually(`the Slack card "${title}"`, () => slackCard(e, SLACK_CHANNEL, title));
    const linearIssue = (title: string) =>
      eventually(`the Linear issue "${title}"`, async () =>
        (await linearIssues(e.linearAs('carol'))).find((i) => i.title === title),
      );
    const jiraKey = async (title: string) =>
      (
        await eventually(`the Jira issue "${title}"`, async () =>
          (await jiraIssues(e.jiraAs('carol'))).find((i) => i.fields.summary === title),
        )
      ).key;
    const asanaTask = (title: string) =>
      eventually(`the Asana task "${title}"`, async () =>
        (await asanaTasks(e, ASANA_PROJECT)).find((t) => t.name === title),
      );
    const linearComments = async (title: string) =>
      (await (await e.linearAs('carol').issue((await linearIssue(title)).id)).comments()).nodes.map(
        (c) => c.body,
      );
    const jiraComments = async (key: string) =>
      ((await e.jiraAs('carol').issueComments.getComments({ issueIdOrKey: key })).comments ?? []).map((c) =>
        JSON.stringify(c.body),
      );

    it('an issue made in Linear appears in Jira, in Asana and as one card in #eng-sync', async () => {
      const bob = e.linearAs('bob');
      const ids = await linearIds(bob);
      const s0 = seqs();
      await bob.createIssue({
        teamId: ids.teamId,
        title: TITLE,
        description: 'Seen on **Firefox 133** only.',
        stateId: ids.state('In Progress'),
        assigneeId: await ids.user('alice@example.com'),
        priority: 2,
      });
      const c = await card(TITLE);
      await asanaTask(TITLE);
      await jiraKey(TITLE);
      await settled(e);
      assert.equal(c.user, SLACK_BOT_USER, 'the card is the bot’s message');
      const p = c.metadata?.event_payload ?? {};
      assert.equal(p['status'], 'In Progress');
      assert.equal(p['assignee_email'], 'alice@example.com');
      assert.equal(p['priority'], 'high', 'Linear priority 2 is high');
      const blocks = JSON.stringify(c.blocks);
      assert.match(blocks, /Card: invoices render blank in Firefox/);
      assert.match(blocks, /In Progress/);
      assert.match(blocks, /<@U0ALICE001>/, 'the assignee as a mention (users.lookupByEmail)');
      assert.equal((await slackCards(e, SLACK_CHANNEL)).length, 1, 'one card in the channel');
      const posts = botWrites('slack', s0.slack).filter((w) => w.path.endsWith('/chat.postMessage'));
      assert.equal(posts.length, 1, 'one chat.postMessage');
      // Jira creates in the workflow's first status and moves the issue with one transition.
      assert.deepEqual(
        botWrites('jira', s0.jira).map((w) => routeName(w).replace(/\/issue\/\d+\//, '/issue/{id}/')),
        ['POST /rest/api/3/issue createIssue', 'POST /rest/api/3/issue/{id}/transitions doTransition'],
      );
      // Asana creates the task in the project and files it in the status's section.
      assert.deepEqual(botWrites('asana', s0.asana).map(routeName), [
        'POST /api/1.0/tasks createTask',
        'POST /api/1.0/sections/1100000000000103/addTask addTaskForSection',
      ]);
    });

    it('settles: once the create has propagated, nobody writes (the card’s own events never come back)', async () => {
      await settled(e);
      const s0 = seqs();
      await settled(e);
      for (const p of PLATFORMS) assert.deepEqual(botWrites(p, s0[p]), [], `no writes on ${p}`);
    });

    it('an edit in Jira reaches Linear and Asana with one write each and updates the card once', async () => {
      const key = await jiraKey(TITLE);
      const before = await card(TITLE);
      await settled(e);
      const s0 = seqs();
      const renamed = `${TITLE} 133`;
      await e.jiraAs('carol').issues.editIssue({ issueIdOrKey: key, fields: { summary: renamed } });
      await linearIssue(renamed);
      await asanaTask(renamed);
      const after = await card(renamed);
      await settled(e);
      assert.equal(after.ts, before.ts, 'the same card message, edited in place');
      assertOneWrite('linear', s0.linear, 'one write in Linear');
      assertOneWrite('asana', s0.asana, 'one write in Asana');
      const slack = botWrites('slack', s0.slack);
      assert.deepEqual(
        slack.map((w) => w.path.replace(/^.*\//, '')),
        ['chat.update'],
        'one chat.update of the card, nothing else',
      );
      assert.match(JSON.stringify(after.blocks), /invoices render blank in Firefox 133/);
      assert.equal((await jiraIssue(e.jiraAs('bob'), key)).fields.summary, renamed);
    });

    it('a status change in Linear updates the card once (no thread reply unless the flow asks)', async () => {
      const title = `${TITLE} 133`;
      const c = await card(title);
      await settled(e);
      const s0 = seqs();
      const bob = e.linearAs('bob');
      const ids = await linearIds(bob);
      await bob.updateIssue((await linearIssue(title)).id, { stateId: ids.state('Done') });
      await eventually('Done on the card', async () => {
        const now = await slackCard(e, SLACK_CHANNEL, title);
        return now?.metadata?.event_payload['status'] === 'Done' ? now : undefined;
      });
      await settled(e);
      assert.deepEqual(
        botWrites('slack', s0.slack).map((w) => w.path.replace(/^.*\//, '')),
        ['chat.update'],
      );
      assert.deepEqual(await slackThread(e, SLACK_CHANNEL, c.ts), [], 'no status reply in the thread');
      assert.equal((await jiraIssue(e.jiraAs('bob'), await jiraKey(title))).fields.status?.name, 'Done');
    });

    it('a person’s reply in the card’s thread becomes one comment on each linked item', async () => {
      const title = `${TITLE} 133`;
      const c = await card(title);
      const key = await jiraKey(title);
      const task = await asanaTask(title);
      await settled(e);
      const s0 = seqs();
      await e.slackAs('alice').chat.postMessage({
        channel: SLACK_CHANNEL,
        thread_ts: c.ts,
        text: 'Reproduced on *Firefox 134* too.',
      });
      await eventually(
        'the reply as a Linear comment',
        async () =>
          (await linearComments(title)).some((b) => b.includes('Reproduced on **Firefox 134** too.')) ||
          undefined,
      );
      await eventually(
        'the reply as a Jira comment',
        async () => (await jiraComments(key)).some((b) => b.includes('Reproduced on')) || undefined,
      );
      await eventually(
        'the reply as an Asana comment',
        async () =>
          (await asanaComments(e, task.gid)).some((s) => s.text.includes('Reproduced on')) || undefined,
      );
      await settled(e);
      assertOneWrite('linear', s0.linear, 'one comment in Linear');
      assertOneWrite('jira', s0.jira, 'one comment in Jira');
      assertOneWrite('asana', s0.asana, 'one comment in Asana');
      assert.deepEqual(botWrites('slack', s0.slack), [], 'nothing written back to Slack');
      assert.equal((await slackThread(e, SLACK_CHANNEL, c.ts)).length, 1, 'the thread holds the one reply');
    });

    it('a comment in Linear appears once in the thread, attributed, and once in Jira and Asana; it never comes back', async () => {
      const title = `${TITLE} 133`;
      const c = await card(title);
      const key = await jiraKey(title);
      const task = await asanaTask(title);
      await settled(e);
      const s0 = seqs();
      await e
        .linearAs('bob')
        .createComment({ issueId: (await linearIssue(title)).id, body: 'Fixed in **PR 412**.' });
      const reply = await eventually('the comment in the card’s thread', async () =>
        (await slackThread(e, SLACK_CHANNEL, c.ts)).find((m) => m.text.includes('Fixed in')),
      );
      await eventually(
        'the comment in Jira',
        async () => (await jiraComments(key)).some((b) => b.includes('Fixed in')) || undefined,
      );
      await eventually(
        'the comment in Asana',
        async () => (await asanaComments(e, task.gid)).some((s) => s.text.includes('Fixed in')) || undefined,
      );
      await settled(e);
      assert.equal(reply.user, SLACK_BOT_USER);
      assert.match(reply.text, /^\*Bob Example\* wrote on Linear/);
      assert.match(reply.text, /Fixed in \*PR 412\*\./, 'markdown bold is mrkdwn bold');
      const slack = botWrites('slack', s0.slack);
      assert.deepEqual(
        slack.map((w) => w.path.replace(/^.*\//, '')),
        ['chat.postMessage'],
        'one reply posted, nothing else',
      );
      assertOneWrite('jira', s0.jira, 'one comment in Jira');
      assertOneWrite('asana', s0.asana, 'one comment in Asana');
      assert.deepEqual(botWrites('linear', s0.linear), [], 'the bot’s reply did not come back to Linear');
      await settled(e);
      const s1 = seqs();
      await settled(e);
      for (const p of PLATFORMS) assert.deepEqual(botWrites(p, s1[p]), [], `silence on ${p}`);
      const linearCopies = (await linearComments(title)).filter((b) => b.includes('Fixed in'));
      assert.equal(linearCopies.length, 1, 'the comment is on Linear once');
    });

    it('a retried delivery (the same event_id three times) is one comment on each side', async () => {
      const title = `${TITLE} 133`;
      const c = await card(title);
      await settled(e);
      const s0 = seqs();
      assert.ok(e.slackControl);
      await e.slackControl.fault({ kind: 'webhook_duplicate', count: 1, times: 3 });
      await e.slackAs('carol').chat.postMessage({
        channel: SLACK_CHANNEL,
        thread_ts: c.ts,
        text: 'Ship it on Thursday.',
      });
      await eventually(
        'the reply as a Linear comment',
        async () =>
          (await linearComments(title)).some((b) => b.includes('Ship it on Thursday.')) || undefined,
      );
      await settled(e);
      const copies = (await linearComments(title)).filter((b) => b.includes('Ship it on Thursday.'));
      assert.equal(copies.length, 1, 'one comment in Linear');
      assertOneWrite('linear', s0.linear);
      assertOneWrite('jira', s0.jira);
      assertOneWrite('asana', s0.asana);
    });

    it('a correctly signed delivery whose signature is more than five minutes old is refused; nothing is published', async () => {
      const title = `${TITLE} 133`;
      const c = await card(title);
      await settled(e);
      const s0 = seqs();
      const old = Math.floor(Date.now() / 1000) - 301;
      const body = JSON.stringify({
        token: 'unused',
        team_id: 'T0SANDBOX1',
        api_app_id: 'A0LOCKSTEP',
        type: 'event_callback',
        event_id: 'Ev0STALE00001',
        event_time: old,
        event: {
          type: 'message',
          channel: SLACK_CHANNEL,
          user: 'U0ALICE001',
          text: 'A replayed old delivery.',
          ts: `${old}.000100`,
          thread_ts: c.ts,
          channel_type: 'channel',
          event_ts: `${old}.000100`,
        },
      });
      const sign = (ts: number) =>
        `v0=${createHmac('sha256', SLACK_SIGNING_SECRET).update(`v0:${ts}:${body}`).digest('hex')}`;
      const url = `http://${e.config.ingest.host}:${e.config.ingest.port}/webhooks/slack`;
      const post = (ts: number) =>
        fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-slack-request-timestamp': String(ts),
            'x-slack-signature': sign(ts),
          },
          body,
        });
      const r = await post(old);
      assert.equal(r.status, 401, await r.text());
      await settled(e);
      for (const p of PLATFORMS) assert.deepEqual(botWrites(p, s0[p]), [], `nothing written on ${p}`);
      assert.ok(!(await linearComments(title)).some((b) => b.includes('A replayed old delivery.')));
    });

    it('lockstep verify reads the card and its thread back beside the three trackers and finds them in step', async () => {
      await settled(e);
      const s0 = seqs();
      const r = await lockstep(e, ['verify', '--json']);
      const report = JSON.parse(r.stdout) as VerifyReport;
      assert.equal(
        r.code,
        0,
        `${r.stderr}\n${JSON.stringify(report.drift)} ${JSON.stringify(report.missing)} ${JSON.stringify(report.errors)}`,
      );
      assert.ok(report.links.checked >= 1, `links checked: ${JSON.stringify(report.links)}`);
      assert.deepEqual(report.drift, []);
      assert.deepEqual(report.missing, []);
      for (const p of PLATFORMS) assert.deepEqual(botWrites(p, s0[p]), [], `verify wrote nothing on ${p}`);
      const reads = e
        .slackEmu!.ledger.list(s0.slack)
        .filter((x) => /conversations\.(history|replies)$/.test(x.path));
      assert.ok(reads.length >= 1, 'verify read the card channel');
    });

    it('lockstep verify finds a card changed behind Lockstep’s back (its title on the card differs)', async () => {
      const title = `${TITLE} 133`;
      const c = await card(title);
      await settled(e);
      // The bot token is Lockstep's: an edit with it and no event is what a lost write would leave.
      const payload = { ...(c.metadata?.event_payload ?? {}), title: 'Edited behind Lockstep' };
      e.slackEmu!.faults.add({ kind: 'webhook_drop', count: 1 });
      await e.slackAs('bot').chat.update({
        channel: SLACK_CHANNEL,
        ts: c.ts,
        text: 'Edited behind Lockstep',
        metadata: { event_type: 'lockstep_card', event_payload: payload as Record<string, string> },
      });
      const r = await lockstep(e, ['verify', '--json']);
      const report = JSON.parse(r.stdout) as VerifyReport;
      assert.equal(r.code, 2, `${r.stderr}\n${JSON.stringify(report)}`);
      const title_ = report.drift.filter((d) => d.field === 'title');
      assert.equal(title_.length, 1, JSON.stringify(report.drift));
      assert.deepEqual(title_[0]?.moved, ['slack']);
      // Not run here: `verify --repair` would hand the card's value to the reconciler as a change and
      // it would reach the trackers (a known bug, README Limitations of the Slack connector).
    });
  },
);

describe(
  'Slack: a thread reply whose delivery Slack never makes is caught by the poll (end to end)',
  { timeout: 600_000 },
  () => {
    let e: E2E;
    const title = 'Card recovery: the poll reads card threads';
    before(async () => {
      // Polls every 3 s: often enough to catch a lost delivery quickly, while leaving `settled` its
      // quiet windows.
      e = await startE2E({ slack: true, pollIntervalMs: 3000 });
    });
    after(async () => {
      await e?.stop();
    });

    it('a dropped reply delivery arrives through the poll, as one comment on each tracker', async () => {
      const bob = e.linearAs('bob');
      const ids = await linearIds(bob);
      await bob.createIssue({ teamId: ids.teamId, title });
      const c = await eventually('the card', () => slackCard(e, SLACK_CHANNEL, title));
      await settled(e);
      const l0 = lastSeq(e, 'linear');
      const j0 = lastSeq(e, 'jira');
      const from = e.slackEmu!.kit.webhooks.log.length;
      e.slackEmu!.faults.add({ kind: 'webhook_drop', count: 1 });
      await e
        .slackAs('alice')
        .chat.postMessage({ channel: SLACK_CHANNEL, thread_ts: c.ts, text: 'Lost in transit.' });
      const issue = await eventually('the Linear issue', async () =>
        (await linearIssues(e.linearAs('carol'))).find((i) => i.title === title),
      );
      await eventually('the reply as a Linear comment (through the poll)', async () => {
        const cs = (await (await e.linearAs('carol').issue(issue.id)).comments()).nodes;
        return cs.some((x) => x.body.includes('Lost in transit.')) || undefined;
      });
      assert.ok(
        e.slackEmu!.kit.webhooks.log.slice(from).some((d) => d.outcome === 'dropped'),
        'the delivery was dropped',
      );
      await settled(e);
      const lw = writes(botCalls(e, 'linear', l0), 'linear');
      const jw = writes(botCalls(e, 'jira', j0), 'jira');
      assert.equal(lw.length, 1, `one comment in Linear: ${lw.map(routeName).join(', ')}`);
      assert.equal(jw.length, 1, `one comment in Jira: ${jw.map(routeName).join(', ')}`);
    });
  },
);
