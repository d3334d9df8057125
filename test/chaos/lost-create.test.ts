/**
 * A lost Jira create answer while search lags (issue 7, finding 5): Jira applies Lockstep's creates
 * of L5 and L6 and answers each with a 503 (as a gateway that timed out after the write would),
 * while its search shows writes only 2 s late (the emulator's default `searchLagMs`, as Jira
 * Cloud's search lags). Egress retries each create; before retrying it must find the issue it
 * already made (its create marker), or Jira ends with two issues for one item.
 */
import { chaosScenario } from './scenario.ts';
import { eventually } from './workload.ts';

chaosScenario({
  name: 'a lost Jira create answer while search lags',
  fault: "Jira answers Lockstep's 2 creates 503 after applying them; search 2 s behind writes",
  async run(w, load) {
    const bot = w.jiraEmu.kit.actors.all().find((u) => u.isBot);
    if (!bot) throw new Error("looking up the Jira emulator's bot user: none seeded");
    const lag = (await w.jiraControl.request('POST', 'jira/search', {})) as { lagMs: number };
    if (!(lag.lagMs > 0))
      throw new Error(`the Jira emulator's search does not lag (${lag.lagMs} ms): the test would prove less`);
    await w.jiraControl.request('POST', 'jira/after-apply', {
      method: 'POST',
      pathPrefix: '/rest/api/3/issue',
      actor: bot.id,
      count: 2,
      status: 503,
    });
    await load.runSteps();
    // The fault bit: both creates were applied and answered 503.
    await eventually(
      "both of Lockstep's Jira creates answered 503 after they were applied",
      async () =>
        w.jiraEmu.ledger
          .list(w.startSeq.jira)
          .filter(
            (x) =>
              x.actor === bot.id && x.method === 'POST' && x.path === '/rest/api/3/issue' && x.status === 503,
          ).length === 2,
      120_000,
    );
    return Date.now();
  },
});
