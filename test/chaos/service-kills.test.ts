/**
 * SIGKILL of every service in turn during the same workload: ingest, the reconciler, egress-linear
 * and egress-jira are each killed (whole process group, no clean shutdown) right after a workload
 * step, while its work is in flight, and restarted after the next step.
 */
import { chaosScenario } from './scenario.ts';

chaosScenario({
  name: 'every service SIGKILLed in turn',
  fault: 'SIGKILL of ingest, reconciler, egress-linear, egress-jira, one after another',
  async run(w, load) {
    const order = ['ingest', 'reconciler', 'egress-linear', 'egress-jira'];
    const missing = order.filter((s) => !w.services().includes(s));
    if (missing.length > 0) throw new Error(`killing services: no ${missing.join(', ')} in this pipeline`);
    let killed: string | undefined;
    await load.runSteps(async (i) => {
      if (killed) {
        await w.restart(killed);
        killed = undefined;
      }
      const next = i % 2 === 0 ? order[i / 2] : undefined;
      if (next) {
        await w.kill(next);
        killed = next;
      }
    });
    if (killed) await w.restart(killed);
    return Date.now();
  },
});
