/**
 * The Linear ↔ Jira guarantees with Asana in the flow (issue 9): one hub world of Linear ENG,
 * Jira ENG and the Asana emulator's project, on the real stack and processes.
 *  - Concurrent edits of one field on Linear and on Asana are settled by the field's policy, made
 *    deterministic as in conflicts.test.ts: with egress-asana killed, a person edits the field in
 *    Linear, the reconciler commands Asana (the command waits in Kafka), then another person edits
 *    the field in Asana. Policies: title last-write-wins (the default), assignee prefer
 *    [linear, asana], description merge, dueDate manual.
 *  - Asana webhook deliveries duplicated and reordered cost one write per edit elsewhere. (Dropped
 *    deliveries caught by the Events API poll are the lead's asana-recovery test: this world has
 *    no poll, so `settled` can wait on silence.)
 *  - A 429 with Retry-After and 5xx answers on egress-asana's writes: the write lands once after.
 *  - SIGKILL of egress-asana while a create's and then an edit's answer is lost (the emulator made
 *    the write, egress never heard): after the restart every item is in Asana once with its
 *    values, and Lockstep's writes on Asana are those of one clean pass.
 *  - A replay of the whole changes topic writes nothing anywhere and changes nothing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Conflict, WriteCommand } from '../../schemas/generated/types.ts';
import { killService } from '../../services/app/launcher.ts';
import type { LedgerEntry } from '../emulators/common/ledger.ts';
import { ASANA_PROJECT, eventually, settled, startE2E, type E2E } from './harness.ts';
import {
  asanaTasks,
  botCalls,
  jiraIssues,
  lastSeq,
  linearIds,
  linearIssues,
  writes,
  type AsanaTaskView,
  type E2EPlatform,
} from './helpers.ts';
import { jiraIssue, linearIssue, recordTopics, type TopicRecorder } from './conflicts-support.ts';
import { botId, changesCount, lockstep, reconcilerCaughtUp, reconcilerMetric } from './faults-support.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'lockstep.mjs');
const ASANA = { alice: '1100000000000011', bob: '1100000000000012', carol: '1100000000000013' };
const P1 = 'The export runs nightly.';
const P2 = 'It writes one CSV per team.';
const P3 = 'Files are kept for a week.';
const PLATFORMS: E2EPlatform[] = ['linear', 'jira', 'asana'];
const ok = (status: number) => status >= 200 && status < 300;

interface Item {
  title: string;
  linearId: string;
  jiraKey: string;
  asanaGid: string;
  linkId: string;
}
type Case = 'lww' | 'prefer' | 'merge' | 'manual';

/** Bot writes grouped by route, gids replaced by `{gid}`. */
function routesOf(entries: LedgerEntry[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const w of entries) {
    const route = `${w.method} ${w.path.replace(/\/\d{6,}/g, '/{gid}')}`;
    out[route] = (out[route] ?? 0) + 1;
  }
  return out;
}

describe(
  'Asana in the hub: conflicts, faulty deliveries, 429/5xx, SIGKILL, replay (end to end)',
  {
    timeout: 900_000,
  },
  () => {
    let e: E2E;
    let rec: TopicRecorder;
    const items = {} as Record<Case, Item>;
    const linearEdit = { from: 0, to: 0 };
    const asanaEdit = { from: 0, to: 0 };

    const task = async (gid: string): Promise<AsanaTaskView> => {
      const t = (await asanaTasks(e, ASANA_PROJECT)).find((x) => x.gid === gid);
      if (!t) throw new Error(`reading Asana task ${gid}: not in the project`);
      return t;
    };
    const taskNamed = (name: string) =>
      eventually(`the Asana task "${name}"`, async () =>
        (await asanaTasks(e, ASANA_PROJECT)).find((t) => t.name === name),
      );
    const conflictFor = (c: Case, field: string, status?: Conflict['status']): Conflict | undefined =>
      rec.conflicts.findLast(
        (x) => x.linkId === items[c].linkId && x.field === field && (!status || x.status === status),
      );
    const cli = async (...args: string[]) =>
      (
        await promisify(execFile)(process.execPath, [BIN, ...args, '-c', e.pipeline.configFile], {
          timeout: 60_000,
        })
      ).stdout;
    const seqs = () =>
      Object.fromEntries(PLATFORMS.map((p) => [p, lastSeq(e, p)])) as Record<E2EPlatform, number>;
    const botWrites = (p: E2EPlatform, since: Record<E2EPlatform, number>) =>
      writes(botCalls(e, p, since[p]), p);

    before(async () => {
      e = await startE2E({
        asana: true,
        fields: {
          default: 'last-write-wins',
          assignee: { prefer: ['linear', 'asana'] },
          description: 'merge',
          dueDate: 'manual',
        },
        egress: { backoffBaseMs: 100, backoffMaxMs: 1000 },
      });
      rec = await recordTopics(e, 'asana');
      const bob = e.linearAs('bob');
      const ids = await linearIds(bob);
      const titles: Record<Case, string> = {
        lww: 'Asana conflict LWW: search is slow',
        prefer: 'Asana conflict prefer: login times out',
        merge: 'Asana conflict merge: nightly CSV export',
        manual: 'Asana conflict manual: release checklist',
      };
      for (const [c, title] of Object.entries(titles) as [Case, string][]) {
        const issue = await (
          await bob.createIssue({
            teamId: ids.teamId,
            title,
            description: `${P1}\n\n${P2}\n\n${P3}`,
            assigneeId: await ids.user('bob@example.com'),
            dueDate: '2030-01-15',
          })
        ).issue;
        assert.ok(issue, `creating ${title} in Linear`);
        items[c] = { title, linearId: issue.id, jiraKey: '', asanaGid: '', linkId: '' };
      }
      for (const item of Object.values(items)) {
        item.asanaGid = (await taskNamed(item.title)).gid;
        item.jiraKey = (
          await eventually(`${item.title} in Jira`, async () =>
            (await jiraIssues(e.jiraAs('carol'))).find((i) => i.fields.summary === item.title),
          )
        ).key;
        const row = await e.db.query<{ link_id: string }>(
          `select link_id from reconciler_link_entities where flow_id = 'eng' and platform = 'asana' and entity_id = $1`,
          [item.asanaGid],
        );
        assert.equal(row.rowCount, 1, `one link for ${item.title}`);
        item.linkId = row.rows[0]!.link_id;
      }
      await settled(e);
    });

    after(async () => {
      await rec?.stop();
      await e?.stop();
    });

    describe('concurrent edits on Linear and Asana', () => {
      it('both sides edit while egress-asana is down: Asana’s edit meets the reconciler’s write in flight', async () => {
        for (const item of Object.values(items)) {
          const t = await task(item.asanaGid);
          assert.equal(t.assignee?.email, 'bob@example.com', item.title);
          assert.equal(t.due_on, '2030-01-15', item.title);
          assert.ok(t.html_notes.includes(P3), `${item.title}: ${t.html_notes}`);
        }
        const none = await e.db.query('select conflict_id from reconciler_conflicts');
        assert.equal(none.rowCount, 0, 'no conflict before the concurrent edits');

        await e.kill('egress-asana');
        const bob = e.linearAs('bob');
        linearEdit.from = Date.now();
        await bob.updateIssue(items.lww.linearId, { title: 'Search is slow (Linear)' });
        await bob.updateIssue(items.prefer.linearId, {
          assigneeId: await (await linearIds(bob)).user('alice@example.com'),
        });
        await bob.updateIssue(items.merge.linearId, {
          description: `The export runs nightly at 02:00.\n\n${P2}\n\n${P3}`,
        });
        await bob.updateIssue(items.manual.linearId, { dueDate: '2030-02-01' });
        linearEdit.to = Date.now();

        // The reconciler has accepted each Linear edit and commanded Asana; the commands wait in Kafka.
        const commanded = (c: Case, cond: (cmd: WriteCommand) => boolean) =>
          rec.commands.some((cmd) => cmd.linkId === items[c].linkId && cmd.action === 'update' && cond(cmd));
        await eventually(
          'the four commands to Asana',
          async () =>
            commanded('lww', (c) => c.fields.title === 'Search is slow (Linear)') &&
            commanded('prefer', (c) => c.fields.assignee?.email === 'alice@example.com') &&
            commanded('merge', (c) => /02:00/.test(c.fields.description ?? '')) &&
            commanded('manual', (c) => c.fields.dueDate === '2030-02-01'),
        );

        // Carol edits the same fields in Asana, as a person does: the description in place (its
        // create-marker line stays).
        const carol = e.asanaAs('carol');
        const notes = (await task(items.merge.asanaGid)).html_notes;
        asanaEdit.from = Date.now();
        await carol.tasks.updateTask({ data: { name: 'Search is slow (Asana)' } }, items.lww.asanaGid);
        await carol.tasks.updateTask({ data: { assignee: ASANA.carol } }, items.prefer.asanaGid);
        await carol.tasks.updateTask(
          { data: { html_notes: notes.replace('a week', 'a month') } },
          items.merge.asanaGid,
        );
        await carol.tasks.updateTask({ data: { due_on: '2030-03-01' } }, items.manual.asanaGid);
        asanaEdit.to = Date.now();

        await eventually('a conflict per edited field', async () =>
          [
            conflictFor('lww', 'title'),
            conflictFor('prefer', 'assignee'),
            conflictFor('merge', 'description'),
            conflictFor('manual', 'dueDate'),
          ].every(Boolean),
        );

        await e.restart('egress-asana');
        await eventually(
          'an outcome for every command to Asana',
          async () =>
            rec.commands.every((cmd) =>
              rec.outcomes.some((o) => o.commandId === cmd.commandId || o.coalesced.includes(cmd.commandId)),
            ),
          90_000,
        );
        await settled(e);
        assert.deepEqual(
          rec.conflicts
            .map((c) => `${Object.entries(items).find(([, i]) => i.linkId === c.linkId)?.[0]}:${c.field}`)
            .sort(),
          ['lww:title', 'manual:dueDate', 'merge:description', 'prefer:assignee'],
        );
        const rows = await e.db.query<{ field: string; status: string }>(
          'select field, status from reconciler_conflicts order by field',
        );
        assert.deepEqual(
          rows.rows.map((r) => `${r.field}:${r.status}`),
          ['assignee:resolved', 'description:resolved', 'dueDate:open', 'title:resolved'],
        );
      });

      it('last-write-wins: Asana’s later edit wins on all three sides; the Conflict shows both times', async () => {
        const c = conflictFor('lww', 'title');
        assert.ok(c);
        assert.equal(c.policy, 'last-write-wins');
        assert.equal(c.status, 'resolved');
        assert.equal(c.resolvedBy, 'policy:last-write-wins');
        assert.equal(c.baseJson, JSON.stringify(items.lww.title));
        assert.equal(c.resolutionJson, JSON.stringify('Search is slow (Asana)'));
        const l = c.sides.find((s) => s.platform === 'linear');
        const a = c.sides.find((s) => s.platform === 'asana');
        assert.ok(l && a);
        assert.equal(l.valueJson, JSON.stringify('Search is slow (Linear)'));
        assert.equal(a.valueJson, JSON.stringify('Search is slow (Asana)'));
        assert.equal(a.entityId, items.lww.asanaGid);
        assert.ok(
          l.tsMs >= linearEdit.from && l.tsMs <= linearEdit.to,
          `Linear time ${l.tsMs} within its edit`,
        );
        assert.ok(a.tsMs >= asanaEdit.from && a.tsMs <= asanaEdit.to, `Asana time ${a.tsMs} within its edit`);
        assert.ok(a.tsMs > l.tsMs);

        assert.equal(
          (await linearIssue(e.linearAs('alice'), items.lww.linearId)).title,
          'Search is slow (Asana)',
        );
        assert.equal(
          (await jiraIssue(e.jiraAs('alice'), items.lww.jiraKey)).summary,
          'Search is slow (Asana)',
        );
        assert.equal((await task(items.lww.asanaGid)).name, 'Search is slow (Asana)');
      });

      it('prefer [linear, asana]: Linear’s assignee wins on all three sides although Asana’s edit is later', async () => {
        const c = conflictFor('prefer', 'assignee');
        assert.ok(c);
        assert.equal(c.policy, 'prefer:linear>asana');
        assert.equal(c.status, 'resolved');
        assert.equal(c.baseJson, JSON.stringify('bob@example.com'));
        assert.equal(c.resolutionJson, JSON.stringify('alice@example.com'));
        const l = c.sides.find((s) => s.platform === 'linear');
        const a = c.sides.find((s) => s.platform === 'asana');
        assert.ok(l && a);
        assert.equal(l.valueJson, JSON.stringify('alice@example.com'));
        assert.equal(a.valueJson, JSON.stringify('carol@example.com'));
        assert.ok(a.tsMs > l.tsMs, 'Asana’s edit is the later one, and still loses');

        assert.equal(
          (await linearIssue(e.linearAs('alice'), items.prefer.linearId)).assignee,
          'alice@example.com',
        );
        const j = await e
          .jiraAs('alice')
          .issues.getIssue({ issueIdOrKey: items.prefer.jiraKey, fields: ['assignee'] });
        assert.equal(j.fields.assignee?.emailAddress, 'alice@example.com');
        assert.equal((await task(items.prefer.asanaGid)).assignee?.email, 'alice@example.com');
      });

      it('merge: the description’s non-overlapping edits (Linear’s first paragraph, Asana’s last) are merged on all three', async () => {
        const c = conflictFor('merge', 'description');
        assert.ok(c);
        assert.equal(c.policy, 'merge');
        assert.equal(c.status, 'resolved');
        assert.equal(c.baseJson, JSON.stringify(`${P1}\n\n${P2}\n\n${P3}`));
        const merged = `The export runs nightly at 02:00.\n\n${P2}\n\nFiles are kept for a month.`;
        assert.equal(c.resolutionJson, JSON.stringify(merged));

        assert.equal((await linearIssue(e.linearAs('alice'), items.merge.linearId)).description, merged);
        assert.deepEqual((await jiraIssue(e.jiraAs('alice'), items.merge.jiraKey)).paragraphs, [
          'The export runs nightly at 02:00.',
          P2,
          'Files are kept for a month.',
        ]);
        const notes = (await task(items.merge.asanaGid)).html_notes;
        assert.match(
          notes,
          /^<body>The export runs nightly at 02:00\.\n\nIt writes one CSV per team\.\n\nFiles are kept for a month\./,
        );
        assert.match(notes, /lockstep-link:/, 'the create marker line is kept');
      });

      it('manual: an open Conflict holds the field; resolve --take asana converges all three', async () => {
        const c = conflictFor('manual', 'dueDate');
        assert.ok(c);
        assert.equal(c.policy, 'manual');
        assert.equal(c.status, 'open');
        assert.equal(c.resolutionJson, null);
        assert.equal(c.baseJson, JSON.stringify('2030-01-15'));
        const l = c.sides.find((s) => s.platform === 'linear');
        const a = c.sides.find((s) => s.platform === 'asana');
        assert.ok(l && a);
        assert.equal(l.valueJson, JSON.stringify('2030-02-01'));
        assert.equal(a.valueJson, JSON.stringify('2030-03-01'));
        assert.equal(a.entityId, items.manual.asanaGid);
        assert.ok(a.tsMs >= asanaEdit.from && a.tsMs <= asanaEdit.to);

        // Held: Asana keeps Carol's date (the write computed before her edit was refused as stale).
        assert.equal((await linearIssue(e.linearAs('alice'), items.manual.linearId)).dueDate, '2030-02-01');
        assert.equal((await task(items.manual.asanaGid)).due_on, '2030-03-01');

        // A further edit on Linear does not reach Asana while the field is held.
        const since = seqs();
        await e.linearAs('bob').updateIssue(items.manual.linearId, { dueDate: '2030-04-01' });
        await settled(e);
        assert.deepEqual(botWrites('asana', since), []);
        assert.equal((await task(items.manual.asanaGid)).due_on, '2030-03-01');

        const out = await cli('conflicts', 'resolve', c.conflictId, '--take', 'asana');
        assert.match(out, new RegExp(`resolved ${c.conflictId}: dueDate = "2030-03-01"`));
        await eventually(
          'Linear and Jira take Asana’s due date',
          async () =>
            (await linearIssue(e.linearAs('alice'), items.manual.linearId)).dueDate === '2030-03-01' &&
            (await jiraIssue(e.jiraAs('alice'), items.manual.jiraKey)).duedate === '2030-03-01',
        );
        await settled(e);
        assert.equal((await task(items.manual.asanaGid)).due_on, '2030-03-01');
        const resolved = conflictFor('manual', 'dueDate', 'resolved');
        assert.ok(resolved, 'the resolution is published on the conflicts topic');
        assert.equal(resolved.resolvedBy, 'cli');

        // Released: an Asana edit of the field syncs again.
        await e.asanaAs('carol').tasks.updateTask({ data: { due_on: '2030-05-01' } }, items.manual.asanaGid);
        await eventually(
          'the next due date edit reaches Linear and Jira',
          async () =>
            (await linearIssue(e.linearAs('alice'), items.manual.linearId)).dueDate === '2030-05-01' &&
            (await jiraIssue(e.jiraAs('alice'), items.manual.jiraKey)).duedate === '2030-05-01',
        );
        await settled(e);
      });
    });

    describe('faulty Asana webhook deliveries and answers', () => {
      let gid: string;
      before(async () => {
        gid = items.lww.asanaGid;
        await settled(e);
      });

      it('an Asana webhook delivered three times costs one write in Linear and one in Jira', async () => {
        const since = seqs();
        const before = (await e.asanaControl!.deliveries()).length;
        await e.asanaControl!.fault({ kind: 'webhook_duplicate', count: 1, times: 3 });
        await e.asanaAs('carol').tasks.updateTask({ data: { name: 'Faults (dup)' } }, gid);
        await eventually(
          'the rename in Linear',
          async () => (await linearIssue(e.linearAs('alice'), items.lww.linearId)).title === 'Faults (dup)',
        );
        await settled(e);

        const byId = new Map<string, number>();
        for (const d of (await e.asanaControl!.deliveries()).slice(before))
          if (d.outcome === 'delivered') byId.set(d.deliveryId, (byId.get(d.deliveryId) ?? 0) + 1);
        assert.ok([...byId.values()].includes(3), `deliveries: ${JSON.stringify([...byId])}`);
        assert.equal(botWrites('linear', since).length, 1);
        assert.equal(botWrites('jira', since).length, 1);
        assert.deepEqual(botWrites('asana', since), []);
        assert.equal((await jiraIssue(e.jiraAs('alice'), items.lww.jiraKey)).summary, 'Faults (dup)');
      });

      it('two Asana edits whose webhooks arrive reversed end at the later edit, with one write each', async () => {
        const since = seqs();
        const before = (await e.asanaControl!.deliveries()).length;
        await e.asanaControl!.fault({ kind: 'webhook_reorder', count: 2 });
        const carol = e.asanaAs('carol');
        await carol.tasks.updateTask({ data: { name: 'Faults (first)' } }, gid);
        await carol.tasks.updateTask({ data: { name: 'Faults (second)' } }, gid);
        await eventually(
          'the later rename in Linear',
          async () =>
            (await linearIssue(e.linearAs('alice'), items.lww.linearId)).title === 'Faults (second)',
        );
        await settled(e);

        const delivered = (await e.asanaControl!.deliveries())
          .slice(before)
          .filter((d) => d.outcome === 'delivered');
        assert.equal(new Set(delivered.map((d) => d.deliveryId)).size, 2);
        assert.equal((await jiraIssue(e.jiraAs('alice'), items.lww.jiraKey)).summary, 'Faults (second)');
        assert.equal((await linearIssue(e.linearAs('alice'), items.lww.linearId)).title, 'Faults (second)');
        assert.equal(botWrites('linear', since).length, 1);
        assert.equal(botWrites('jira', since).length, 1);
        assert.deepEqual(botWrites('asana', since), []);
      });

      it('a 429 from Asana is honoured: no bot request before Retry-After, and the edit lands once', async () => {
        const since = seqs();
        await e.asanaControl!.fault({
          kind: 'rate_limit',
          retryAfterSec: 2,
          count: 1,
          match: { actor: botId(e, 'asana'), method: 'PUT', pathPrefix: '/api/1.0/tasks/' },
        });
        await e.linearAs('bob').updateIssue(items.lww.linearId, { title: 'Faults (429)' });
        await taskNamed('Faults (429)');
        await settled(e);

        const calls = botCalls(e, 'asana', since.asana);
        const limited = calls.filter((c) => c.status === 429);
        assert.equal(limited.length, 1, JSON.stringify(calls));
        const afterIt = calls.filter((c) => c.seq > limited[0]!.seq);
        assert.ok(afterIt.length > 0, 'the write was retried');
        for (const c of afterIt)
          assert.ok(
            c.atMs - limited[0]!.atMs >= 2000,
            `${c.method} ${c.path} ${c.atMs - limited[0]!.atMs} ms after the 429 (Retry-After 2 s)`,
          );
        assert.deepEqual(
          writes(calls, 'asana').map((c) => `${c.method} ${c.status}`),
          ['PUT 429', 'PUT 200'],
        );
        assert.equal(botWrites('jira', since).length, 1);
      });

      it('5xx answers from Asana are retried and the edit lands once', async () => {
        const since = seqs();
        await e.asanaControl!.fault({
          kind: 'server_error',
          status: 500,
          count: 2,
          match: { actor: botId(e, 'asana'), method: 'PUT', pathPrefix: '/api/1.0/tasks/' },
        });
        await e.linearAs('bob').updateIssue(items.lww.linearId, { title: 'Faults (5xx)' });
        await taskNamed('Faults (5xx)');
        await settled(e);
        assert.deepEqual(
          botWrites('asana', since).map((c) =>
            c.status >= 500 ? 'error' : ok(c.status) ? 'ok' : String(c.status),
          ),
          ['error', 'error', 'ok'],
        );
        assert.equal((await task(gid)).name, 'Faults (5xx)');
      });
    });

    describe('SIGKILL of egress-asana with a write made and its answer lost', () => {
      const N = 6;
      const title = (i: number) => `Asana crash item ${i}`;
      const edited = (i: number) => `${title(i)} (edited)`;
      const crashTasks = async () =>
        (await asanaTasks(e, ASANA_PROJECT)).filter((t) => t.name.startsWith('Asana crash item'));
      /** Waits for the bot's write the armed `timeout` fault swallowed (made, never answered), then kills egress. */
      const killOnLostAnswer = async (since: number, method: string, path: RegExp) => {
        await eventually(`a ${method} on Asana whose answer is withheld`, async () =>
          botCalls(e, 'asana', since).some((w) => w.method === method && path.test(w.path) && ok(w.status)),
        );
        await e.kill('egress-asana');
      };

      it('creates: every Linear issue is in Asana once, in its section, and the writes are one clean pass', async () => {
        await settled(e);
        const since = seqs();
        const bob = e.linearAs('bob');
        const ids = await linearIds(bob);
        await e.asanaControl!.fault({
          kind: 'timeout',
          applied: true,
          count: 1,
          match: { actor: botId(e, 'asana'), method: 'POST', pathPrefix: '/api/1.0/tasks' },
        });
        const create = (i: number) =>
          bob.createIssue({ teamId: ids.teamId, title: title(i), stateId: ids.state('In Progress') });
        for (let i = 1; i <= N / 2; i++) await create(i);
        await killOnLostAnswer(since.asana, 'POST', /^\/api\/1\.0\/tasks$/);
        for (let i = N / 2 + 1; i <= N; i++) await create(i);
        await e.restart('egress-asana');

        await eventually(`all ${N} tasks in Asana`, async () => (await crashTasks()).length >= N, 90_000);
        await settled(e);
        const ts = await crashTasks();
        assert.deepEqual(
          ts.map((t) => t.name).sort(),
          Array.from({ length: N }, (_, k) => title(k + 1)),
        );
        for (const t of ts) assert.equal(t.memberships[0]?.section?.name, 'In progress', t.name);
        assert.deepEqual(routesOf(botWrites('asana', since)), {
          'POST /api/1.0/tasks': N,
          'POST /api/1.0/sections/{gid}/addTask': N,
        });
        const jira = (await jiraIssues(e.jiraAs('carol'))).filter((i) =>
          i.fields.summary.startsWith('Asana crash item'),
        );
        assert.equal(jira.length, N, 'each in Jira once');
        assert.deepEqual(botWrites('linear', since), [], 'nothing mirrored back to Linear');
      });

      it('edits: every edit lands in Asana, each task written exactly once', async () => {
        await settled(e);
        const since = seqs();
        const bob = e.linearAs('bob');
        const byTitle = new Map((await linearIssues(bob)).map((i) => [i.title, i.id]));
        const edit = async (i: number) => {
          const id = byTitle.get(title(i));
          assert.ok(id, `Linear issue ${title(i)}`);
          await bob.updateIssue(id, { title: edited(i) });
        };
        await e.asanaControl!.fault({
          kind: 'timeout',
          applied: true,
          count: 1,
          match: { actor: botId(e, 'asana'), method: 'PUT', pathPrefix: '/api/1.0/tasks/' },
        });
        for (let i = 1; i <= N / 2; i++) await edit(i);
        await killOnLostAnswer(since.asana, 'PUT', /^\/api\/1\.0\/tasks\/\d+$/);
        for (let i = N / 2 + 1; i <= N; i++) await edit(i);
        await e.restart('egress-asana');

        await eventually(
          'every edit in Asana',
          async () => {
            const names = new Set((await crashTasks()).map((t) => t.name));
            return Array.from({ length: N }, (_, k) => edited(k + 1)).every((t) => names.has(t));
          },
          90_000,
        );
        await settled(e);
        assert.equal((await crashTasks()).length, N, 'no task added');
        const ws = botWrites('asana', since);
        assert.deepEqual(routesOf(ws), { 'PUT /api/1.0/tasks/{gid}': N });
        assert.equal(new Set(ws.map((w) => w.path)).size, N, 'each task written once');
        assert.deepEqual(botWrites('linear', since), []);
      });
    });

    it('a replay of the whole changes topic writes nothing on any side and changes nothing', async (t) => {
      await settled(e);
      const snapshot = async () => ({
        linear: (await linearIssues(e.linearAs('alice'))).map((i) => ({
          ...i,
          labels: i.labels.nodes.length,
        })),
        jira: (await jiraIssues(e.jiraAs('carol'))).map((i) => ({ key: i.key, fields: i.fields })),
        asana: await asanaTasks(e, ASANA_PROJECT),
      });
      const state = await snapshot();
      const since = seqs();
      const records = await changesCount(e);
      assert.ok(records > 0);

      await killService(e.pipeline, 'reconciler', 'SIGTERM');
      const out = await lockstep(['replay', '--from-beginning', '-c', e.pipeline.configFile, '--wait', '60']);
      assert.match(out, new RegExp(`will replay ${records} records`));
      await e.restart('reconciler');
      const t0 = Date.now();
      // The restarted reconciler counts from zero: every replayed record must be a duplicate.
      let seen = { caughtUp: false, duplicates: 0 };
      await eventually(
        `the reconciler to read the ${records} records of the changes topic again`,
        async () => {
          seen = {
            caughtUp: await reconcilerCaughtUp(e),
            duplicates: await reconcilerMetric(e, 'lockstep_reconciler_notes_total', { code: 'duplicate' }),
          };
          return seen.caughtUp && seen.duplicates >= records;
        },
        120_000,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}; last seen: ${JSON.stringify(seen)}`);
      });
      t.diagnostic(`caught up on ${records} records in ${Date.now() - t0} ms`);
      assert.equal(
        await reconcilerMetric(e, 'lockstep_reconciler_notes_total', { code: 'duplicate' }),
        records,
      );
      await settled(e);
      for (const p of PLATFORMS) assert.deepEqual(botWrites(p, since), [], `no write on ${p}`);
      assert.deepEqual(await snapshot(), state);
    });

    it('settles: after everything above nobody writes', async () => {
      await settled(e);
      const since = seqs();
      await settled(e);
      for (const p of PLATFORMS) assert.deepEqual(botWrites(p, since), [], `no write on ${p}`);
    });
  },
);
