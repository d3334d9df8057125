/**
 * Issue 7, finding 2, end to end: Postgres connections of the running services are terminated
 * (`pg_terminate_backend`, as a failover or a restarted pooler does) again and again while people
 * create and edit issues. Nothing may be dead-lettered, no service may die, and every item ends
 * right on the other side once the connections are back. Then the supervisor: a SIGKILLed
 * service comes back by itself, and the launcher's status shows the restart.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { killServiceProcess, pipelineStatus } from '../../services/app/launcher.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import { deadLetters } from './faults-support.ts';
import { botCalls, jiraIssues, lastSeq, linearIds, writes } from './helpers.ts';

const N = 12;
const title = (i: number) => `PG fault item ${String(i).padStart(2, '0')}`;

describe('Postgres connections dropped under load (end to end)', { timeout: 420_000 }, () => {
  let e: E2E;
  before(async () => {
    e = await startE2E();
  });
  after(async () => {
    await e?.stop();
  });

  it('pg_terminate_backend of every service connection while issues sync: nothing dead-lettered, no service dies, all arrive', async (t) => {
    const before = await pipelineStatus(e.pipeline, e.config);
    const pids = new Map(before.map((s) => [s.name, s.pid]));
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    const since = lastSeq(e, 'jira');

    // Kill the services' connections (application_name lockstep-<service>) again and again, but
    // only once the pipeline has made a step since the last kill (a new Lockstep write in Jira),
    // then 150 ms later. Killing on a fixed clock instead starved it on a loaded machine: when one
    // reconciler transaction takes longer than the interval, every attempt dies and nothing moves,
    // which is a property of the test's clock, not of a failover (a failover happens once).
    const killed = new Map<string, number>();
    let stop = false;
    let rounds = 0;
    const progress = () => writes(botCalls(e, 'jira', since), 'jira').length;
    const terminator = (async () => {
      let mark = -1;
      while (!stop) {
        if (progress() === mark) {
          await new Promise((res) => setTimeout(res, 50));
          continue;
        }
        mark = progress();
        const r = await e.db.query<{ app: string }>(
          `select application_name as app, pg_terminate_backend(pid) from pg_stat_activity
            where datname = current_database() and application_name like 'lockstep-%'`,
        );
        rounds++;
        for (const row of r.rows) killed.set(row.app, (killed.get(row.app) ?? 0) + 1);
        await new Promise((res) => setTimeout(res, 150));
      }
    })();
    try {
      const created: string[] = [];
      for (let i = 1; i <= N; i++) {
        const p = await bob.createIssue({ teamId: ids.teamId, title: title(i) });
        created.push((await p.issue)!.id);
      }
      await eventually(
        `all ${N} issues in Jira while connections drop`,
        async () => (await jiraIssues(e.jiraAs('carol'))).length >= N,
        120_000,
      );
      for (const [i, id] of created.entries())
        await bob.updateIssue(id, { title: `${title(i + 1)} (edited)` });
      await eventually(
        `all ${N} edits in Jira while connections drop`,
        async () =>
          (await jiraIssues(e.jiraAs('carol'))).filter((x) => x.fields.summary.endsWith('(edited)')).length >=
          N,
        120_000,
      );
    } finally {
      stop = true;
      await terminator;
    }
    t.diagnostic(`${rounds} kill rounds; backends terminated: ${JSON.stringify([...killed])}`);
    for (const app of ['lockstep-reconciler', 'lockstep-egress-jira'])
      assert.ok(
        (killed.get(app) ?? 0) > 0,
        `${app}'s connections were terminated: ${JSON.stringify([...killed])}`,
      );
    await settled(e);

    const issues = await jiraIssues(e.jiraAs('carol'));
    assert.deepEqual(
      issues.map((i) => i.fields.summary).sort(),
      Array.from({ length: N }, (_, k) => `${title(k + 1)} (edited)`),
      'each item once in Jira, edited',
    );
    const creates = writes(botCalls(e, 'jira', since), 'jira').filter(
      (w) => w.method === 'POST' && w.path === '/rest/api/3/issue',
    );
    assert.equal(creates.length, N, 'one create per item');
    assert.deepEqual(
      (await deadLetters(e)).map((d) => `${d.stage}: ${d.error.message}`),
      [],
      'no dead letters',
    );
    const afterStatus = await pipelineStatus(e.pipeline, e.config);
    for (const s of afterStatus) {
      assert.equal(s.running, true, `${s.name} is running`);
      assert.equal(s.restarts, 0, `${s.name} never died (last exit ${JSON.stringify(s.lastExit)})`);
      assert.equal(s.pid, pids.get(s.name), `${s.name} is the same process`);
    }
  });

  it('a SIGKILLed service is restarted by its supervisor, and status shows the restart', async () => {
    const killedPid = await killServiceProcess(e.pipeline, 'reconciler');
    const back = await eventually(
      'the reconciler back up under a new pid',
      async () => {
        const s = (await pipelineStatus(e.pipeline, e.config)).find((x) => x.name === 'reconciler');
        return s?.healthy && s.pid !== killedPid && s;
      },
      90_000,
    );
    assert.equal(back.restarts, 1);
    assert.equal(back.lastExit?.signal, 'SIGKILL');
    assert.equal(back.crashLoop, false);
    assert.equal(back.state, 'running');
    // And it works: a new issue still reaches Jira.
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    await bob.createIssue({ teamId: ids.teamId, title: 'After the restart' });
    await eventually(
      'the new issue in Jira',
      async () => (await jiraIssues(e.jiraAs('carol'))).some((i) => i.fields.summary === 'After the restart'),
      60_000,
    );
  });
});
