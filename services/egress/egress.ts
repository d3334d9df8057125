/**
 * egress-<platform>: applies WriteCommands through the connector, exactly once per command id,
 * inside the platform's rate budget, retrying only what is retriable, pausing while the platform's
 * breaker is open, dead-lettering what can never succeed, and publishing an outcome for each.
 */
import type { Counter, Gauge, Histogram } from 'prom-client';
import { describeSdkError, type Applier, type ApplyResult, type ErrorClass } from '../connectors/types.ts';
import type { Logger } from '../core/logging/index.ts';
import { backoffDelay, type CircuitBreaker, type RateBudget } from '../core/resilience/index.ts';
import { activeTraceId, withSpan, withTraceHeaders } from '../core/telemetry/index.ts';
import type { AuditRecord, ErrorInfo, WriteCommand, WriteOutcome } from '../../schemas/generated/types.ts';
import { auditRecords } from './audit.ts';
import { coalesce, commandIds, distinctCommands, type Coalesced, type Pending } from './coalesce.ts';
import { notesFor, type PendingNote } from './notes.ts';

/** Where a command came from, so a dead letter can name it and carry its original bytes. */
export interface CommandMeta {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  raw: Buffer | null;
  headers: Record<string, string>;
}

export interface AppliedStore {
  /** The outcome already recorded for this command id, if any. */
  get(commandId: string): Promise<WriteOutcome | null>;
  /**
   * Records the outcome under every command id it covers, and the write's audit records
   * (audit.ts) and visible notes to post (notes.ts) in the same transaction.
   */
  record(
    commandIds: string[],
    outcome: WriteOutcome,
    audit?: AuditRecord[],
    notes?: PendingNote[],
  ): Promise<void>;
}

export interface EgressDeps {
  platform: string;
  applier: Applier;
  classify(err: unknown): ErrorClass;
  /** The connector's `describeError` (what its SDK keeps of the platform's answer); absent: describeSdkError. */
  describe?(err: unknown): string;
  /** The platform's budget, shared with the applier's clients; egress only reports Retry-After to it. */
  budget: RateBudget;
  breaker: CircuitBreaker;
  applied: AppliedStore;
  publishOutcome(o: WriteOutcome): Promise<void>;
  deadLetter(
    part: Pending<CommandMeta>,
    error: ErrorInfo,
    attempts: number,
    firstFailedAtMs: number,
  ): Promise<void>;
  retry: { maxAttempts: number; baseMs: number; maxMs: number };
  /**
   * Visible notes (notes.ts): whether the command's flow posts them (`flows[].notes`), and how
   * people write a platform's name. Absent: no notes (the audit log still has the field).
   */
  notes?: { enabled(flowId: string): boolean; platformName: string; nameOf(platform: string): string | null };
  /** Called to keep the consumer's group membership alive during long waits. */
  heartbeat(): Promise<void>;
  /** True once the consumer is stopping or the partition was revoked: finish nothing new. */
  stopping(): boolean;
  sleep(ms: number): Promise<void>;
  now(): number;
  logger: Logger;
  metrics: {
    commands: Counter<'platform' | 'result'>;
    apiCalls: Counter<'platform' | 'result'>;
    applySeconds: Histogram<'platform'>;
    /** Retries of recording/publishing/dead-lettering (infrastructure, never the platform). */
    infraRetries: Counter<'platform' | 'step'>;
    /** Fields a write could not carry because the value has no counterpart here (a person, a status). */
    unresolved?: Counter<'platform' | 'field'>;
    /** 1 while the platform refuses Lockstep's credentials and commands are held, else 0. */
    credentialsRefused?: Gauge<'platform'>;
  };
}

/**
 * Processes one fetched batch of commands (one partition, in order). Returns the commands it
 * finished, a prefix of `batch`: it stops between commands (and between attempts) once `stopping()`
 * says the consumer is shutting down or the partition was revoked, and the caller commits only
 * what was finished, so the rest is redelivered to whoever owns the partition next.
 */
export async function processCommands(
  deps: EgressDeps,
  batch: Pending<CommandMeta>[],
): Promise<Pending<CommandMeta>[]> {
  const finished: Pending<CommandMeta>[] = [];
  for (const group of coalesce(batch)) {
    if (deps.stopping()) break;
    // kafkajs' batch instrumentation puts its per-record spans in a new trace (only linked to the
    // producer's), so the apply runs in a span parented by the trace context in the record's headers:
    // the command's, and for a coalesced group the last (newest) command's.
    const last = group.parts.at(-1);
    const done = await withTraceHeaders(last?.meta.headers, () =>
      withSpan(`apply ${deps.platform}`, () => processOne(deps, group), {
        'messaging.destination.name': last?.meta.topic ?? '',
        'messaging.kafka.offset': last?.meta.offset ?? '',
        'lockstep.command_id': last?.cmd.commandId ?? '',
        'lockstep.coalesced': group.parts.length,
      }),
    );
    if (!done) break;
    finished.push(...group.parts);
  }
  return finished;
}

/** Thrown out of a wait when the consumer stops or loses the partition: nothing is committed. */
class Stopping extends Error {}

/** True when the group was finished (applied, recorded and published, or dead-lettered). */
async function processOne(deps: EgressDeps, group: Coalesced<CommandMeta>): Promise<boolean> {
  try {
    await applyGroup(deps, group);
    return true;
  } catch (err) {
    if (err instanceof Stopping) return false;
    throw err;
  }
}

async function applyGroup(deps: EgressDeps, group: Coalesced<CommandMeta>): Promise<void> {
  const ids = commandIds(group.parts);
  const stored = await untilDone(deps, 'reading applied commands', () =>
    Promise.all(ids.map((id) => deps.applied.get(id))),
  );
  // A recorded failure (dead-lettered) is not "done": a replay or a DLQ retry may try it again.
  const done = stored.map((o) => (o !== null && o.status !== 'failed' ? o : null));
  if (done.every((d) => d !== null)) {
    // Applied before a crash or a replay: publish the recorded outcome again (it may have been
    // lost), with the status it was recorded with.
    deps.metrics.commands.inc({ platform: deps.platform, result: 'already_applied' }, ids.length);
    const last = done.at(-1);
    if (last) await untilDone(deps, 'publishing outcome', () => deps.publishOutcome(last));
    return;
  }
  const todo = group.parts.filter((p) => done[ids.indexOf(p.cmd.commandId)] === null);
  const cmd = todo.length === group.parts.length ? group.cmd : coalesce(todo).map((g) => g.cmd)[0];
  if (!cmd) return;
  const todoIds = commandIds(todo);

  const result = await callPlatform(deps, cmd, todo);
  // The target no longer exists (deleted there after the command was computed). Not bad input and
  // nothing to retry: a delete has what it wanted; an update's outcome says not_found and the
  // reconciler closes the link with a note, as it does for a delete it sees. No dead letter.
  const gone = result.ok === false && result.error.category === 'not_found' && cmd.action !== 'create';
  if (gone && cmd.action === 'delete') {
    const outcome: WriteOutcome = { ...toOutcome(cmd, null, todo, deps.now()), status: 'already_applied' };
    await untilDone(deps, 'recording outcome', () => deps.applied.record(todoIds, outcome));
    await untilDone(deps, 'publishing outcome', () => deps.publishOutcome(outcome));
    deps.metrics.commands.inc({ platform: deps.platform, result: 'already_applied' }, todo.length);
    return;
  }
  // From here on the platform has answered for good: whatever fails now is our own infrastructure
  // (Postgres, Kafka). It is waited out and retried, never the platform call, and never counted
  // against the platform's breaker — repeating an accepted write could only duplicate it.
  const outcome =
    result.ok === true
      ? toOutcome(cmd, result.value, todo, deps.now())
      : { ...toOutcome(cmd, null, todo, deps.now()), status: 'failed' as const, error: result.error };
  if (result.ok === false && !gone)
    for (const p of todo)
      await untilDone(deps, 'dead-lettering command', () =>
        deps.deadLetter(p, result.error, result.attempts, result.firstFailedAtMs),
      );
  const audit =
    result.ok === true
      ? auditRecords({
          cmd,
          parts: distinctCommands(todo),
          result: result.value,
          traceId: activeTraceId() ?? null,
          nowMs: outcome.tsMs,
        })
      : [];
  const notes =
    result.ok === true && deps.notes?.enabled(cmd.flowId)
      ? notesFor(
          cmd,
          { targetId: outcome.targetId ?? '', targetKey: outcome.targetKey },
          result.value.skipped,
          deps.notes,
        )
      : [];
  await untilDone(deps, 'recording outcome', () => deps.applied.record(todoIds, outcome, audit, notes));
  await untilDone(deps, 'publishing outcome', () => deps.publishOutcome(outcome));
  deps.metrics.commands.inc(
    { platform: deps.platform, result: result.ok ? outcome.status : gone ? 'target_gone' : 'dead_lettered' },
    todo.length,
  );
}

type CallResult =
  | { ok: true; value: ApplyResult }
  | { ok: false; error: ErrorInfo; attempts: number; firstFailedAtMs: number };

/** The platform call alone, retried while retriable and within `retry.maxAttempts`. */
/** Between tries of a command whose credentials were refused: 1 s doubling to 30 s (jittered). */
const CREDENTIALS_RETRY = { baseMs: 1000, maxMs: 30_000 };

async function callPlatform(
  deps: EgressDeps,
  cmd: WriteCommand,
  todo: Pending<CommandMeta>[],
): Promise<CallResult> {
  const firstFailedAtMs = deps.now();
  let refusals = 0;
  for (let attempt = 0; ; attempt++) {
    await waitForBreaker(deps);
    if (deps.stopping()) throw new Stopping('stopping before applying');
    // No token is taken here: every HTTP request the applier makes draws from the platform's
    // budget itself (the connector's clients are built with it), one command being 1–6 requests.
    const started = deps.now();
    let value: ApplyResult;
    try {
      value = await deps.applier.apply(cmd);
    } catch (err) {
      const c = deps.classify(err);
      deps.metrics.apiCalls.inc({ platform: deps.platform, result: c.category });
      if (c.retryAfterMs !== undefined) deps.budget.observe({ retryAfterMs: c.retryAfterMs });
      if (c.credentialsRefused === true) {
        // Our credentials are refused, not this command: every write would fail alike, and
        // dead-lettering each one is a storm an operator must retry by hand. The command is held
        // (not counted as an attempt) and the call tried again with a capped backoff until the
        // platform accepts the credentials again (a token re-issued, or egress restarted with a
        // new one). The breaker is for the platform's health (5xx, timeouts) and is not told.
        deps.metrics.credentialsRefused?.set({ platform: deps.platform }, 1);
        const delay = backoffDelay(refusals, CREDENTIALS_RETRY);
        if (refusals % 10 === 0)
          deps.logger.error(
            {
              platform: deps.platform,
              commandId: cmd.commandId,
              refusals: refusals + 1,
              retryInMs: delay,
              err: (deps.describe ?? describeSdkError)(err),
            },
            `${deps.platform} refuses Lockstep's credentials: commands are held until it accepts them (replace the token in connectors.${deps.platform} and restart this egress)`,
          );
        refusals++;
        attempt--;
        await sleepWithHeartbeat(deps, Math.max(delay, 500));
        continue;
      }
      // A bad command says nothing about the platform's health; only retriable failures trip the breaker.
      if (c.retriable) deps.breaker.failure();
      const message = (deps.describe ?? describeSdkError)(err);
      if (c.retriable && attempt + 1 < deps.retry.maxAttempts) {
        const delay = backoffDelay(attempt, deps.retry, c.retryAfterMs);
        deps.logger.warn(
          {
            platform: deps.platform,
            commandId: cmd.commandId,
            category: c.category,
            attempt,
            retryInMs: delay,
            err: message,
          },
          'applying command failed; retrying',
        );
        await sleepWithHeartbeat(deps, delay);
        continue;
      }
      deps.logger.error(
        { platform: deps.platform, commandId: cmd.commandId, category: c.category, err: message },
        'applying command failed for good',
      );
      return {
        ok: false,
        error: {
          category: c.category,
          message: `applying ${cmd.action} ${cmd.entityType} to ${deps.platform}: ${message}`,
          retriable: c.retriable,
        },
        attempts: attempt + 1,
        firstFailedAtMs,
      };
    }
    deps.breaker.success();
    if (refusals > 0) {
      deps.metrics.credentialsRefused?.set({ platform: deps.platform }, 0);
      deps.logger.warn(
        { platform: deps.platform, refusals },
        `${deps.platform} accepts Lockstep's credentials again: held commands go on`,
      );
    }
    deps.metrics.apiCalls.inc({ platform: deps.platform, result: 'ok' });
    deps.metrics.applySeconds.observe({ platform: deps.platform }, (deps.now() - started) / 1000);
    for (const s of value.skipped)
      if (s.reason === 'unresolvable')
        deps.metrics.unresolved?.inc({ platform: deps.platform, field: s.field });
    if (value.skipped.some((s) => s.reason === 'follow_up_failed'))
      deps.logger.warn(
        { platform: deps.platform, commandId: cmd.commandId, skipped: value.skipped, todo: todo.length },
        'command applied, but a step after the write failed; those fields are left as written',
      );
    return { ok: true, value };
  }
}

/**
 * Runs a step against our own infrastructure until it succeeds: an outage of Postgres or Kafka is
 * not bad input, so it is waited out (capped backoff, heartbeats keep the partition) rather than
 * dead-lettered. Gives up only when the consumer stops or loses the partition; the command is then
 * redelivered and its create marker / stale-base check keep the platform from a second write.
 */
async function untilDone<T>(deps: EgressDeps, what: string, step: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      deps.metrics.infraRetries.inc({ platform: deps.platform, step: what });
      const delay = backoffDelay(attempt, { baseMs: deps.retry.baseMs, maxMs: deps.retry.maxMs });
      deps.logger.warn(
        { platform: deps.platform, attempt, retryInMs: delay, err: describeSdkError(err) },
        `${what} failed; retrying (the platform is not called again)`,
      );
      await sleepWithHeartbeat(deps, Math.max(delay, 50));
      if (deps.stopping()) throw new Stopping(`${what}: stopping`);
    }
  }
}

async function waitForBreaker(deps: EgressDeps): Promise<void> {
  while (!deps.breaker.allows()) {
    if (deps.stopping()) throw new Stopping('stopping while the breaker is open');
    await sleepWithHeartbeat(deps, Math.max(50, deps.breaker.remainingOpenMs()));
  }
}

async function sleepWithHeartbeat(deps: EgressDeps, ms: number): Promise<void> {
  const end = deps.now() + ms;
  for (let left = ms; left > 0; left = end - deps.now()) {
    if (deps.stopping()) throw new Stopping('stopping during a wait');
    await deps.sleep(Math.min(left, 3000));
    await deps.heartbeat();
  }
}

function toOutcome(
  cmd: WriteCommand,
  r: ApplyResult | null,
  parts: Pending<CommandMeta>[],
  nowMs: number,
): WriteOutcome {
  return {
    commandId: cmd.commandId,
    linkId: cmd.linkId,
    flowId: cmd.flowId,
    platform: cmd.platform,
    workspace: cmd.workspace,
    entityType: cmd.entityType,
    action: cmd.action,
    status:
      r === null
        ? 'failed'
        : r.alreadyApplied
          ? 'already_applied'
          : r.skipped.some((s) => s.reason === 'stale_base')
            ? 'skipped_stale'
            : 'applied',
    targetId: r?.targetId ?? cmd.targetId,
    targetKey: r?.targetKey ?? null,
    written: r?.written ?? null,
    platformVersion: r?.platformVersion ?? null,
    platformTsMs: r?.platformTsMs ?? null,
    error: null,
    coalesced: commandIds(parts).filter((id) => id !== cmd.commandId),
    tsMs: nowMs,
  };
}
