/**
 * Broker SIGKILL and restart mid-stream, on a private Kafka: the broker is killed (no clean
 * shutdown) while edits and creates flow, stays down while more are made (webhooks meet a 503 and
 * the platforms retry them), and is started again on its data. Nothing may be lost or doubled.
 *
 * The pollers run here (every 2 s), as in production: they are the safety net for a webhook whose
 * retries ran out during the outage (the emulators' compressed retry schedules end after ~30 s for
 * Jira, sooner than a loaded machine restarts Kafka). Polls read our create markers (finding 4),
 * so they mirror nothing of ours, and the end checks are the clean pass's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chaosScenario } from './scenario.ts';

chaosScenario({
  name: 'broker SIGKILL and restart',
  fault: 'Kafka SIGKILLed mid-stream, down for 3 workload steps, restarted on its data',
  options: { private: ['kafka'], pollIntervalMs: 2000 },
  async run(w, load) {
    let healedAt = 0;
    await load.runSteps(async (i) => {
      if (i === 2) w.stack.signal('kafka', 'SIGKILL');
      if (i === 5) {
        const t = Date.now();
        await w.stack.start('kafka');
        healedAt = Date.now();
        // What the broker's own log says its recovery of the unclean log dir took (the rest of the
        // restart is the JVM start and the metadata log replay).
        const recovery = [
          ...readFileSync(join(w.stack.o.stateDir, 'logs', 'kafka.log'), 'utf8').matchAll(
            /Loaded (\d+) logs in (\d+)ms \(unclean/g,
          ),
        ].at(-1);
        process.stderr.write(
          `[chaos] ${w.id}: killed Kafka healthy again after ${healedAt - t} ms` +
            (recovery ? ` (log recovery: ${recovery[1]} logs in ${recovery[2]} ms)\n` : '\n'),
        );
      }
    });
    return healedAt;
  },
});
