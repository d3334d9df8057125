/**
 * egress-<platform>: applies WriteCommands through the connector, exactly once per command id,
 * inside the platform's rate budget, retrying only what is retriable, pausing while the platform's
 * breaker is open, dead-lettering what can never succeed, and publishing an outcome for each.
 */
import type { Counter, Histogram } from 'prom-client';
import type { Applier, ApplyResult, ErrorClass } from '../connectors/types.ts';
import type { Logger } from '../core/logging/index.ts';
import { backoffDelay, type CircuitBreaker, type RateBudget } from '../core/resilience/index.ts';
import { withSpan, withTraceHeaders } from '../core/telemetry/index.ts';
import type { ErrorInfo, WriteCommand, WriteOutcome } from '../../schemas/generated/types.ts';
import { coalesce, type Coalesced, type Pending } from './coalesce.ts';

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
  /** Records the outcome under every command id it covers. */
  record(commandIds: string[], outcome: WriteOutcome): Promise<void>;
}

export interface EgressDeps {
  platform: string;
  applier: Applier;
  classify(err: unknown): ErrorClass;
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
  /** Called to keep the consumer's group membership alive during long waits. */
  heartbeat(): Promise<void>;
  sleep(ms: number): Promise<void>;
  now(): number;
  logger: Logger;
  metrics: {
    commands: Counter<'platform' | 'result'>;
    apiCalls: Counter<'platform' | 'result'>;
    applySeconds: Histogram<'platform'>;
  };
}

/** Processes one fetched batch of commands (one partition, in order). */
export async function processCommands(deps: EgressDeps, batch: Pending<CommandMeta>[]): Promise<void> {
  for (const group of coalesce(batch)) {
    // kafkajs' batch instrumentation puts its per-record spans in a new trace (only linked to the
    // producer's), so the apply runs in a span parented by the trace context in the record's headers:
    // the command's, and for a coalesced group the last (newest) command's.
    const last = group.parts.at(-1);
    await withTraceHeaders(last?.meta.headers, () =>
      withSpan(`apply ${deps.platform}`, () => processOne(deps, group), {
        'messaging.destination.name': last?.meta.topic ?? '',
        'messaging.kafka.offset': last?.meta.offset ?? '',
        'lockstep.command_id': last?.cmd.commandId ?? '',
        'lockstep.coalesced': group.parts.length,
      }),
    );
  }
}

async function processOne(deps: EgressDeps, group: Coalesced<CommandMeta>): Promise<void> {
  const ids = group.parts.map((p) => p.cmd.commandId);
  // A recorded failure was dead-lettered, not applied: a command put back by `lockstep dlq retry`
  // (or read again by a replay) is tried again. Only a success makes a command id done.
  const done = (await Promise.all(ids.map((id) => deps.applied.get(id)))).map((d) =>
    d?.status === 'failed' ? null : d,
  );
  if (done.every((d) => d !== null)) {
    // Applied before a crash or a replay: publish the recorded outcome again (it may have been lost).
    deps.metrics.commands.inc({ platform: deps.platform, result: 'already_applied' }, ids.length);
    const last = done.at(-1);
    if (last) await deps.publishOutcome({ ...last, status: 'already_applied', tsMs: deps.now() });
    return;
  }
  const todo = group.parts.filter((_, i) => done[i] === null);
  const cmd = todo.length === group.parts.length ? group.cmd : coalesce(todo).map((g) => g.cmd)[0];
  if (!cmd) return;

  const firstFailedAtMs = deps.now();
  for (let attempt = 0; ; attempt++) {
    await waitForBreaker(deps);
    await deps.budget.acquire();
    const started = deps.now();
    try {
      const result = await deps.applier.apply(cmd);
      deps.breaker.success();
      deps.metrics.apiCalls.inc({ platform: deps.platform, result: 'ok' });
      deps.metrics.applySeconds.observe({ platform: deps.platform }, (deps.now() - started) / 1000);
      const outcome = toOutcome(cmd, result, todo, deps.now());
      await deps.applied.record(
        todo.map((p) => p.cmd.commandId),
        outcome,
      );
      await deps.publishOutcome(outcome);
      deps.metrics.commands.inc({ platform: deps.platform, result: outcome.status }, todo.length);
      return;
    } catch (err) {
      const c = deps.classify(err);
      deps.metrics.apiCalls.inc({ platform: deps.platform, result: c.category });
      if (c.retryAfterMs !== undefined) deps.budget.observe({ retryAfterMs: c.retryAfterMs });
      // A bad command says nothing about the platform's health; only retriable failures trip the breaker.
      if (c.retriable) deps.breaker.failure();
      const message = describeError(err);
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
      const error: ErrorInfo = {
        category: c.category,
        message: `applying ${cmd.action} ${cmd.entityType} to ${deps.platform}: ${message}`,
        retriable: c.retriable,
      };
      deps.logger.error(
        { platform: deps.platform, commandId: cmd.commandId, category: c.category, err: message },
        'command dead-lettered',
      );
      for (const p of todo) await deps.deadLetter(p, error, attempt + 1, firstFailedAtMs);
      const failed: WriteOutcome = {
        ...toOutcome(cmd, null, todo, deps.now()),
        status: 'failed',
        error,
      };
      await deps.applied.record(
        todo.map((p) => p.cmd.commandId),
        failed,
      );
      await deps.publishOutcome(failed);
      deps.metrics.commands.inc({ platform: deps.platform, result: 'dead_lettered' }, todo.length);
      return;
    }
  }
}

async function waitForBreaker(deps: EgressDeps): Promise<void> {
  while (!deps.breaker.allows()) await sleepWithHeartbeat(deps, Math.max(50, deps.breaker.remainingOpenMs()));
}

async function sleepWithHeartbeat(deps: EgressDeps, ms: number): Promise<void> {
  const end = deps.now() + ms;
  for (let left = ms; left > 0; left = end - deps.now()) {
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
    coalesced: parts.slice(0, -1).map((p) => p.cmd.commandId),
    tsMs: nowMs,
  };
}

/** The error's message plus the platform's answer when the SDK kept it (jira.js, superagent, axios). */
export function describeError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const holder = err as {
    response?: { data?: unknown; body?: unknown };
    cause?: { response?: { data?: unknown } };
  };
  const body = holder?.response?.data ?? holder?.response?.body ?? holder?.cause?.response?.data;
  if (body === undefined || body === null || body === '') return message;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return `${message}: ${text.slice(0, 500)}`;
}
