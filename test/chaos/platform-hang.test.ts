/**
 * A platform that hangs (issue 7, finding 8): Toxiproxy's `timeout` toxic (timeout 0) between the
 * services and the Jira emulator lets connections open but passes no byte either way, for 30 s,
 * while edits and creates flow both ways; then it is removed. Linear-bound work must not wait on
 * Jira, and once Jira answers everything converges with no write repeated.
 *
 * Note what this does not prove: when the toxic is removed Toxiproxy delivers the held bytes, so a
 * client with no timeout also recovers here; a per-call timeout is proven by egress's own tests.
 */
import assert from 'node:assert/strict';
import { chaosScenario, sleep } from './scenario.ts';
import { botWrites, eventually, FINAL_TITLES, sideViews } from './workload.ts';

const HANG_MS = 30_000;

chaosScenario({
  name: 'platform hangs',
  fault: `Jira passes no byte for ${HANG_MS / 1000} s (toxiproxy timeout toxic)`,
  async run(w, load) {
    const tp = w.toxiproxy.client;
    await tp.addToxic('jira', {
      name: 'hang-down',
      type: 'timeout',
      stream: 'downstream',
      attributes: { timeout: 0 },
    });
    await tp.addToxic('jira', {
      name: 'hang-up',
      type: 'timeout',
      stream: 'upstream',
      attributes: { timeout: 0 },
    });
    const hungAt = Date.now();
    await load.runSteps();
    // Items born in Jira reach Linear during the hang: ingest takes Jira's webhooks, and Linear's
    // egress does not wait on Jira.
    const jiraBorn = FINAL_TITLES.filter((t) => t.startsWith('J'));
    await eventually(
      'the Jira-born items and Jira edits in Linear while Jira hangs',
      async () => {
        const titles = new Set((await sideViews(w)).linear.map((x) => x.title));
        return jiraBorn.every((t) => titles.has(t)) && titles.has('L3 edited in Jira');
      },
      HANG_MS - 5000,
    );
    await sleep(Math.max(0, HANG_MS - (Date.now() - hungAt)));
    // The fault bit: no write of Lockstep's reached Jira while it hung.
    const during = botWrites(w, 'jira').filter((x) => x.atMs > hungAt);
    assert.deepEqual(during, [], 'no Lockstep write reached Jira while it hung');
    await tp.removeToxic('jira', 'hang-down');
    await tp.removeToxic('jira', 'hang-up');
    return Date.now();
  },
});
