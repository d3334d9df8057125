/**
 * `npm run bench`: end-to-end latency, sustained and max-rate throughput, and API calls per
 * propagated change, Linear → Jira, through the real pipeline processes on the test stack, against
 * the platform emulators (test infrastructure, not the real Linear or Jira). See bench/README.md.
 *
 * Times come from the emulators' own clocks: a change's start is the Linear emulator's delivery
 * record of its webhook (`atMs`, taken when ingest answered the delivery), its end is the Jira
 * emulator's ledger entry of the bot's edit call on that issue (`atMs`, taken when Jira answered).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stackEndpoints, stackUp, testStack } from '../deploy/local/stack.ts';
import type { LedgerEntry } from '../test/emulators/common/ledger.ts';
import type { BuiltDelivery } from '../test/emulators/common/webhooks.ts';
import { eventually, settled, startE2E, type E2E } from '../test/e2e/harness.ts';
import { botCalls, jiraIssues, lastSeq, linearIds, writes } from '../test/e2e/helpers.ts';
import { ENDPOINTS_FILE } from '../test/stack/env.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results');

const ISSUES = 50;
const SUSTAINED_RATE = 5; // edits per second offered
const SUSTAINED_SECONDS = 60;
const MAX_RATE_EDITS = 100; // two edits per issue, sent as fast as 10 concurrent clients can
const MAX_RATE_CONCURRENCY = 10;

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function machine() {
  let cpuModel = 'unknown';
  try {
    cpuModel =
      /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpuModel;
  } catch {
    // not Linux: keep 'unknown'
  }
  let nproc = cpus().length;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    // nproc missing: os.cpus()
  }
  return {
    nproc,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    cpuModel,
    node: process.version,
    loadavgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

function stats(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return {
    n: s.length,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s.at(-1) ?? NaN,
    mean: Math.round(mean),
  };
}

async function ensureStack(): Promise<string> {
  if (existsSync(ENDPOINTS_FILE)) return 'the shared test stack was already running; it was used as it is';
  log(
    `${ENDPOINTS_FILE} is missing: bringing the test stack up (deploy/local/stack.ts stackUp(testStack()))`,
  );
  const o = testStack(log);
  await stackUp(o);
  mkdirSync(dirname(ENDPOINTS_FILE), { recursive: true });
  writeFileSync(ENDPOINTS_FILE, `${JSON.stringify(stackEndpoints(o), null, 2)}\n`);
  return 'the test stack was not running: the bench brought it up and left it running (`npx lockstep down --test` stops it)';
}

/**
 * Which Linear issue each webhook delivery is about: the dispatcher is wrapped (in this process,
 * read-only) to read the issue id from the delivery's first signed body.
 */
function trackDeliveries(e: E2E): Map<string, string> {
  const subject = new Map<string, string>();
  const dispatcher = e.linearEmu.kit.webhooks;
  const deliver = dispatcher.deliver.bind(dispatcher);
  dispatcher.deliver = (deliveryId: string, url: string, build: (attempt: number) => BuiltDelivery) => {
    const body = JSON.parse(build(0).body) as { type?: string; data?: { id?: string } };
    if (body.type === 'Issue' && body.data?.id) subject.set(deliveryId, body.data.id);
    deliver(deliveryId, url, build);
  };
  return subject;
}

interface Edit {
  linearId: string;
  title: string;
}

/** Makes edits on a schedule (offered load) or as fast as `concurrency` clients can. */
async function runEdits(
  e: E2E,
  edits: Edit[],
  pace: { ratePerSec: number } | { concurrency: number },
): Promise<{ startedMs: number; issuedMs: number }> {
  const bob = e.linearAs('bob');
  const startedMs = Date.now();
  if ('ratePerSec' in pace) {
    const inFlight: Promise<unknown>[] = [];
    for (let k = 0; k < edits.length; k++) {
      const due = startedMs + (k * 1000) / pace.ratePerSec;
      if (due > Date.now()) await sleep(due - Date.now());
      const ed = edits[k]!;
      inFlight.push(bob.updateIssue(ed.linearId, { title: ed.title }));
    }
    await Promise.all(inFlight);
  } else {
    let next = 0;
    await Promise.all(
      Array.from({ length: pace.concurrency }, async () => {
        for (let k = next++; k < edits.length; k = next++) {
          const ed = edits[k]!;
          await bob.updateIssue(ed.linearId, { title: ed.title });
        }
      }),
    );
  }
  return { startedMs, issuedMs: Date.now() };
}

interface PhaseResult {
  edits: number;
  offered: string;
  issueSeconds: number;
  /** First webhook delivered → last edit applied in Jira. */
  propagationSeconds: number;
  changesPerSecond: number;
  jiraWrites: number;
  coalescedEdits: number;
  apiCalls: { jira: number; linear: number; jiraWrites: number; linearWrites: number };
  apiCallsPerChange: number;
  writesPerChange: number;
  latencyMs: ReturnType<typeof stats> | null;
  latencyNote: string;
}

async function phase(
  e: E2E,
  name: string,
  edits: Edit[],
  pace: { ratePerSec: number } | { concurrency: number },
  subject: Map<string, string>,
  jiraIdOf: Map<string, string>,
): Promise<PhaseResult> {
  await settled(e, 2000);
  const jSince = lastSeq(e, 'jira');
  const lSince = lastSeq(e, 'linear');
  const dSince = e.linearEmu.kit.webhooks.log.length;
  log(`${name}: ${edits.length} edits, ${JSON.stringify(pace)}`);
  const { startedMs, issuedMs } = await runEdits(e, edits, pace);
  // Done when every issue's last title is what Jira shows.
  const finalTitle = new Map<string, string>();
  for (const ed of edits) finalTitle.set(jiraIdOf.get(ed.linearId)!, ed.title);
  const jira = e.jiraAs('carol');
  await eventually(
    `${name}: every edit in Jira`,
    async () => {
      const shown = new Map((await jiraIssues(jira)).map((i) => [i.id, i.fields.summary]));
      return [...finalTitle].every(([id, t]) => shown.get(id) === t);
    },
    120_000,
  );
  await settled(e, 2000);

  const jCalls = botCalls(e, 'jira', jSince);
  const lCalls = botCalls(e, 'linear', lSince);
  const puts = writes(jCalls, 'jira').filter((w) => w.method === 'PUT');
  const deliveries = e.linearEmu.kit.webhooks.log
    .slice(dSince)
    .filter((d) => d.attempt === 0 && d.outcome === 'delivered' && subject.has(d.deliveryId));

  // Pair the k-th delivery of an issue with the k-th edit call on its Jira issue (each issue's
  // edits are in order); valid only where no edit was coalesced with the next one.
  const putsByIssue = new Map<string, LedgerEntry[]>();
  for (const p of puts) {
    const id = p.path.split('/').at(-1)!;
    putsByIssue.set(id, [...(putsByIssue.get(id) ?? []), p]);
  }
  const deliveriesByIssue = new Map<string, number[]>();
  for (const d of deliveries) {
    const id = jiraIdOf.get(subject.get(d.deliveryId)!)!;
    deliveriesByIssue.set(id, [...(deliveriesByIssue.get(id) ?? []), d.atMs]);
  }
  const latencies: number[] = [];
  let unpaired = 0;
  for (const [id, ds] of deliveriesByIssue) {
    const ps = putsByIssue.get(id) ?? [];
    if (ps.length !== ds.length) {
      unpaired += ds.length;
      continue;
    }
    ds.forEach((at, k) => latencies.push(ps[k]!.atMs - at));
  }
  const firstDelivery = Math.min(...deliveries.map((d) => d.atMs));
  const lastWrite = Math.max(...puts.map((p) => p.atMs));
  const propagationSeconds = (lastWrite - firstDelivery) / 1000;
  const r: PhaseResult = {
    edits: edits.length,
    offered:
      'ratePerSec' in pace
        ? `${pace.ratePerSec} edits/s for ${edits.length / pace.ratePerSec} s`
        : `as fast as ${pace.concurrency} concurrent clients can edit`,
    issueSeconds: (issuedMs - startedMs) / 1000,
    propagationSeconds,
    changesPerSecond: Math.round((edits.length / propagationSeconds) * 100) / 100,
    jiraWrites: puts.length,
    coalescedEdits: edits.length - puts.length,
    apiCalls: {
      jira: jCalls.length,
      linear: lCalls.length,
      jiraWrites: writes(jCalls, 'jira').length,
      linearWrites: writes(lCalls, 'linear').length,
    },
    apiCallsPerChange: Math.round(((jCalls.length + lCalls.length) / edits.length) * 100) / 100,
    writesPerChange:
      Math.round(((writes(jCalls, 'jira').length + writes(lCalls, 'linear').length) / edits.length) * 100) /
      100,
    latencyMs: latencies.length ? stats(latencies) : null,
    latencyNote:
      unpaired === 0
        ? `every one of ${deliveries.length} webhook deliveries paired with its Jira edit call`
        : `${unpaired} edits on issues whose edits were coalesced are left out of the latency figures`,
  };
  log(`${name}: ${JSON.stringify(r)}`);
  return r;
}

function markdown(
  res: Record<string, unknown>,
  m: ReturnType<typeof machine>,
  phases: Record<string, PhaseResult>,
) {
  const ms = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? 'n/a' : `${v} ms`);
  const rows = Object.entries(phases).map(
    ([name, p]) =>
      `| ${name} | ${p.offered} | ${p.edits} | ${p.changesPerSecond} | ${p.jiraWrites} (${p.coalescedEdits} coalesced) | ${p.apiCallsPerChange} | ${p.writesPerChange} | ${ms(p.latencyMs?.p50)} | ${ms(p.latencyMs?.p99)} | ${p.latencyMs?.n ?? 0} |`,
  );
  return `# Lockstep benchmark — ${String(res.date)}

Linear → Jira title edits through the real pipeline (ingest, reconciler, egress-jira as separate
processes) on the local test stack (Kafka, Apicurio, Postgres, Jaeger), against the **platform
emulators** (test infrastructure, not the real Linear or Jira: real platforms add their own network
and processing time). Rerun with \`npm run bench\`; see bench/README.md.

## Machine

- CPU: ${m.cpuModel}, nproc ${m.nproc}
- Memory: ${m.memoryGiB} GiB
- Node: ${m.node}
- Load average at start (1/5/15 min): ${m.loadavgAtStart.join(' / ')} — the machine is shared; other processes may have been running
- Stack: ${String(res.stack)}

## Results

| phase | offered load | edits | propagated changes/s | Jira edit calls | API calls per change | writes per change | latency p50 | latency p99 | latency samples |
|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

Latency = Jira emulator's ledger \`atMs\` of the bot's edit call on the issue − Linear emulator's
delivery log \`atMs\` of the edit's webhook (first attempt, recorded when ingest answered it).
Propagated changes/s = edits ÷ (first webhook delivered → last edit applied in Jira). API calls
per change = every call Lockstep's bot made on both emulators during the phase (reads included)
÷ edits.

${Object.entries(phases)
  .map(
    ([name, p]) =>
      `- **${name}**: latency ${p.latencyMs ? `p50 ${p.latencyMs.p50} ms, p90 ${p.latencyMs.p90} ms, p99 ${p.latencyMs.p99} ms, max ${p.latencyMs.max} ms, mean ${p.latencyMs.mean} ms over ${p.latencyMs.n} edits` : 'n/a'} (${p.latencyNote}); edits issued in ${p.issueSeconds} s, all propagated in ${p.propagationSeconds} s; bot calls: Jira ${p.apiCalls.jira} (${p.apiCalls.jiraWrites} writes), Linear ${p.apiCalls.linear} (${p.apiCalls.linearWrites} writes).`,
  )
  .join('\n')}

Setup (not measured): ${ISSUES} issues created in Linear and mirrored to Jira before the phases.
Total bench wall time: ${String(res.wallSeconds)} s.
`;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const stack = await ensureStack();
  log(stack);
  const m = machine();
  const e = await startE2E();
  try {
    log(`world ${e.id} up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const subject = trackDeliveries(e);
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    const title = (i: number) => `Bench item ${String(i).padStart(2, '0')}`;
    const linearIdOf = new Map<string, string>();
    for (let i = 1; i <= ISSUES; i++) {
      const r = await bob.createIssue({ teamId: ids.teamId, title: title(i) });
      const issue = await r.issue;
      if (!issue) throw new Error(`creating ${title(i)} in Linear: no issue returned`);
      linearIdOf.set(title(i), issue.id);
    }
    const jira = e.jiraAs('carol');
    const mirrored = await eventually(
      `the ${ISSUES} issues in Jira`,
      async () => {
        const is = await jiraIssues(jira);
        return is.length >= ISSUES ? is : undefined;
      },
      120_000,
    );
    const jiraIdOf = new Map<string, string>();
    for (const i of mirrored) {
      const lid = linearIdOf.get(i.fields.summary ?? '');
      if (lid) jiraIdOf.set(lid, i.id);
    }
    if (jiraIdOf.size !== ISSUES) throw new Error(`setup: ${jiraIdOf.size} of ${ISSUES} issues mirrored`);
    log(`setup: ${ISSUES} issues mirrored`);

    const all = [...linearIdOf.entries()];
    const sustained: Edit[] = Array.from({ length: SUSTAINED_RATE * SUSTAINED_SECONDS }, (_, k) => {
      const [t, id] = all[k % all.length]!;
      return { linearId: id, title: `${t} s${Math.floor(k / all.length)}` };
    });
    const burst: Edit[] = Array.from({ length: MAX_RATE_EDITS }, (_, k) => {
      const [t, id] = all[k % all.length]!;
      return { linearId: id, title: `${t} m${Math.floor(k / all.length)}` };
    });
    const phases: Record<string, PhaseResult> = {};
    phases['sustained'] = await phase(
      e,
      'sustained',
      sustained,
      { ratePerSec: SUSTAINED_RATE },
      subject,
      jiraIdOf,
    );
    phases['max-rate'] = await phase(
      e,
      'max-rate',
      burst,
      { concurrency: MAX_RATE_CONCURRENCY },
      subject,
      jiraIdOf,
    );

    const res = {
      date: new Date().toISOString(),
      machine: m,
      stack,
      world: 'Linear emulator → Jira emulator, webhooks only, default egress config of test/e2e/harness.ts',
      issues: ISSUES,
      phases,
      loadavgAtEnd: loadavg().map((x) => Math.round(x * 100) / 100),
      wallSeconds: Math.round((Date.now() - t0) / 1000),
    };
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, 'latest.json'), `${JSON.stringify(res, null, 2)}\n`);
    writeFileSync(join(RESULTS, 'latest.md'), markdown(res, m, phases));
    log(`results written to bench/results/latest.json and latest.md (${res.wallSeconds} s)`);
    process.stdout.write(readFileSync(join(RESULTS, 'latest.md'), 'utf8'));
  } finally {
    await e.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
