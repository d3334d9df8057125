/**
 * `lockstep dlq list | show | retry | discard`: the dead letters on lockstep.dlq.v1.
 *
 * A dead letter's id is its place on the dead-letter topic, `<partition>-<offset>`: stable for as
 * long as the record is retained, and the same from every client. What operators did with one
 * (retried, discarded, when, by whom, why) is kept in Postgres (`dlq_actions`), because a Kafka
 * record cannot be changed: `list` shows it, and a second `retry`/`discard` of the same dead letter
 * is refused unless `--force`.
 *
 * `retry` puts the original key, bytes and headers back on the topic they came from. That is safe
 * because every consumer is idempotent: the reconciler dedupes change events by eventId and
 * compares with the base; egress applies a command id at most once (a retried command that was in
 * fact applied republishes its recorded outcome and writes nothing). Dead letters of webhook
 * payloads (`webhook:<platform>`) never were on a topic and are not retried: the platform
 * redelivers, and the pollers read the change again.
 */
import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import type { DeadLetter } from '../../../schemas/generated/types.ts';
import { loadAppConfig, type AppConfig } from '../../app/config.ts';
import { createPool, type Pool } from '../../core/db/index.ts';
import { ERROR_CATEGORIES } from '../../core/errors/index.ts';
import {
  createConsumer,
  createKafka,
  createProducer,
  createRegistry,
  createSerde,
  schemaForTopic,
  topicOffsets,
  type AvroSerde,
  type KafkaHandle,
  type LockstepProducer,
} from '../../core/kafka/index.ts';
import { cliLogger } from '../logger.ts';
import { toJsonLine } from './topics.ts';

/** Header a retried record carries, naming the dead letter it came from (for logs and traces). */
export const RETRIED_FROM_HEADER = 'lockstep-dlq-retried-from';

type Action = 'retried' | 'discarded';

interface ActionRow {
  action: Action;
  actor: string;
  reason: string | null;
  forced: boolean;
  target: { topic: string; partition: number; offset: string } | null;
  at: Date;
}

export interface Entry {
  id: string;
  partition: number;
  offset: string;
  dl: DeadLetter;
  /** Oldest first; the last one is the dead letter's state. */
  history: ActionRow[];
}

interface Filters {
  stage?: string;
  category?: string;
  since?: number;
  state?: 'open' | 'retried' | 'discarded';
}

function parseSince(v: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(v);
  if (m) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
    return Date.now() - Number(m[1]) * unit;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new Error(`--since must be a duration (30m, 2h, 7d) or a date/time, got ${v}`);
  return t;
}

function parseCategory(v: string): string {
  if (!(ERROR_CATEGORIES as readonly string[]).includes(v))
    throw new Error(`--category must be one of ${ERROR_CATEGORIES.join(', ')}, got ${v}`);
  return v;
}

function parseState(v: string): Filters['state'] {
  if (v !== 'open' && v !== 'retried' && v !== 'discarded')
    throw new Error(`--state must be open, retried or discarded, got ${v}`);
  return v;
}

function parseId(id: string): { partition: number; offset: string } {
  const m = /^(\d+)-(\d+)$/.exec(id);
  if (!m) throw new Error(`dead letter id must be <partition>-<offset> (as dlq list shows), got ${id}`);
  return { partition: Number(m[1]), offset: m[2] ?? '0' };
}

function defaultActor(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

function stateOf(e: Entry): 'open' | Action {
  return e.history.at(-1)?.action ?? 'open';
}

function matches(e: Entry, f: Filters): boolean {
  if (f.stage !== undefined && e.dl.stage !== f.stage) return false;
  if (f.category !== undefined && e.dl.error.category !== f.category) return false;
  if (f.since !== undefined && e.dl.tsMs < f.since) return false;
  if (f.state !== undefined && stateOf(e) !== f.state) return false;
  return true;
}

export interface Ctx {
  config: AppConfig;
  kafka: KafkaHandle;
  serde: AvroSerde;
  pool: Pool;
  topic: string;
}

/** The dead-letter context of a configuration (also the status page's). */
export function openDlq(configFile: string | undefined, loaded?: AppConfig): Ctx {
  const config = loaded ?? loadAppConfig(configFile);
  // Logs go to stderr so stdout stays the command's output (JSON lines with --json).
  const logger = cliLogger(config);
  return {
    config,
    kafka: createKafka(config.kafka, logger),
    serde: createSerde(createRegistry(config.registry.url), config.kafka.topics),
    pool: createPool(config.postgres.url, { max: 2, applicationName: 'lockstep-cli-dlq' }),
    topic: config.kafka.topics.dlq,
  };
}

/** Every retained record of the dead-letter topic, decoded, in partition/offset order. */
async function readTopic(ctx: Ctx): Promise<{ partition: number; offset: string; dl: DeadLetter }[]> {
  const last = new Map<number, bigint>();
  for (const o of await topicOffsets(ctx.kafka, ctx.topic))
    if (BigInt(o.high) > BigInt(o.low)) last.set(o.partition, BigInt(o.high) - 1n);
  if (last.size === 0) return [];
  const out: { partition: number; offset: string; dl: DeadLetter }[] = [];
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  let crashed: unknown = null;
  const consumer = createConsumer<DeadLetter>(ctx.kafka, ctx.serde, {
    groupId: `lockstep-dlq-reader-${randomUUID()}`,
    topics: [ctx.topic],
    fromBeginning: true,
    async eachMessage(r) {
      const end = last.get(r.partition);
      if (end === undefined || BigInt(r.offset) > end) return; // arrived after we started
      if (r.value) out.push({ partition: r.partition, offset: r.offset, dl: r.value });
      if (BigInt(r.offset) >= end) last.delete(r.partition);
      if (last.size === 0) finish();
    },
  });
  consumer.onCrash((err) => {
    crashed = err;
    finish();
  });
  // Joining a group and fetching takes seconds; a topic this tool cannot read to its end within a
  // minute is reported rather than waited on forever.
  const timer = setTimeout(finish, 60_000);
  try {
    await consumer.start();
    await finished;
  } finally {
    clearTimeout(timer);
    await consumer.stop();
  }
  if (crashed)
    throw new Error(`reading ${ctx.topic}: ${crashed instanceof Error ? crashed.message : String(crashed)}`);
  if (last.size > 0)
    throw new Error(
      `reading ${ctx.topic}: partitions ${[...last.keys()].join(', ')} not read to their end within 60 s`,
    );
  return out.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}

interface DbAction {
  dlq_partition: number;
  dlq_offset: string;
  action: Action;
  actor: string;
  reason: string | null;
  forced: boolean;
  target_topic: string | null;
  target_partition: number | null;
  target_offset: string | null;
  at: Date;
}

function toAction(r: DbAction): ActionRow {
  return {
    action: r.action,
    actor: r.actor,
    reason: r.reason,
    forced: r.forced,
    target:
      r.target_topic === null
        ? null
        : { topic: r.target_topic, partition: r.target_partition ?? -1, offset: r.target_offset ?? '' },
    at: r.at,
  };
}

async function query<R extends object>(pool: Pool | { query: Pool['query'] }, sql: string, args: unknown[]) {
  try {
    return await pool.query<R>(sql, args);
  } catch (err) {
    if (typeof err === 'object' && err !== null && 'code' in err && err.code === '42P01')
      throw new Error('reading dead-letter actions: table dlq_actions is missing; run `lockstep prepare`');
    throw err;
  }
}

/** Every retained dead letter with what operators did with it. */
export async function loadDeadLetters(ctx: Ctx): Promise<Entry[]> {
  const records = await readTopic(ctx);
  const rows = await query<DbAction>(
    ctx.pool,
    `select dlq_partition, dlq_offset::text as dlq_offset, action, actor, reason, forced,
            target_topic, target_partition, target_offset, at
       from dlq_actions where dlq_topic = $1 order by id`,
    [ctx.topic],
  );
  const byId = new Map<string, ActionRow[]>();
  for (const r of rows.rows) {
    const id = `${r.dlq_partition}-${r.dlq_offset}`;
    byId.set(id, [...(byId.get(id) ?? []), toAction(r)]);
  }
  return records.map((r) => {
    const id = `${r.partition}-${r.offset}`;
    return { id, partition: r.partition, offset: r.offset, dl: r.dl, history: byId.get(id) ?? [] };
  });
}

export function summary(e: Entry, dlqTopic: string, nowMs: number) {
  const s = e.history.at(-1);
  return {
    id: e.id,
    dlqTopic,
    state: stateOf(e),
    stateBy: s?.actor ?? null,
    stateAt: s?.at.toISOString() ?? null,
    stateReason: s?.reason ?? null,
    stage: e.dl.stage,
    topic: e.dl.topic,
    category: e.dl.error.category,
    retriable: e.dl.error.retriable,
    reason: e.dl.error.message,
    attempts: e.dl.attempts,
    firstFailedAt: new Date(e.dl.firstFailedAtMs).toISOString(),
    deadLetteredAt: new Date(e.dl.tsMs).toISOString(),
    ageMs: nowMs - e.dl.tsMs,
    key: e.dl.key?.toString('utf8') ?? null,
  };
}

/** The original payload, decoded: Avro for Lockstep's topics, JSON for webhook bodies. */
async function decodePayload(
  ctx: Ctx,
  dl: DeadLetter,
): Promise<{ payload: unknown; decodeError: string | null }> {
  if (dl.value === null) return { payload: null, decodeError: 'the dead letter carries no original bytes' };
  try {
    if (schemaForTopic(ctx.config.kafka.topics, dl.topic))
      return { payload: await ctx.serde.deserialize(dl.topic, dl.value), decodeError: null };
    return { payload: JSON.parse(dl.value.toString('utf8')) as unknown, decodeError: null };
  } catch (err) {
    return { payload: null, decodeError: err instanceof Error ? err.message : String(err) };
  }
}

function pick(entries: Entry[], ids: string[]): Entry[] {
  const byId = new Map(entries.map((e) => [e.id, e]));
  const out: Entry[] = [];
  for (const id of new Set(ids)) {
    parseId(id);
    const e = byId.get(id);
    if (!e)
      throw new Error(
        `finding dead letter ${id}: no such record on the dead-letter topic (expired or never there)`,
      );
    out.push(e);
  }
  return out;
}

/** Why this dead letter cannot be put back on a topic, or null when it can. */
function notRetriable(ctx: Ctx, dl: DeadLetter): string | null {
  if (dl.value === null) return 'it carries no original bytes';
  if (dl.topic === ctx.topic) return 'it names the dead-letter topic itself as its origin';
  if (!schemaForTopic(ctx.config.kafka.topics, dl.topic))
    return `it did not come from one of Lockstep's topics (${dl.topic}); a webhook payload is redelivered by the platform or read again by the pollers`;
  return null;
}

export type Outcome =
  | { id: string; result: 'retried'; topic: string; partition: number; offset: string; forced: boolean }
  | { id: string; result: 'discarded'; forced: boolean }
  | { id: string; result: 'refused'; reason: string };

/**
 * One action on one dead letter, under a transaction-scoped advisory lock on its id so two
 * operators retrying at once do not both put it back. For a retry the record is produced before
 * the row commits: if the commit then fails, the record is back on its topic without a recorded
 * state, and a second retry repeats a record the consumers process idempotently anyway.
 */
async function act(
  ctx: Ctx,
  e: Entry,
  action: Action,
  opts: { by: string; reason: string | null; force: boolean },
  put: (dl: DeadLetter) => Promise<{ partition: number; offset: string }>,
): Promise<Outcome> {
  const client = await ctx.pool.connect();
  try {
    await client.query('begin');
    await client.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `lockstep-dlq:${ctx.topic}:${e.id}`,
    ]);
    const prior = await query<DbAction>(
      client,
      `select dlq_partition, dlq_offset::text as dlq_offset, action, actor, reason, forced,
              target_topic, target_partition, target_offset, at
         from dlq_actions where dlq_topic = $1 and dlq_partition = $2 and dlq_offset = $3
        order by id desc limit 1`,
      [ctx.topic, e.partition, e.offset],
    );
    const last = prior.rows[0];
    if (last && !opts.force) {
      await client.query('rollback');
      return {
        id: e.id,
        result: 'refused',
        reason: `already ${last.action} at ${last.at.toISOString()} by ${last.actor}; --force to ${action === 'retried' ? 'retry' : 'discard'} it again`,
      };
    }
    const forced = last !== undefined;
    let target: { topic: string; partition: number; offset: string } | null = null;
    if (action === 'retried') {
      const where = await put(e.dl);
      target = { topic: e.dl.topic, ...where };
    }
    await client.query(
      `insert into dlq_actions (dlq_topic, dlq_partition, dlq_offset, action, actor, reason, forced,
                                target_topic, target_partition, target_offset)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        ctx.topic,
        e.partition,
        e.offset,
        action,
        opts.by,
        opts.reason,
        forced,
        target?.topic ?? null,
        target?.partition ?? null,
        target?.offset ?? null,
      ],
    );
    await client.query('commit');
    return target
      ? { id: e.id, result: 'retried', ...target, forced }
      : { id: e.id, result: 'discarded', forced };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Puts one dead letter back on the topic it came from (original key, bytes and headers), recorded
 * in dlq_actions; refused when it cannot be put back or was already acted on (unless `force`).
 * Shared by `dlq retry` and the status page (`lockstep admin`).
 */
export async function retryDeadLetter(
  ctx: Ctx,
  producer: LockstepProducer,
  e: Entry,
  opts: { by: string; force: boolean },
): Promise<Outcome> {
  const why = notRetriable(ctx, e.dl);
  if (why) return { id: e.id, result: 'refused', reason: `cannot retry: ${why}` };
  return act(ctx, e, 'retried', { by: opts.by, reason: null, force: opts.force }, (dl) =>
    producer.produceRaw(dl.topic, dl.key?.toString('utf8') ?? null, dl.value, {
      ...dl.headers,
      [RETRIED_FROM_HEADER]: `${ctx.topic}:${e.id}`,
    }),
  );
}

function printOutcome(o: Outcome, json: boolean | undefined): void {
  if (json) {
    console.log(JSON.stringify(o));
    return;
  }
  if (o.result === 'refused') process.stderr.write(`${o.id}: refused: ${o.reason}\n`);
  else if (o.result === 'retried')
    console.log(
      `${o.id}: retried to ${o.topic} partition ${o.partition} offset ${o.offset}${o.forced ? ' (forced)' : ''}`,
    );
  else console.log(`${o.id}: discarded${o.forced ? ' (forced)' : ''}`);
}

function filterOptions(cmd: Command): Command {
  return cmd
    .option('--stage <stage>', 'only dead letters of this stage (ingest, reconciler, egress-<platform>)')
    .option(
      '--category <category>',
      `only this error category (${ERROR_CATEGORIES.join(', ')})`,
      parseCategory,
    )
    .option(
      '--since <when>',
      'only dead letters made since a duration ago (30m, 2h, 7d) or a date/time',
      parseSince,
    );
}

type FilterOpts = { stage?: string; category?: string; since?: number };

function hasFilters(o: FilterOpts): boolean {
  return o.stage !== undefined || o.category !== undefined || o.since !== undefined;
}

/** The dead letters a retry/discard acts on: the named ids, or with --all every open one matching the filters. */
function selection(
  entries: Entry[],
  ids: string[],
  opts: FilterOpts & { all?: boolean },
  verb: string,
): Entry[] {
  if (opts.all && ids.length > 0) throw new Error(`${verb}: give dead letter ids or --all, not both`);
  if (opts.all) return entries.filter((e) => matches(e, { ...opts, state: 'open' }));
  if (ids.length === 0) throw new Error(`${verb}: give dead letter ids (dlq list shows them) or --all`);
  if (hasFilters(opts)) throw new Error(`${verb}: --stage, --category and --since select with --all only`);
  return pick(entries, ids);
}

/**
 * Every retained dead letter with its state (for `lockstep report`), oldest first: the same
 * reading as `dlq list` and the status page (`loadDeadLetters`), with its own context closed after.
 */
export async function listDeadLetters(
  configFile: string | undefined,
  loaded?: AppConfig,
): Promise<{ stage: string; category: string; state: string }[]> {
  const ctx = openDlq(configFile, loaded);
  try {
    return (await loadDeadLetters(ctx)).map((e) => ({
      stage: e.dl.stage,
      category: e.dl.error.category,
      state: stateOf(e),
    }));
  } finally {
    await ctx.pool.end();
  }
}

async function withCtx(configFile: string | undefined, fn: (ctx: Ctx) => Promise<void>): Promise<void> {
  const ctx = openDlq(configFile);
  try {
    await fn(ctx);
  } finally {
    await ctx.pool.end();
  }
}

export function register(program: Command): void {
  const dlq = program.command('dlq').description('dead letters: list, show, retry, discard');

  filterOptions(
    dlq
      .command('list')
      .description('dead letters with state, stage, category, reason, attempts and age (oldest first)')
      .option('-c, --config <file>', 'lockstep.yaml')
      .option('--state <state>', 'only open, retried or discarded ones', parseState)
      .option('--json', 'one JSON object per line'),
  ).action(async (opts: FilterOpts & { config?: string; json?: boolean; state?: Filters['state'] }) => {
    await withCtx(opts.config, async (ctx) => {
      const now = Date.now();
      const shown = (await loadDeadLetters(ctx)).filter((e) => matches(e, opts));
      for (const e of shown) {
        const s = summary(e, ctx.topic, now);
        if (opts.json) {
          console.log(JSON.stringify(s));
          continue;
        }
        const by = s.stateBy ? ` by ${s.stateBy}` : '';
        console.log(
          `${s.id.padEnd(10)} ${(s.state + by).padEnd(22)} ${s.stage.padEnd(16)} ${s.category.padEnd(10)} attempts=${s.attempts} age=${age(s.ageMs)}  ${s.reason.length > 120 ? `${s.reason.slice(0, 117)}...` : s.reason}`,
        );
      }
      if (!opts.json && shown.length === 0) console.log(`no dead letters on ${ctx.topic} match`);
    });
  });

  dlq
    .command('show <id>')
    .description('one dead letter in full, with its original payload decoded and what was done with it')
    .option('-c, --config <file>', 'lockstep.yaml')
    .option('--json', 'one JSON object')
    .action(async (id: string, opts: { config?: string; json?: boolean }) => {
      parseId(id);
      await withCtx(opts.config, async (ctx) => {
        const [e] = pick(await loadDeadLetters(ctx), [id]);
        if (!e) return;
        const { payload, decodeError } = await decodePayload(ctx, e.dl);
        const full = {
          ...summary(e, ctx.topic, Date.now()),
          dlqPartition: e.partition,
          dlqOffset: e.offset,
          deadLetterId: e.dl.id,
          originPartition: e.dl.partition,
          originOffset: e.dl.offset,
          headers: e.dl.headers,
          value: e.dl.value,
          payload,
          decodeError,
          history: e.history.map((h) => ({ ...h, at: h.at.toISOString() })),
        };
        if (opts.json) {
          console.log(toJsonLine(full));
          return;
        }
        const lines = [
          `dead letter ${e.id} on ${ctx.topic} (record id ${e.dl.id})`,
          `  state:        ${full.state}${full.stateBy ? ` by ${full.stateBy} at ${full.stateAt}` : ''}${full.stateReason ? ` (${full.stateReason})` : ''}`,
          `  stage:        ${full.stage}`,
          `  from:         ${full.topic}${full.originPartition !== null ? ` partition ${full.originPartition} offset ${full.originOffset ?? '?'}` : ''}`,
          `  key:          ${full.key ?? '(none)'}`,
          `  error:        ${full.category}${full.retriable ? ' (retriable)' : ''}: ${full.reason}`,
          `  attempts:     ${full.attempts}`,
          `  first failed: ${full.firstFailedAt}`,
          `  dead-lettered: ${full.deadLetteredAt} (${age(full.ageMs)} ago)`,
          `  headers:      ${JSON.stringify(full.headers)}`,
          decodeError === null
            ? `  payload:\n${JSON.stringify(JSON.parse(toJsonLine(payload)), null, 2).replace(/^/gm, '    ')}`
            : `  payload:      not decoded (${decodeError}); ${e.dl.value ? `${e.dl.value.length} bytes, base64 ${e.dl.value.toString('base64')}` : 'no bytes'}`,
          ...(e.history.length
            ? [
                '  history:',
                ...e.history.map(
                  (h) =>
                    `    ${h.at.toISOString()} ${h.action} by ${h.actor}${h.forced ? ' (forced)' : ''}${h.reason ? `: ${h.reason}` : ''}${h.target ? ` → ${h.target.topic} partition ${h.target.partition} offset ${h.target.offset}` : ''}`,
                ),
              ]
            : []),
        ];
        console.log(lines.join('\n'));
      });
    });

  filterOptions(
    dlq
      .command('retry [ids...]')
      .description(
        'put dead letters back on the topic they came from (original key, bytes and headers); the consumers process them idempotently',
      )
      .option('-c, --config <file>', 'lockstep.yaml')
      .option('--all', 'every open (not yet retried or discarded) dead letter matching the filters')
      .option('--force', 'retry named dead letters even when already retried or discarded')
      .option('--by <who>', 'recorded as who retried (default: the OS user)')
      .option('--json', 'one JSON object per dead letter'),
  ).action(
    async (
      ids: string[],
      opts: FilterOpts & { config?: string; all?: boolean; force?: boolean; by?: string; json?: boolean },
    ) => {
      await withCtx(opts.config, async (ctx) => {
        let chosen = selection(await loadDeadLetters(ctx), ids, opts, 'retrying dead letters');
        if (opts.all) {
          // --all means "everything that can be retried": the rest is named, not counted as refused.
          const skipped = chosen.filter((e) => notRetriable(ctx, e.dl) !== null);
          chosen = chosen.filter((e) => notRetriable(ctx, e.dl) === null);
          if (skipped.length > 0)
            process.stderr.write(
              `skipping ${skipped.length} dead letter(s) that cannot be put back on a topic (${skipped.map((e) => e.id).join(', ')}); dlq show says why\n`,
            );
        }
        const producer = createProducer(ctx.kafka, ctx.serde);
        await producer.connect();
        try {
          for (const e of chosen) {
            const o = await retryDeadLetter(ctx, producer, e, {
              by: opts.by ?? defaultActor(),
              force: !!opts.force,
            });
            if (o.result === 'refused') process.exitCode = 1;
            printOutcome(o, opts.json);
          }
          if (!opts.json && chosen.length === 0) console.log('no open dead letters match');
        } finally {
          await producer.disconnect();
        }
      });
    },
  );

  filterOptions(
    dlq
      .command('discard [ids...]')
      .description(
        'record that dead letters are not to be retried, by whom and why (the records stay on the topic until retention)',
      )
      .option('-c, --config <file>', 'lockstep.yaml')
      .option('--all', 'every open dead letter matching the filters')
      .option('--reason <why>', 'why (required)')
      .option('--force', 'record a discard even for dead letters already retried or discarded')
      .option('--by <who>', 'recorded as who discarded (default: the OS user)')
      .option('--json', 'one JSON object per dead letter'),
  ).action(
    async (
      ids: string[],
      opts: FilterOpts & {
        config?: string;
        all?: boolean;
        force?: boolean;
        by?: string;
        reason?: string;
        json?: boolean;
      },
    ) => {
      if (!opts.reason?.trim()) throw new Error('discarding dead letters: give --reason <why>');
      const reason = opts.reason.trim();
      await withCtx(opts.config, async (ctx) => {
        const chosen = selection(await loadDeadLetters(ctx), ids, opts, 'discarding dead letters');
        for (const e of chosen) {
          const o = await act(
            ctx,
            e,
            'discarded',
            { by: opts.by ?? defaultActor(), reason, force: !!opts.force },
            () => {
              throw new Error('unreachable: a discard produces nothing');
            },
          );
          if (o.result === 'refused') process.exitCode = 1;
          printOutcome(o, opts.json);
        }
        if (!opts.json && chosen.length === 0) console.log('no open dead letters match');
      });
    },
  );
}
