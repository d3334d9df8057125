/**
 * A real Kubernetes API server on loopback, for a server-side dry-run of what the chart renders:
 * `kube-apiserver` built from `k8s.io/kubernetes` and `etcd` from `go.etcd.io/etcd/server/v3`, both
 * with the Go module proxy, cached under `<cache>/kube-apiserver/<version>/` and
 * `<cache>/etcd/<version>/` (the same cache and locks as deploy/helm/tools.ts).
 *
 * `go install k8s.io/kubernetes/cmd/kube-apiserver@v1.X.Y` is refused: k8s.io/kubernetes's go.mod
 * replaces its k8s.io/* staging modules with `./staging/...` directories. The build is therefore a
 * small module of its own that requires k8s.io/kubernetes and replaces each staging module with its
 * published release (v0.X.Y for v1.X.Y). etcd's server module has the same kind of replaces, so
 * it too is built from a module of its own.
 *
 * Nothing leaves loopback: etcd listens on 127.0.0.1 only, the API server binds 127.0.0.1 with the
 * self-signed certificate it generates, a static token of the `system:masters` group, and no
 * controllers, kubelets or cloud: objects are stored (CRDs, a namespace) or dry-run, never run.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { httpOk, isAlive, run, startDaemon, StackError, stopProcess, waitUntil } from '../local/process.ts';
import { CRD_SOURCES, withLock, type ToolsOptions } from './tools.ts';
import { parseAllDocuments } from 'yaml';

export const KUBERNETES = { module: 'k8s.io/kubernetes', version: 'v1.37.2', staging: 'v0.37.2' };
/** The etcd release k8s.io/kubernetes v1.37.2 requires (go.etcd.io/etcd/server/v3 v3.7.0) or newer. */
export const ETCD = { module: 'go.etcd.io/etcd/server/v3', version: 'v3.7.3' };
/** k8s.io/kubernetes v1.37.2's `replace … => ./staging/src/…` modules that the proxy serves. */
const STAGING_MODULES = [
  'api',
  'apiextensions-apiserver',
  'apimachinery',
  'apiserver',
  'cli-runtime',
  'client-go',
  'cloud-provider',
  'cluster-bootstrap',
  'code-generator',
  'component-base',
  'component-helpers',
  'controller-manager',
  'cri-api',
  'cri-client',
  'cri-streaming',
  'csi-translation-lib',
  'dynamic-resource-allocation',
  'endpointslice',
  'externaljwt',
  'kms',
  'kube-aggregator',
  'kube-controller-manager',
  'kube-proxy',
  'kube-scheduler',
  'kubectl',
  'kubelet',
  'metrics',
  'mount-utils',
  'pod-security-admission',
  'sample-apiserver',
  'streaming',
].map((m) => `k8s.io/${m}`);

/** Builds `pkg` of `module`, required by a module of our own with `replaces`, into `<dir>/bin/<binary>`. */
async function buildFromWrapper(
  o: ToolsOptions,
  spec: { dir: string; binary: string; require: string; version: string; pkg: string; replaces: string[] },
): Promise<string> {
  const bin = join(spec.dir, 'bin', spec.binary);
  if (existsSync(bin)) return bin;
  mkdirSync(spec.dir, { recursive: true });
  return withLock(spec.dir, o.lockTimeoutMs ?? 60 * 60_000, async () => {
    if (existsSync(bin)) return bin;
    const t0 = Date.now();
    o.log?.(`${spec.binary}: building ${spec.pkg}@${spec.version} with Go (first time only; long)…`);
    const src = join(spec.dir, 'src');
    rmSync(src, { recursive: true, force: true });
    mkdirSync(src, { recursive: true });
    const replace = spec.replaces.length
      ? `\nreplace (\n${spec.replaces.map((r) => `\t${r}\n`).join('')})\n`
      : '';
    writeFileSync(
      join(src, 'go.mod'),
      `module lockstep.local/${spec.binary}-build\n\ngo 1.26.0\n\nrequire ${spec.require} ${spec.version}\n${replace}`,
    );
    // The caller's GOFLAGS (e.g. -p=1 on a shared machine) are kept.
    const goflags = [process.env['GOFLAGS'], '-buildvcs=false', '-modcacherw'].filter(Boolean).join(' ');
    const env = { ...process.env, GOFLAGS: goflags };
    const opts = { component: spec.binary, logFile: o.logFile, cwd: src, env };
    await run(o.go, ['get', `${spec.pkg}@${spec.version}`], opts);
    const out = join(src, spec.binary);
    await run(o.go, ['build', '-trimpath', '-ldflags=-s -w', '-o', out, spec.pkg], opts);
    mkdirSync(join(spec.dir, 'bin'), { recursive: true });
    renameSync(out, bin);
    rmSync(src, { recursive: true, force: true });
    o.log?.(`${spec.binary}: built in ${((Date.now() - t0) / 1000).toFixed(1)}s (${bin})`);
    return bin;
  });
}

export function buildKubeApiserver(o: ToolsOptions): Promise<string> {
  return buildFromWrapper(o, {
    dir: join(o.cacheDir, 'kube-apiserver', KUBERNETES.version),
    binary: 'kube-apiserver',
    require: KUBERNETES.module,
    version: KUBERNETES.version,
    pkg: `${KUBERNETES.module}/cmd/kube-apiserver`,
    replaces: STAGING_MODULES.map((m) => `${m} => ${m} ${KUBERNETES.staging}`),
  });
}

export function buildEtcd(o: ToolsOptions): Promise<string> {
  return buildFromWrapper(o, {
    dir: join(o.cacheDir, 'etcd', ETCD.version),
    binary: 'etcd',
    require: ETCD.module,
    version: ETCD.version,
    pkg: ETCD.module,
    replaces: [],
  });
}

export interface ApiResponse {
  status: number;
  body: unknown;
}

export interface ApiServer {
  url: string;
  /** A request with the admin token, the server's own certificate as the only CA. */
  call(method: string, path: string, body?: unknown): Promise<ApiResponse>;
  logs: { etcd: string; apiserver: string };
  stop(): Promise<void>;
}

export interface StartOptions {
  kubeApiserver: string;
  etcd: string;
  /** A fresh directory for data, keys and logs. */
  dir: string;
  ports: { etcdClient: number; etcdPeer: number; apiserver: number };
  /** Upper bound on each start-up (etcd healthy, API server ready); default 4 min. */
  startTimeoutMs?: number;
}

/** Starts etcd and the API server; resolves once `/readyz` says ok. */
export async function startApiServer(o: StartOptions): Promise<ApiServer> {
  const timeoutMs = o.startTimeoutMs ?? 240_000;
  const pids: number[] = [];
  const stop = async () => {
    for (const pid of pids.reverse()) await stopProcess(pid, 10_000);
  };
  const logs = { etcd: join(o.dir, 'etcd.log'), apiserver: join(o.dir, 'kube-apiserver.log') };
  try {
    const client = `http://127.0.0.1:${o.ports.etcdClient}`;
    const peer = `http://127.0.0.1:${o.ports.etcdPeer}`;
    const etcdPid = await startDaemon(
      o.etcd,
      [
        '--name=default',
        `--data-dir=${join(o.dir, 'etcd')}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=default=${peer}`,
        '--log-level=warn',
      ],
      { component: 'etcd', logFile: logs.etcd, pidFile: join(o.dir, 'etcd.pid') },
    );
    pids.push(etcdPid);
    await waitUntil(() => httpOk(`${client}/health`), {
      component: 'etcd',
      logFile: logs.etcd,
      timeoutMs,
      pid: etcdPid,
    });

    const token = 'lockstep-dry-run-admin';
    writeFileSync(join(o.dir, 'tokens.csv'), `${token},admin,admin,"system:masters"\n`);
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(o.dir, 'sa.key'), keys.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(o.dir, 'sa.pub'), keys.publicKey.export({ type: 'spki', format: 'pem' }));
    const certDir = join(o.dir, 'certs');
    mkdirSync(certDir, { recursive: true });
    const apiPid = await startDaemon(
      o.kubeApiserver,
      [
        `--etcd-servers=${client}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${o.ports.apiserver}`,
        `--cert-dir=${certDir}`,
        `--token-auth-file=${join(o.dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc',
        `--service-account-key-file=${join(o.dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(o.dir, 'sa.key')}`,
        '--service-cluster-ip-range=10.96.0.0/16',
        // No Endpoints for the `kubernetes` Service: its address would be loopback, which
        // Endpoints refuse.
        '--endpoint-reconciler-type=none',
        '--profiling=false',
      ],
      { component: 'kube-apiserver', logFile: logs.apiserver, pidFile: join(o.dir, 'kube-apiserver.pid') },
    );
    pids.push(apiPid);
    const url = `https://127.0.0.1:${o.ports.apiserver}`;
    const crt = join(certDir, 'apiserver.crt');
    let ca: string | undefined;
    const call = (method: string, path: string, body?: unknown): Promise<ApiResponse> =>
      new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = request(
          `${url}${path}`,
          {
            method,
            ca,
            timeout: 30_000,
            headers: {
              authorization: `Bearer ${token}`,
              accept: 'application/json',
              ...(payload ? { 'content-type': 'application/json' } : {}),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              let parsed: unknown = text;
              try {
                parsed = JSON.parse(text);
              } catch {
                // /readyz and friends answer text
              }
              resolve({ status: res.statusCode ?? 0, body: parsed });
            });
          },
        );
        req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
        req.on('error', reject);
        req.end(payload);
      });
    await waitUntil(
      async () => {
        // The certificate is written before the server listens.
        if (!ca) {
          if (!existsSync(crt)) return false;
          ca = readFileSync(crt, 'utf8');
        }
        const r = await call('GET', '/readyz');
        return r.status === 200 && r.body === 'ok';
      },
      { component: 'kube-apiserver', logFile: logs.apiserver, timeoutMs, pid: apiPid },
    );
    if (!isAlive(etcdPid)) throw new StackError('etcd', 'exited', logs.etcd);
    return { url, call, logs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

interface ApiResourceList {
  resources: { name: string; kind: string; namespaced: boolean }[];
}

const apiBase = (apiVersion: string) =>
  apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;

/** Where objects of `kind` live, from the server's discovery (so CRDs resolve like built-ins). */
export async function resourcePath(server: ApiServer, o: K8sObject, namespace: string): Promise<string> {
  const r = await server.call('GET', apiBase(o.apiVersion));
  if (r.status !== 200)
    throw new Error(`discovery of ${o.apiVersion}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  const res = (r.body as ApiResourceList).resources.find((x) => x.kind === o.kind && !x.name.includes('/'));
  if (!res) throw new Error(`the server serves no ${o.kind} in ${o.apiVersion}`);
  return `${apiBase(o.apiVersion)}${res.namespaced ? `/namespaces/${namespace}` : ''}/${res.name}`;
}

/** Creates the CRDs for real and waits until each is Established and served. */
export async function installCrds(server: ApiServer, crds: K8sObject[], timeoutMs = 120_000): Promise<void> {
  for (const crd of crds) {
    const r = await server.call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    if (r.status !== 201 && r.status !== 409)
      throw new Error(`creating CRD ${crd.metadata.name}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  }
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    const spec = crd['spec'] as {
      group: string;
      versions: { name: string; served: boolean }[];
      names: { plural: string };
    };
    for (;;) {
      const r = await server.call(
        'GET',
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
      );
      const conditions =
        (r.body as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? [];
      const established = conditions.some((c) => c.type === 'Established' && c.status === 'True');
      const served = await Promise.all(
        spec.versions
          .filter((v) => v.served)
          .map(async (v) => {
            const d = await server.call('GET', `/apis/${spec.group}/${v.name}`);
            return (
              d.status === 200 &&
              (d.body as ApiResourceList).resources.some((x) => x.name === spec.names.plural)
            );
          }),
      );
      if (established && served.every(Boolean)) break;
      if (Date.now() > deadline)
        throw new Error(
          `CRD ${crd.metadata.name} not Established and served after ${timeoutMs / 1000}s: ${JSON.stringify(conditions)}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

export interface DryRunResult {
  object: string;
  status: number;
  /** The API server's Status message when it refused the object; warnings when it accepted it. */
  message: string;
}

/**
 * `kubectl apply --dry-run=server` of a new object, as the API: a create with `dryRun=All` and
 * `fieldValidation=Strict`, so an unknown or duplicated field is an error, not a warning. Every
 * admission step and validation runs; nothing is stored.
 */
export async function dryRunCreate(
  server: ApiServer,
  o: K8sObject,
  namespace: string,
): Promise<DryRunResult> {
  const path = await resourcePath(server, o, namespace);
  const r = await server.call(
    'POST',
    `${path}?dryRun=All&fieldValidation=Strict&fieldManager=lockstep-test`,
    o,
  );
  const body = r.body as { message?: string };
  return {
    object: `${o.kind}/${o.metadata.name}`,
    status: r.status,
    message: r.status === 201 ? '' : (body.message ?? JSON.stringify(r.body)),
  };
}

/** The CRD manifests of CRD_SOURCES (KEDA, prometheus-operator), from their Go modules. */
export async function crdManifests(o: ToolsOptions): Promise<K8sObject[]> {
  const out: K8sObject[] = [];
  for (const source of CRD_SOURCES) {
    const { stdout } = await promisify(execFile)(
      o.go,
      ['mod', 'download', '-json', `${source.module}@${source.version}`],
      {
        cwd: o.cacheDir,
        maxBuffer: 16 << 20,
        env: { ...process.env, GOFLAGS: '-modcacherw' },
      },
    );
    const dir = (JSON.parse(stdout) as { Dir?: string }).Dir;
    if (!dir) throw new Error(`go mod download ${source.module}@${source.version}: no Dir in ${stdout}`);
    for (const file of source.files)
      for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
        const crd = doc.toJS() as K8sObject | null;
        if (crd) out.push(crd);
      }
  }
  return out;
}
