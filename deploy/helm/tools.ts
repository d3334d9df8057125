/**
 * What checking the Helm chart offline needs, fetched once into the shared cache
 * (`${XDG_CACHE_HOME:-~/.cache}/lockstep`, as deploy/local/toxiproxy.ts does for Toxiproxy):
 *
 * - `helm` and `kubeconform`, built with `go install` from the Go module proxy;
 * - the Kubernetes JSON schemas, from the PyPI package `kubernetes-validate` (it bundles them per
 *   Kubernetes version), installed into a venv, with their `/api/_definitions.json` refs rewritten
 *   to `file://` paths so kubeconform can follow them;
 * - the CRD schemas of KEDA's ScaledObject and prometheus-operator's ServiceMonitor and
 *   PrometheusRule, converted from the projects' own CRD manifests, which their Go modules carry
 *   (`go mod download`). The npm packages `@kubernetes-models/keda` and
 *   `@kubernetes-models/prometheus-operator` were tried first: they ship compiled validators, not
 *   JSON schemas, and those accept unknown fields (a `spec.bogus` passed), so they cannot give a
 *   strict check.
 *
 * Each step takes a lock (a directory made atomically, holding the owner's pid), so two test
 * processes starting cold build each thing once; a lock whose owner died is taken over.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { isAlive, run, StackError } from '../local/process.ts';

const exec = promisify(execFile);

export const HELM = { pkg: 'helm.sh/helm/v3/cmd/helm', version: 'v3.22.0', binary: 'helm' };
export const KUBECONFORM = {
  pkg: 'github.com/yannh/kubeconform/cmd/kubeconform',
  version: 'v0.8.0',
  binary: 'kubeconform',
};
export const KUBERNETES_VALIDATE_VERSION = '1.37.0';
/** The Kubernetes versions the chart is validated against: its oldest supported and the newest bundled. */
export const KUBERNETES_VERSIONS = ['1.30.0', '1.37.0'];
export const CRD_SOURCES = [
  {
    module: 'github.com/kedacore/keda/v2',
    version: 'v2.21.0',
    files: ['config/crd/bases/keda.sh_scaledobjects.yaml'],
  },
  {
    module: 'github.com/prometheus-operator/prometheus-operator',
    version: 'v0.85.0',
    files: [
      'example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml',
      'example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml',
    ],
  },
];

export interface ToolsOptions {
  cacheDir: string;
  go: string;
  /** Build and install output is appended here. */
  logFile: string;
  log?: (line: string) => void;
  /** How long to wait for another process's build of the same thing (default 20 min). */
  lockTimeoutMs?: number;
}

export interface ChartTools {
  helm: string;
  kubeconform: string;
  /** kubeconform `-schema-location` values, Kubernetes first, then the CRDs. */
  schemaLocations: string[];
}

/** Runs `fn` holding the lock `<path>.lock`; waits while a live process holds it. */
export async function withLock<T>(path: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const lock = `${path}.lock`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {
        // The owner made the directory and has not written its pid yet: wait for it.
      }
      if (Number.isInteger(owner) && owner > 0 && !isAlive(owner)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new Error(`waiting for ${lock}: still held by pid ${owner} after ${timeoutMs} ms`);
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** `go install pkg@version` into `<cache>/<name>/<version>/bin/<name>` unless it is there. */
export async function installGoTool(
  o: ToolsOptions,
  tool: { pkg: string; version: string; binary: string },
): Promise<string> {
  const dir = join(o.cacheDir, tool.binary, tool.version);
  const bin = join(dir, 'bin', tool.binary);
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  return withLock(dir, o.lockTimeoutMs ?? 20 * 60_000, async () => {
    if (existsSync(bin)) return bin; // built by the process that held the lock
    const t0 = Date.now();
    o.log?.(`${tool.binary}: building ${tool.pkg}@${tool.version} with Go (first time only)…`);
    const gobin = join(dir, `build-${process.pid}`);
    mkdirSync(gobin, { recursive: true });
    mkdirSync(join(dir, 'bin'), { recursive: true });
    try {
      await run(o.go, ['install', '-trimpath', `${tool.pkg}@${tool.version}`], {
        component: tool.binary,
        logFile: o.logFile,
        env: { ...process.env, GOBIN: gobin, GOFLAGS: '-buildvcs=false' },
      });
      if (!existsSync(join(gobin, tool.binary)))
        throw new StackError(tool.binary, `go install left no binary in ${gobin}`, o.logFile);
      renameSync(join(gobin, tool.binary), bin);
    } finally {
      rmSync(gobin, { recursive: true, force: true });
    }
    o.log?.(`${tool.binary}: built in ${((Date.now() - t0) / 1000).toFixed(1)}s (${bin})`);
    return bin;
  });
}

/**
 * The strict Kubernetes schemas of KUBERNETES_VERSIONS, from `kubernetes-validate`, under
 * `<cache>/kubernetes-validate/<version>/schemas/v<k8s>-local-strict/`, refs made `file://`.
 */
export async function installKubernetesSchemas(o: ToolsOptions): Promise<string> {
  const dir = join(o.cacheDir, 'kubernetes-validate', KUBERNETES_VALIDATE_VERSION);
  const schemas = join(dir, 'schemas');
  const done = join(schemas, '.complete');
  if (existsSync(done)) return schemas;
  mkdirSync(dir, { recursive: true });
  return withLock(dir, o.lockTimeoutMs ?? 20 * 60_000, async () => {
    if (existsSync(done)) return schemas;
    const t0 = Date.now();
    o.log?.(`kubernetes-validate ${KUBERNETES_VALIDATE_VERSION}: installing into a venv (first time only)…`);
    const venv = join(dir, 'venv');
    const python = join(venv, 'bin', 'python');
    if (!existsSync(python))
      await run('python3', ['-m', 'venv', venv], { component: 'kubernetes-validate', logFile: o.logFile });
    await run(
      python,
      [
        '-m',
        'pip',
        'install',
        '-q',
        '--disable-pip-version-check',
        `kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}`,
      ],
      { component: 'kubernetes-validate', logFile: o.logFile },
    );
    const { stdout } = await exec(python, [
      '-c',
      'import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))',
    ]);
    const bundled = join(stdout.trim(), 'kubernetes-json-schema');
    rmSync(schemas, { recursive: true, force: true });
    for (const k8s of KUBERNETES_VERSIONS) {
      const name = `v${k8s}-local-strict`;
      const from = join(bundled, name);
      if (!existsSync(from))
        throw new Error(
          `kubernetes-validate ${KUBERNETES_VALIDATE_VERSION} has no ${name} schemas (in ${bundled})`,
        );
      const to = join(schemas, name);
      mkdirSync(to, { recursive: true });
      for (const f of readdirSync(from)) {
        const text = readFileSync(join(from, f), 'utf8');
        // Refs are written as absolute paths of a server (`/api/_definitions.json#/$defs/…`);
        // kubeconform loads files, so they must name the file itself.
        writeFileSync(
          join(to, f),
          text.replaceAll('"/api/_definitions.json#', `"file://${to}/_definitions.json#`),
        );
      }
    }
    writeFileSync(done, '');
    // Only the schemas are needed from here on; the venv is ~150 MB.
    rmSync(venv, { recursive: true, force: true });
    o.log?.(`kubernetes-validate: schemas ready in ${((Date.now() - t0) / 1000).toFixed(1)}s (${schemas})`);
    return schemas;
  });
}

type Json = { [k: string]: unknown };
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * An OpenAPI v3 schema of a CRD as a strict JSON schema, as kubeconform's openapi2jsonschema does
 * with DENY_ROOT_ADDITIONAL_PROPERTIES: an object that lists its properties admits no others
 * (unless it says it keeps unknown fields), int-or-string accepts both, nullable accepts null.
 */
export function strictCrdSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strictCrdSchema);
  if (!isObject(node)) return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] =
      k === 'properties' && isObject(v)
        ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, strictCrdSchema(s)]))
        : strictCrdSchema(v);
  }
  if (out['x-kubernetes-int-or-string'] === true) {
    delete out['type'];
    out['anyOf'] = [{ type: 'string' }, { type: 'integer' }];
  }
  if (out['nullable'] === true && typeof out['type'] === 'string') out['type'] = [out['type'], 'null'];
  if (
    isObject(out['properties']) &&
    out['additionalProperties'] === undefined &&
    out['x-kubernetes-preserve-unknown-fields'] !== true
  )
    out['additionalProperties'] = false;
  return out;
}

/** The CRDs of CRD_SOURCES as `<cache>/crd-schemas/<group>/<kind>_<version>.json`. */
export async function installCrdSchemas(o: ToolsOptions): Promise<string> {
  const id = CRD_SOURCES.map((s) => `${s.module.split('/').at(-2)}-${s.version}`).join('_');
  const dir = join(o.cacheDir, 'crd-schemas', id);
  const done = join(dir, '.complete');
  if (existsSync(done)) return dir;
  mkdirSync(join(o.cacheDir, 'crd-schemas'), { recursive: true });
  return withLock(dir, o.lockTimeoutMs ?? 20 * 60_000, async () => {
    if (existsSync(done)) return dir;
    rmSync(dir, { recursive: true, force: true });
    for (const source of CRD_SOURCES) {
      const { stdout } = await exec(
        o.go,
        ['mod', 'download', '-json', `${source.module}@${source.version}`],
        {
          cwd: o.cacheDir,
          maxBuffer: 16 << 20,
          env: { ...process.env, GOFLAGS: '-modcacherw' },
        },
      );
      const moduleDir = (JSON.parse(stdout) as { Dir?: string }).Dir;
      if (!moduleDir)
        throw new Error(`go mod download ${source.module}@${source.version}: no Dir in ${stdout}`);
      for (const file of source.files) {
        for (const doc of parseAllDocuments(readFileSync(join(moduleDir, file), 'utf8'))) {
          const crd = doc.toJS() as {
            spec: {
              group: string;
              names: { kind: string };
              versions: { name: string; schema: { openAPIV3Schema: unknown } }[];
            };
          };
          for (const v of crd.spec.versions) {
            const out = join(dir, crd.spec.group, `${crd.spec.names.kind.toLowerCase()}_${v.name}.json`);
            mkdirSync(join(dir, crd.spec.group), { recursive: true });
            writeFileSync(out, JSON.stringify(strictCrdSchema(v.schema.openAPIV3Schema)));
          }
        }
      }
    }
    writeFileSync(done, '');
    return dir;
  });
}

/** Everything the chart test needs; builds what is missing. */
export async function installChartTools(o: ToolsOptions): Promise<ChartTools> {
  mkdirSync(o.cacheDir, { recursive: true });
  // Side by side: the two Go builds share the cores, the venv install is mostly download.
  const [helm, kubeconform, k8s, crds] = await Promise.all([
    installGoTool(o, HELM),
    installGoTool(o, KUBECONFORM),
    installKubernetesSchemas(o),
    installCrdSchemas(o),
  ]);
  return {
    helm,
    kubeconform,
    schemaLocations: [
      `${k8s}/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json`,
      `${crds}/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json`,
    ],
  };
}
