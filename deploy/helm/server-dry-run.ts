/**
 * `node deploy/helm/server-dry-run.ts`: the chart against a real Kubernetes API server, by hand
 * (not part of `npm test`: the cold kube-apiserver build is too long for CI; see the chart's
 * README, "Server-side validation"). kube-apiserver and etcd are built into the cache
 * (deploy/helm/apiserver.ts) and run on loopback ports; the KEDA and prometheus-operator CRDs are
 * installed from their projects' own manifests; then every object `helm template` renders for each
 * values file in ci/ is created with `dryRun=All` and `fieldValidation=Strict` — what
 * `kubectl apply --dry-run=server` does. A few deliberately broken objects must be refused, so a
 * server that accepted anything would fail this too. Exits 1 on any unexpected answer.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { freePort } from '../../test/support/ports.ts';
import { localStackEnv } from '../local/config.ts';
import {
  buildEtcd,
  buildKubeApiserver,
  crdManifests,
  dryRunCreate,
  installCrds,
  KUBERNETES,
  startApiServer,
  type DryRunResult,
  type K8sObject,
} from './apiserver.ts';
import { installGoTool, HELM, type ToolsOptions } from './tools.ts';

const exec = promisify(execFile);
const CHART = join(import.meta.dirname, 'lockstep');
const RULES = join(import.meta.dirname, '..', 'prometheus', 'lockstep-rules.yml');
const NAMESPACE = 'sync';
const log = (line: string) => process.stderr.write(`[server-dry-run] ${line}\n`);

const env = localStackEnv();
const o: ToolsOptions = {
  cacheDir: env.cacheDir,
  go: env.go,
  logFile: join(env.cacheDir, 'kube-apiserver-build.log'),
  log,
};
const t0 = Date.now();
const etcd = await buildEtcd(o);
const kubeApiserver = await buildKubeApiserver(o);
const helm = await installGoTool({ ...o, logFile: join(env.cacheDir, 'helm-tools.log') }, HELM);
const crds = await crdManifests(o);
log(`binaries ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);

async function render(valuesFile: string): Promise<K8sObject[]> {
  const extra = valuesFile.startsWith('everything')
    ? ['--set-file', `prometheusRule.rulesFile=${RULES}`]
    : [];
  const { stdout } = await exec(
    helm,
    [
      'template',
      'lockstep',
      CHART,
      '--namespace',
      NAMESPACE,
      '--kube-version',
      KUBERNETES.version.slice(1),
    ].concat(['-f', join(CHART, 'ci', valuesFile), ...extra]),
    { maxBuffer: 64 << 20 },
  );
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((x): x is K8sObject => x !== null);
}

const scratch = mkdtempSync(join(tmpdir(), 'lockstep-apiserver-'));
const t1 = Date.now();
const server = await startApiServer({
  kubeApiserver,
  etcd,
  dir: scratch,
  ports: { etcdClient: await freePort(), etcdPeer: await freePort(), apiserver: await freePort() },
});
let failures = 0;
try {
  log(
    `kube-apiserver ${KUBERNETES.version} ready in ${((Date.now() - t1) / 1000).toFixed(1)}s at ${server.url}`,
  );
  await installCrds(server, crds);
  const ns = await server.call('POST', '/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: NAMESPACE },
  });
  if (ns.status !== 201) throw new Error(`creating namespace ${NAMESPACE}: ${JSON.stringify(ns.body)}`);
  log(`CRDs installed, namespace created in ${((Date.now() - t1) / 1000).toFixed(1)}s`);

  const files = readdirSync(join(CHART, 'ci'))
    .filter((f) => f.endsWith('-values.yaml'))
    .sort();
  for (const file of files) {
    const objects = await render(file);
    const results: DryRunResult[] = [];
    for (const x of objects) results.push(await dryRunCreate(server, x, NAMESPACE));
    const refused = results.filter((r) => r.status !== 201);
    failures += refused.length + (objects.length === 0 ? 1 : 0);
    console.log(`${file}: ${results.length - refused.length} of ${objects.length} objects accepted`);
    for (const r of refused) console.log(`  REFUSED ${r.object} (HTTP ${r.status}): ${r.message}`);
  }

  // The check must be able to fail: broken copies of rendered objects must be refused.
  const objects = await render('everything-values.yaml');
  const pick = (kind: string) => structuredClone(objects.find((x) => x.kind === kind)!);
  const deployment = pick('Deployment');
  (deployment['spec'] as Record<string, unknown>)['replicass'] = 2;
  const pdb = pick('PodDisruptionBudget');
  (pdb['spec'] as Record<string, unknown>)['minAvailable'] = 1; // beside maxUnavailable
  const scaled = pick('ScaledObject');
  (scaled['spec'] as Record<string, unknown>)['minReplicas'] = 1;
  // An unknown field fails strict decoding (400); two exclusive fields fail validation (422).
  for (const [x, status, expect] of [
    [deployment, 400, /strict decoding error: unknown field "spec.replicass"/],
    [pdb, 422, /minAvailable and maxUnavailable cannot be both set/],
    [scaled, 400, /strict decoding error: unknown field "spec.minReplicas"/],
  ] as const) {
    const r = await dryRunCreate(server, x, NAMESPACE);
    const ok = r.status === status && expect.test(r.message);
    if (!ok) failures++;
    console.log(
      `broken ${r.object}: ${ok ? 'refused as expected' : 'NOT refused as expected'} (HTTP ${r.status}: ${r.message})`,
    );
  }
} finally {
  await server.stop();
}
if (failures === 0) rmSync(scratch, { recursive: true, force: true });
else console.log(`logs kept in ${scratch}`);
console.log(
  failures === 0
    ? 'server-side dry-run: all accepted, broken objects refused'
    : `server-side dry-run: ${failures} problem(s)`,
);
process.exit(failures === 0 ? 0 : 1);
