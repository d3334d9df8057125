/**
 * A poll sees our create before its outcome (issue 7, finding 4): the Jira pollers run every
 * 500 ms, and Jira's answers to Lockstep's creates of L5 and L6 are held (the issues exist; the
 * answers do not come) until two poll rounds have passed since both were applied. The polls see
 * issues with no link and `actor: null`; only the create marker says they are ours. Without the
 * marker check each would be mirrored back into Linear as a second item.
 */
import { chaosScenario } from './scenario.ts';
import { eventually } from './workload.ts';
import type { ChaosWorld } from './world.ts';

/** Successful Jira poll rounds so far (`lockstep_ingest_polls_total{source="jira",result="ok"}`). */
async function pollRounds(w: ChaosWorld): Promise<number> {
  const text = await (await fetch(`http://${w.config.http.host}:${w.config.ingest.port}/metrics`)).text();
  return text
    .split('\n')
    .filter(
      (l) =>
        l.startsWith('lockstep_ingest_polls_total{') &&
        l.includes('source="jira"') &&
        l.includes('result="ok"'),
    )
    .reduce((n, l) => n + Number(l.slice(l.indexOf('}') + 1)), 0);
}

chaosScenario({
  name: 'a poll sees our create before its outcome',
  fault: "Jira's answers to Lockstep's 2 creates held until the 500 ms Jira poller has read the new issues",
  options: { pollIntervalMs: 500 },
  async run(w, load) {
    const bot = w.jiraEmu.kit.actors.all().find((u) => u.isBot);
    if (!bot) throw new Error("looking up the Jira emulator's bot user: none seeded");
    await w.jiraControl.request('POST', 'jira/after-apply', {
      method: 'POST',
      pathPrefix: '/rest/api/3/issue',
      actor: bot.id,
      count: 2,
      hold: true,
    });
    await load.runSteps();
    await eventually(
      "both of Lockstep's Jira creates applied, their answers held",
      async () =>
        ((await w.jiraControl.request('GET', 'jira/after-apply/held')) as { held: number }).held === 2,
      120_000,
    );
    // Two full poll rounds after both creates were applied: the pollers have read the new issues.
    const rounds = await pollRounds(w);
    await eventually(
      'two Jira poll rounds after the creates',
      async () => (await pollRounds(w)) >= rounds + 2,
      60_000,
    );
    const { released } = (await w.jiraControl.request('POST', 'jira/after-apply/release')) as {
      released: number;
    };
    if (released !== 2)
      throw new Error(`releasing the held create answers: ${released} released, 2 expected`);
    return Date.now();
  },
});
