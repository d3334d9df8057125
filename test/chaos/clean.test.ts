/**
 * The chaos suite's control: the workload with no fault. Its writes are "one clean pass"
 * (CLEAN_PASS in workload.ts), which every fault scenario must match exactly.
 */
import { chaosScenario } from './scenario.ts';

chaosScenario({
  name: 'clean pass',
  fault: 'no fault',
  async run(_w, load) {
    await load.runSteps();
    return Date.now();
  },
});
