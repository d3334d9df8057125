/**
 * Broker SIGKILL and restart mid-stream, on a private Kafka: the broker is killed (no clean
 * shutdown) while edits and creates flow, stays down while more are made (webhooks meet a 503 and
 * the platforms retry them), and is started again on its data. Nothing may be lost or doubled.
 */
import { chaosScenario } from './scenario.ts';

chaosScenario({
  name: 'broker SIGKILL and restart',
  fault: 'Kafka SIGKILLed mid-stream, down for 3 workload steps, restarted on its data',
  // Kafka takes up to a minute to come back on a loaded 2-core machine: the platforms' compressed
  // webhook retries must outlast it, as the real ones (hours) do. At 0.02 Jira retries for ~60 s
  // (5 tries) and Linear's second retry comes 72 s after its first.
  options: { private: ['kafka'], webhookTimeScale: 0.02 },
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
