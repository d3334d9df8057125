/**
 * Broker SIGKILL and restart mid-stream, on a private Kafka: the broker is killed (no clean
 * shutdown) while edits and creates flow, stays down while more are made (webhooks meet a 503 and
 * the platforms retry them), and is started again on its data. Nothing may be lost or doubled.
 */
import { chaosScenario } from './scenario.ts';

chaosScenario({
  name: 'broker SIGKILL and restart',
  fault: 'Kafka SIGKILLed mid-stream, down for 3 workload steps, restarted on its data',
  // Kafka takes 30–90 s to come back on a loaded 2-core machine, and ingest answers 503 to the
  // webhooks meanwhile: the platforms' compressed retries must outlast that, as the real ones
  // (hours) do. At 0.05 Jira retries for 150 s (5 tries); Linear retries after 3 s and then after
  // 180 s, so a Linear webhook refused twice arrives up to ~185 s after it was sent; the end state
  // may therefore take that plus the pipeline's own time after the heal.
  options: { private: ['kafka'], webhookTimeScale: 0.05 },
  convergeMs: 300_000,
  async run(w, load) {
    let healedAt = 0;
    await load.runSteps(async (i) => {
      if (i === 2) w.stack.signal('kafka', 'SIGKILL');
      if (i === 5) {
        await w.stack.start('kafka');
        healedAt = Date.now();
      }
    });
    return healedAt;
  },
});
