/**
 * Registry down while consumers restart (issue 7, finding 1): the registry refuses connections
 * (its Toxiproxy proxy disabled: the listener closed, every open connection cut) while the
 * reconciler and both egress services are SIGKILLed and restarted, so they come back with cold
 * schema caches and cannot fetch a writer schema; people keep editing and creating meanwhile. A
 * record that cannot be decoded because the registry is unreachable is not poison: the consumers
 * must wait and retry, and nothing may be dead-lettered.
 */
import { egressPort } from '../../services/app/config.ts';
import type { ChaosWorld } from './world.ts';
import { chaosScenario, sleep } from './scenario.ts';

const OUTAGE_MS = 20_000;

/** `lockstep_decode_retries_total` of the reconciler and each egress, summed over topics. */
async function decodeRetries(w: ChaosWorld): Promise<Record<string, number>> {
  const ports = {
    reconciler: w.config.reconciler.port,
    'egress-linear': egressPort(w.config, 'linear'),
    'egress-jira': egressPort(w.config, 'jira'),
  };
  const out: Record<string, number> = {};
  for (const [name, port] of Object.entries(ports)) {
    const text = await (await fetch(`http://${w.config.http.host}:${port}/metrics`)).text();
    out[name] = text
      .split('\n')
      .filter((l) => l.startsWith('lockstep_decode_retries_total{'))
      .reduce((n, l) => n + Number(l.slice(l.indexOf('}') + 1)), 0);
  }
  return out;
}

chaosScenario({
  name: 'registry down while consumers restart',
  fault: `registry refusing connections ${OUTAGE_MS / 1000} s; reconciler and egress restarted cold meanwhile`,
  async run(w, load) {
    const tp = w.toxiproxy.client;
    await tp.setEnabled('registry', false);
    const cutAt = Date.now();
    // The fault bit: the services' registry address refuses connections now.
    const refused = await fetch(`${w.config.registry.url}/subjects`, {
      signal: AbortSignal.timeout(5000),
    }).then(
      () => false,
      () => true,
    );
    if (!refused) throw new Error(`cutting the registry: ${w.config.registry.url} still answers`);
    for (const s of ['reconciler', 'egress-linear', 'egress-jira']) {
      await w.kill(s);
      await w.restart(s);
    }
    await load.runSteps();
    // The outage lasts OUTAGE_MS at least, and until the path it is about was reached: restarted
    // cold, the reconciler met a record whose writer schema it had never fetched, and waited on it
    // (counted, not dead-lettered). On a loaded machine the restarts and the steps can take longer
    // than OUTAGE_MS, and a fixed window then ended before the reconciler had read anything.
    let retries: Record<string, number> = {};
    const deadline = Date.now() + 180_000;
    for (;;) {
      retries = await decodeRetries(w).catch(() => retries); // a restarted service may not listen yet
      if (Date.now() - cutAt >= OUTAGE_MS && retries['reconciler']! > 0) break;
      if (Date.now() > deadline)
        throw new Error(
          `the reconciler never waited on an undecodable record during the outage (180 s after the steps): ${JSON.stringify(retries)}`,
        );
      await sleep(250);
    }
    await tp.setEnabled('registry', true);
    const healedAt = Date.now();
    process.stderr.write(
      `[chaos] registry cut for ${((healedAt - cutAt) / 1000).toFixed(1)} s; decode waits ${JSON.stringify(retries)}\n`,
    );
    return healedAt;
  },
});
