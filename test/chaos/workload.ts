/**
 * The chaos suite's fixed workload and its end checks.
 *
 * Before the fault: 4 issues created in Linear (L1–L4) and 4 in Jira (J1–J4), synced. During the
 * fault: edits on both sides of items born on both sides, and 2 more creates per side. The end
 * checks read the emulators (through the official SDKs and their ledgers), Postgres and Kafka:
 * every item equal on both sides, each item exactly once per side, Lockstep's writes exactly those
 * of one clean pass, no link or write left pending, the dead-letter topic empty.
 */
import assert from 'node:assert/strict';
import { createKafka, topicOffsets } from '../../services/core/kafka/index.ts';
import type { LedgerEntry } from '../emulators/common/ledger.ts';
import { jiraIssues, linearIds, linearIssues, writes } from '../e2e/helpers.ts';
import type { ChaosWorld } from './world.ts';

type Side = 'linear' | 'jira';

/** Final title of every item of the workload, in order. */
export const FINAL_TITLES = [
  'L1 edited in Linear',
  'L2 created in Linear',
  'L3 edited in Jira',
  'L4 created in Linear',
  'J1 edited in Linear',
  'J2 edited in Jira',
  'J3 created in Jira',
  'J4 created in Jira',
  'L5 created in Linear',
  'L6 created in Linear',
  'J5 created in Jira',
  'J6 created in Jira',
].sort();

const PRIORITY_NAMES: Record<number, string | null> = {
  0: null,
  1: 'Highest',
  2: 'High',
  3: 'Medium',
  4: 'Low',
};
/** Linear state name → the Jira status it maps to (DEMO_STATUS_MAP). */
const STATUS_NAMES: Record<string, string> = { Todo: 'To Do' };

/**
 * Lockstep's write calls for one clean pass of this workload (no fault), by route; measured on a
 * fault-free run (test/chaos/clean.test.ts checks it stays so):
 * each item born in Linear is one Jira create; each item born in Jira one Linear issueCreate; each
 * edit one update call on the other side.
 */
export const CLEAN_PASS: Record<string, number> = {
  'jira POST /rest/api/3/issue': 6,
  'jira PUT /rest/api/3/issue/{id}': 2,
  'linear issueCreate': 6,
  // The link attachment on each issue Lockstep creates in Linear.
  'linear attachmentCreate': 6,
  'linear issueUpdate': 2,
};

export interface Workload {
  /** Creates L1–L4 and J1–J4 and waits until they are synced both ways. */
  seed(): Promise<void>;
  /** The edits and creates made while a fault is on, in a fixed order. */
  steps: { name: string; run: () => Promise<void> }[];
  /** Runs every step, calling `between(i)` after step i (a scenario's fault hook). */
  runSteps(between?: (i: number, name: string) => Promise<void>): Promise<void>;
}

function botOf(w: ChaosWorld, side: Side) {
  const emu = side === 'linear' ? w.linearEmu : w.jiraEmu;
  const bot = emu.kit.actors.all().find((u) => u.isBot);
  if (!bot) throw new Error(`looking up the ${side} emulator's bot user: none seeded`);
  return bot.id;
}

export function botWrites(w: ChaosWorld, side: Side): LedgerEntry[] {
  const emu = side === 'linear' ? w.linearEmu : w.jiraEmu;
  const bot = botOf(w, side);
  return writes(
    emu.ledger.list(w.startSeq[side]).filter((x) => x.actor === bot),
    side,
  );
}

/** Lockstep's writes on both emulators, counted by route (Jira issue ids as `{id}`). */
export function writeRoutes(w: ChaosWorld): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (k: string) => (out[k] = (out[k] ?? 0) + 1);
  for (const x of botWrites(w, 'jira'))
    add(`jira ${x.method} ${x.path.replace(/\/issue\/[^/]+/, '/issue/{id}')}`);
  for (const x of botWrites(w, 'linear')) add(`linear ${x.operation}`);
  return out;
}

/** Polls `probe` until it returns a value (not undefined/false); the message says what did not converge. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(
    `waiting for ${what}: not within ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`,
  );
}

interface ItemView {
  title: string;
  priority: string | null;
  status: string;
}

export async function sideViews(w: ChaosWorld): Promise<{ linear: ItemView[]; jira: ItemView[] }> {
  const linear = (await linearIssues(w.linearAs('carol'))).map((i) => ({
    title: i.title,
    priority: PRIORITY_NAMES[i.priority] ?? `priority ${i.priority}`,
    status: STATUS_NAMES[i.state.name] ?? i.state.name,
  }));
  const jira = (await jiraIssues(w.jiraAs('carol'))).map((i) => ({
    title: i.fields.summary,
    priority: i.fields.priority?.name ?? null,
    status: i.fields.status?.name ?? '?',
  }));
  return { linear, jira };
}

const byTitle = (xs: ItemView[]) => [...xs].sort((a, b) => a.title.localeCompare(b.title));

/** Whether both sides hold exactly `titles`, once each, with equal fields; a reason when not. */
async function agreement(w: ChaosWorld, titles: string[]): Promise<string | true> {
  const v = await sideViews(w);
  for (const side of ['linear', 'jira'] as const) {
    const got = v[side].map((x) => x.title).sort();
    if (JSON.stringify(got) !== JSON.stringify([...titles].sort()))
      return `${side} has ${JSON.stringify(got)}`;
  }
  const l = JSON.stringify(byTitle(v.linear));
  const j = JSON.stringify(byTitle(v.jira));
  return l === j ? true : `fields differ: linear ${l} jira ${j}`;
}

/**
 * Waits until neither emulator has seen a write call for `quietMs`. Reads do not count: a world
 * whose pollers run reads both platforms every few seconds for ever, and a read changes nothing
 * the end checks look at.
 */
export async function quiet(w: ChaosWorld, quietMs = 4000, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let since = Date.now();
  while (Date.now() < deadline) {
    const n =
      writes(w.linearEmu.ledger.list(), 'linear').length + writes(w.jiraEmu.ledger.list(), 'jira').length;
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`waiting for the emulators to go quiet: writes still coming after ${timeoutMs} ms`);
}

export async function converge(w: ChaosWorld, titles: string[], timeoutMs: number): Promise<void> {
  let reason = '';
  try {
    await eventually(
      `both sides to hold the ${titles.length} items with equal fields`,
      async () => {
        const a = await agreement(w, titles);
        if (a === true) return true;
        reason = a;
        return false;
      },
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last difference: ${reason}`);
  }
}

export function workload(w: ChaosWorld): Workload {
  const bob = w.linearAs('bob');
  const alice = w.jiraAs('alice');
  let ids: Awaited<ReturnType<typeof linearIds>> | undefined;
  const lin = async () => (ids ??= await linearIds(bob));
  const createLinear = async (title: string) => {
    const i = await lin();
    await bob.createIssue({ teamId: i.teamId, title, priority: 2, stateId: i.state('Todo') });
  };
  const createJira = async (summary: string) => {
    await alice.issues.createIssue({
      fields: { project: { key: 'ENG' }, issuetype: { name: 'Task' }, summary },
    });
  };
  const linearId = async (title: string) => {
    const found = (await linearIssues(bob)).find((x) => x.title === title);
    if (!found) throw new Error(`looking up Linear issue "${title}": not there`);
    return found.id;
  };
  const jiraKey = async (summary: string) => {
    const found = (await jiraIssues(alice)).find((x) => x.fields.summary === summary);
    if (!found) throw new Error(`looking up Jira issue "${summary}": not there`);
    return found.key;
  };
  const editLinear = async (from: string, title: string) => {
    await bob.updateIssue(await linearId(from), { title });
  };
  const editJira = async (from: string, summary: string) => {
    await alice.issues.editIssue({ issueIdOrKey: await jiraKey(from), fields: { summary } });
  };
  const seedTitles = [1, 2, 3, 4].flatMap((n) => [`L${n} created in Linear`, `J${n} created in Jira`]);
  // Each step's look-ups happen before the fault hook after it, so a step never reads through a
  // fault (the test's SDK calls go to the emulators directly anyway).
  const steps = [
    { name: 'edit L1 in Linear', run: () => editLinear('L1 created in Linear', 'L1 edited in Linear') },
    { name: 'create L5 in Linear', run: () => createLinear('L5 created in Linear') },
    { name: 'edit J2 in Jira', run: () => editJira('J2 created in Jira', 'J2 edited in Jira') },
    { name: 'create J5 in Jira', run: () => createJira('J5 created in Jira') },
    { name: 'edit J1 in Linear', run: () => editLinear('J1 created in Jira', 'J1 edited in Linear') },
    { name: 'edit L3 in Jira', run: () => editJira('L3 created in Linear', 'L3 edited in Jira') },
    { name: 'create L6 in Linear', run: () => createLinear('L6 created in Linear') },
    { name: 'create J6 in Jira', run: () => createJira('J6 created in Jira') },
  ];
  return {
    async seed() {
      for (const n of [1, 2, 3, 4]) {
        await createLinear(`L${n} created in Linear`);
        await createJira(`J${n} created in Jira`);
      }
      await converge(w, seedTitles, 120_000);
      await quiet(w);
    },
    steps,
    async runSteps(between) {
      for (const [i, s] of steps.entries()) {
        await s.run();
        if (between) await between(i, s.name);
      }
    },
  };
}

/** Records on the world's dead-letter topic (read directly from the broker, not through the proxy). */
export async function deadLetterCount(w: ChaosWorld): Promise<number> {
  const kafka = createKafka({ ...w.config.kafka, brokers: [w.kafkaDirect] });
  const offsets = await topicOffsets(kafka, w.config.kafka.topics.dlq);
  return offsets.reduce((n, o) => n + Number(BigInt(o.high) - BigInt(o.low)), 0);
}

export interface ChaosResult {
  scenario: string;
  fault: string;
  items: number;
  writesExpected: number;
  writesMade: number;
  dlq: number;
  duplicates: number;
  convergeMs: number;
}

export interface EndExpectations {
  /** Records the dead-letter topic holds at the end (default 0). */
  deadLetters?: number;
  /** Write calls beyond one clean pass, by route (e.g. an operator's retry of a dead letter). */
  extraWrites?: Record<string, number>;
}

/**
 * Waits for the workload's end state after the fault is healed, then checks everything; logs a
 * one-line result for the suite's table.
 */
export async function checkEnd(
  w: ChaosWorld,
  scenario: string,
  fault: string,
  healedAt: number,
  timeoutMs = 180_000,
  expect: EndExpectations = {},
): Promise<ChaosResult> {
  const expectedRoutes = { ...CLEAN_PASS };
  for (const [route, n] of Object.entries(expect.extraWrites ?? {}))
    expectedRoutes[route] = (expectedRoutes[route] ?? 0) + n;
  await converge(w, FINAL_TITLES, timeoutMs);
  const convergeMs = Date.now() - healedAt;
  await quiet(w);
  const v = await sideViews(w);
  const routes = writeRoutes(w);
  const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  const dlq = await deadLetterCount(w);
  const duplicates =
    v.linear.length -
    new Set(v.linear.map((x) => x.title)).size +
    v.jira.length -
    new Set(v.jira.map((x) => x.title)).size;
  const result: ChaosResult = {
    scenario,
    fault,
    items: FINAL_TITLES.length,
    writesExpected: sum(expectedRoutes),
    writesMade: sum(routes),
    dlq,
    duplicates,
    convergeMs,
  };
  process.stderr.write(`[chaos] result ${JSON.stringify({ ...result, routes })}\n`);

  assert.equal(duplicates, 0, 'each item exactly once per side');
  assert.deepEqual(v.linear.map((x) => x.title).sort(), FINAL_TITLES, 'Linear holds every item once');
  assert.deepEqual(v.jira.map((x) => x.title).sort(), FINAL_TITLES, 'Jira holds every item once');
  assert.deepEqual(byTitle(v.linear), byTitle(v.jira), 'every item equal on both sides');
  assert.deepEqual(
    routes,
    expectedRoutes,
    "Lockstep's writes are those of one clean pass (and the expected extra)",
  );
  const links = await w.db.query<{ status: string; n: string }>(
    'select status, count(*)::text as n from reconciler_links group by status order by status',
  );
  assert.deepEqual(
    links.rows.map((r) => [r.status, Number(r.n)]),
    [['active', FINAL_TITLES.length]],
    'every link active, none pending',
  );
  const pendingWrites = await w.db.query<{ n: string }>(
    `select count(*)::text as n from reconciler_links
      where jsonb_path_exists(state, '$.fields.*.sides.*.pending[*]')`,
  );
  assert.equal(Number(pendingWrites.rows[0]?.n), 0, 'no link with a write still pending');
  const unsent = await w.db.query<{ n: string }>(
    'select count(*)::text as n from reconciler_outbox where sent_at is null',
  );
  assert.equal(Number(unsent.rows[0]?.n), 0, 'every outbox row sent');
  assert.equal(dlq, expect.deadLetters ?? 0, 'the dead-letter topic holds exactly the expected records');
  return result;
}
