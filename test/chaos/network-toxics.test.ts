/**
 * Latency and resets on the services' Kafka and Postgres connections (Toxiproxy, private Kafka so
 * every broker connection goes through the proxy): 300 ± 100 ms latency both ways on Kafka and
 * Postgres for the first half of the workload, then `reset_peer` (every connection reset 500 ms
 * after it opens) on Kafka, then on Postgres, each for a few seconds.
 */
import { chaosScenario, sleep } from './scenario.ts';

chaosScenario({
  name: 'latency and resets on Kafka and Postgres',
  fault: 'latency 300±100 ms on Kafka+Postgres, then reset_peer on Kafka 8 s, then on Postgres 8 s',
  options: { private: ['kafka'] },
  async run(w, load) {
    const tp = w.toxiproxy.client;
    for (const p of ['kafka', 'postgres']) {
      for (const stream of ['downstream', 'upstream'] as const)
        await tp.addToxic(p, {
          name: `latency-${stream}`,
          type: 'latency',
          stream,
          attributes: { latency: 300, jitter: 100 },
        });
    }
    await load.runSteps(async (i) => {
      if (i === 3) await tp.reset();
      if (i === 4 || i === 6) {
        const p = i === 4 ? 'kafka' : 'postgres';
        await tp.addToxic(p, { name: 'reset', type: 'reset_peer', attributes: { timeout: 500 } });
        await sleep(8000);
        await tp.removeToxic(p, 'reset');
      }
    });
    await tp.reset();
    return Date.now();
  },
});
