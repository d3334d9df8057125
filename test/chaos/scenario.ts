/** One chaos scenario per test file: a world, the workload, the fault, the end checks. */
import { after, before, describe, it } from 'node:test';
import { startChaosWorld, type ChaosOptions, type ChaosWorld } from './world.ts';
import { writeDiagnosis } from './diagnose.ts';
import { checkEnd, workload, type EndExpectations, type Workload } from './workload.ts';

export interface Scenario {
  name: string;
  /** What the fault is, for the result line. */
  fault: string;
  options?: ChaosOptions;
  /** How long the end state may take after the heal (default 180 s); say why when longer. */
  convergeMs?: number;
  /** What the end state holds beyond one clean pass (the expected poison record, its retry's write). */
  expect?: EndExpectations;
  /**
   * Runs the workload's steps with the fault applied and healed; resolves with the time it was
   * healed (the end checks' convergence is measured from there).
   */
  run(w: ChaosWorld, load: Workload): Promise<number>;
}

export function chaosScenario(s: Scenario): void {
  describe(`chaos: ${s.name}`, { timeout: 600_000 }, () => {
    let w: ChaosWorld | undefined;
    let failed = false;
    before(async () => {
      w = await startChaosWorld(s.options);
    });
    after(async () => {
      await w?.stop(failed);
    });
    it(`${s.fault}: every item equal on both sides, once each, clean-pass writes, nothing pending, ${s.expect?.deadLetters ? `exactly the ${s.expect.deadLetters} expected dead letter(s)` : 'nothing dead-lettered'}`, async () => {
      if (!w) throw new Error('starting the chaos world: failed');
      try {
        const load = workload(w);
        await load.seed();
        const healedAt = await s.run(w, load);
        await checkEnd(w, s.name, s.fault, healedAt, s.convergeMs, s.expect);
      } catch (err) {
        failed = true;
        // Read while the world still runs: where the items stopped, for the kept logs.
        const file = await writeDiagnosis(w);
        process.stderr.write(`[chaos] ${s.name}: failed; state at the failure in ${file}\n`);
        throw err;
      }
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
