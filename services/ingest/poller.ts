/**
 * The safety net for missed webhooks: each connector's delta poll on an interval. The cursor is
 * read from and written to Postgres, and written only after the events are in Kafka, so a crash
 * in between re-reads the same window and the reconciler's eventId dedupe absorbs the repeat.
 */
import type { Counter, Gauge } from 'prom-client';
import type { JsonValue, Poller, RejectedItem } from '../connectors/types.ts';
import type { Logger } from '../core/logging/index.ts';
import { backoffDelay } from '../core/resilience/index.ts';
import type { ChangeEvent } from '../../schemas/generated/types.ts';

export interface CursorStore {
  load(source: string): Promise<JsonValue | null>;
  save(source: string, cursor: JsonValue): Promise<void>;
}

export interface PollLoopDeps {
  source: string;
  poller: Poller;
  cursors: CursorStore;
  publish(events: ChangeEvent[]): Promise<void>;
  intervalMs: number;
  logger: Logger;
  /** Puts an item the poll could not read on the dead-letter topic (with its raw JSON). */
  deadLetter(source: string, item: RejectedItem): Promise<void>;
  metrics: {
    polls: Counter<'source' | 'result'>;
    polledEvents: Counter<'source'>;
    /** Set to the time of each successful poll round (alert on `time() - value`: a stalled poller). */
    lastSuccess?: Gauge<'source'>;
  };
}

/** One poll round: pages until caught up. Returns the number of events published. */
export async function pollOnce(deps: PollLoopDeps): Promise<number> {
  let cursor = await deps.cursors.load(deps.source);
  let total = 0;
  for (let page = 0; page < 1000; page++) {
    const result = await deps.poller.poll(cursor);
    if (result.events.length) await deps.publish(result.events);
    // A malformed item is parked where it can be seen and retried, and the poll goes on past it;
    // like the events, it is durable before the cursor moves.
    for (const item of result.rejected ?? []) {
      deps.logger.error(
        { source: deps.source, id: item.id, reason: item.reason },
        'dead-lettering a polled item',
      );
      await deps.deadLetter(deps.source, item);
      deps.metrics.polls.inc({ source: deps.source, result: 'item_dead_lettered' });
    }
    await deps.cursors.save(deps.source, result.cursor);
    cursor = result.cursor;
    total += result.events.length;
    if (result.caughtUp) break;
  }
  deps.metrics.polledEvents.inc({ source: deps.source }, total);
  return total;
}

/** Polls until `signal` aborts; failures back off (bounded) and never stop the loop. */
export async function runPollLoop(deps: PollLoopDeps, signal: AbortSignal): Promise<void> {
  let failures = 0;
  while (!signal.aborted) {
    let wait = deps.intervalMs;
    try {
      const n = await pollOnce(deps);
      deps.metrics.polls.inc({ source: deps.source, result: 'ok' });
      deps.metrics.lastSuccess?.set({ source: deps.source }, Date.now() / 1000);
      if (n) deps.logger.info({ source: deps.source, events: n }, 'poll published events');
      failures = 0;
    } catch (err) {
      failures++;
      deps.metrics.polls.inc({ source: deps.source, result: 'error' });
      wait = Math.max(wait, backoffDelay(failures, { baseMs: 1000, maxMs: 5 * 60_000 }));
      deps.logger.warn({ source: deps.source, err: String(err), retryInMs: wait }, 'polling failed');
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, wait);
      signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
  }
}
