/**
 * Asana's delivery guarantees and how Lockstep makes up for them (issue 9, Asana acceptance), on
 * the real stack and processes with the Asana emulator as a third side of the flow and a 3 s
 * poll: the handshake's secret, learned inside the registration window, still verifies deliveries
 * after ingest restarts (it is in Postgres); a webhook Asana never delivers (at most once) is
 * caught by the Events API poll; an expired sync token (412) makes the poller read the project in
 * full, and a change made while it was expired, whose webhook was also lost, is not lost.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AsanaControl } from '../emulators/asana/control.ts';
import { ASANA_PROJECT, eventually, settled, startE2E, type E2E } from './harness.ts';
import { botCalls, lastSeq, linearIssues, writes } from './helpers.ts';

describe(
  'Asana: handshake secret, dropped webhooks, expired sync tokens (end to end)',
  { timeout: 600_000 },
  () => {
    let e: E2E;
    let gid: string;
    before(async () => {
      // Polls every 3 s: often enough to catch a lost webhook quickly, and leaving `settled` its quiet
      // windows (three pollers every 500 ms would answer requests all the time).
      e = await startE2E({ asana: true, pollIntervalMs: 3000 });
      const made: { data: { gid: string } } = await e.asanaAs('alice').tasks.createTask({
        data: { name: 'Recovery: the first task', projects: [ASANA_PROJECT] },
      });
      gid = made.data.gid;
      await eventually('the Asana task in Linear', async () =>
        (await linearIssues(e.linearAs('bob'))).find((i) => i.title === 'Recovery: the first task'),
      );
      await settled(e);
    });
    after(async () => {
      await e?.stop();
    });

    const log = () => e.asanaEmu!.kit.webhooks.log;
    const rename = (name: string) => e.asanaAs('carol').tasks.updateTask({ data: { name } }, gid);
    const inLinear = (title: string) =>
      eventually(`"${title}" in Linear`, async () =>
        (await linearIssues(e.linearAs('bob'))).find((i) => i.title === title),
      );

    it('the handshake secret was learned with a real signature and still verifies after ingest restarts', async () => {
      const secrets = await e.db.query<{ n: number }>(
        "select count(*)::int as n from webhook_secrets where platform = 'asana'",
      );
      assert.equal(secrets.rows[0]!.n, 1, 'one secret learned in the registration handshake');
      const open = await e.db.query('select 1 from webhook_registrations');
      assert.equal(open.rowCount, 0, 'the registration window was closed after registering');

      await e.kill('ingest');
      await e.restart('ingest');
      const from = log().length;
      const l0 = lastSeq(e, 'linear');
      await rename('Recovery: renamed after the restart');
      await inLinear('Recovery: renamed after the restart');
      const after = log().slice(from);
      assert.ok(
        after.some((d) => d.outcome === 'delivered' && d.status === 200),
        `a delivery after the restart was accepted: ${JSON.stringify(after)}`,
      );
      assert.deepEqual(
        after.filter((d) => d.status === 401),
        [],
        'no delivery was refused for its signature',
      );
      await settled(e);
      assert.equal(writes(botCalls(e, 'linear', l0), 'linear').length, 1, 'one write in Linear');
    });

    it("a stranger's handshake (no registration in progress) is refused and teaches ingest nothing; Asana's signed heartbeat is accepted", async () => {
      const url = `http://${e.config.ingest.host}:${e.config.ingest.port}/webhooks/asana`;
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'x-hook-secret': 'a-strangers-secret' },
        body: '',
      });
      assert.equal(res.status, 403, await res.text());
      assert.equal(res.headers.get('x-hook-secret'), null, 'the secret is not echoed');
      const secrets = await e.db.query('select secret from webhook_secrets where platform = $1', ['asana']);
      assert.equal(secrets.rowCount, 1, 'still only the registration’s secret');
      // Signed with the stranger's secret, a delivery is refused.
      const forged = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-hook-signature': createHmac('sha256', 'a-strangers-secret')
            .update('{"events":[]}')
            .digest('hex'),
        },
        body: '{"events":[]}',
      });
      assert.equal(forged.status, 401);
      const from = log().length;
      const beat = await new AsanaControl(e.asanaEmu!.url).heartbeat();
      assert.equal(beat.webhooks.length, 1, JSON.stringify(beat));
      await eventually('the heartbeat delivered', async () =>
        log()
          .slice(from)
          .find((d) => d.outcome === 'delivered' && d.status === 200),
      );
    });

    it('a webhook Asana never delivers is caught by the Events API poll', async () => {
      await settled(e);
      const from = log().length;
      e.asanaEmu!.faults.add({ kind: 'webhook_drop', count: 1 });
      const l0 = lastSeq(e, 'linear');
      await rename('Recovery: renamed, webhook lost');
      await inLinear('Recovery: renamed, webhook lost');
      assert.ok(
        log()
          .slice(from)
          .some((d) => d.outcome === 'dropped'),
        'the delivery was dropped',
      );
      await settled(e);
      assert.equal(writes(botCalls(e, 'linear', l0), 'linear').length, 1, 'one write in Linear');
    });

    it('an expired sync token (412) is recovered by a full read: a change whose webhook was lost meanwhile arrives', async () => {
      await settled(e);
      const expired = await new AsanaControl(e.asanaEmu!.url).expireSyncTokens();
      assert.ok(expired.expired >= 1, `the poller's token expired (${JSON.stringify(expired)})`);
      e.asanaEmu!.faults.add({ kind: 'webhook_drop', count: 1 });
      const l0 = lastSeq(e, 'linear');
      await rename('Recovery: renamed while the token was expired');
      await inLinear('Recovery: renamed while the token was expired');
      await settled(e);
      assert.equal(writes(botCalls(e, 'linear', l0), 'linear').length, 1, 'one write in Linear');
      // The poller holds a fresh token again: the next lost webhook is caught by events, not a full read.
      e.asanaEmu!.faults.add({ kind: 'webhook_drop', count: 1 });
      await rename('Recovery: renamed with the fresh token');
      await inLinear('Recovery: renamed with the fresh token');
      const tasks = await e.asanaAs('alice').tasks.getTasksForProject(ASANA_PROJECT, { opt_fields: 'name' });
      assert.equal(
        (tasks as { data: { name: string }[] }).data.filter((t) => t.name.startsWith('Recovery:')).length,
        1,
        'still one task in Asana',
      );
    });
  },
);
