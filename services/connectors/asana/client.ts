/**
 * The one place an `asana` SDK client is built (egress, pollers, ingest's expand, admin helpers),
 * so every request has a timeout, draws from the Asana budget and keeps within Asana's
 * concurrency limits (50 reads and 15 writes in flight per token). The SDK (3.2.0) sends every
 * call through `ApiClient.callApi` (superagent); the subclass below meters that one method.
 *
 * Asana documents no remaining-budget headers; a 429 carries `Retry-After` (seconds).
 */
import Asana from 'asana';
import { requestTimeout, type BudgetObservation, type RequestBudget } from '../../core/resilience/index.ts';
import type { AsanaConfig } from './config.ts';

/** At most `n` holders at a time; the others wait in order. */
class Gate {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  async enter(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  leave(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/** The superagent error shape the SDK rejects with. */
export interface SuperagentError extends Error {
  status?: number;
  timeout?: number;
  code?: string;
  response?: { status?: number; headers?: Record<string, string | undefined>; body?: unknown; text?: string };
}

export function asanaBudgetHeaders(err: SuperagentError): BudgetObservation {
  const after = Number(err.response?.headers?.['retry-after'] ?? NaN);
  return Number.isFinite(after) && after >= 0 ? { retryAfterMs: Math.ceil(after * 1000) } : {};
}

/** The SDK's ApiClient with a budget, a timeout and the concurrency gates around `callApi`. */
class MeteredApiClient extends Asana.ApiClient {
  private readonly reads: Gate;
  private readonly writes: Gate;

  private readonly cfg: AsanaConfig;
  private readonly budget: RequestBudget | undefined;

  constructor(cfg: AsanaConfig, budget: RequestBudget | undefined) {
    super();
    this.cfg = cfg;
    this.budget = budget;
    this.basePath = cfg.baseUrl;
    this.authentications.token.accessToken = cfg.accessToken.reveal();
    this.timeout = cfg.requestTimeoutMs;
    // The SDK would otherwise add `_=<time>` to every GET (its cache buster).
    this.cache = true;
    this.reads = new Gate(cfg.maxConcurrentReads);
    this.writes = new Gate(cfg.maxConcurrentWrites);
  }

  override async callApi(
    ...args: Parameters<Asana.ApiClient['callApi']>
  ): ReturnType<Asana.ApiClient['callApi']> {
    const gate = args[1].toUpperCase() === 'GET' ? this.reads : this.writes;
    // The wait for budget and for a free slot is not part of the timeout: only Asana's silence is.
    await this.budget?.acquire();
    await gate.enter();
    try {
      return await super.callApi(...args);
    } catch (err) {
      const e = err as SuperagentError;
      if (e?.response) this.budget?.observe(asanaBudgetHeaders(e));
      if (e && typeof e.timeout === 'number') throw requestTimeout('asana', this.cfg.requestTimeoutMs, err);
      throw err;
    } finally {
      gate.leave();
    }
  }
}

export function asanaApiClient(cfg: AsanaConfig, budget?: RequestBudget): Asana.ApiClient {
  return new MeteredApiClient(cfg, budget);
}

/** The SDK's API objects Lockstep uses, sharing one metered client. */
export interface AsanaApis {
  tasks: Asana.TasksApi;
  stories: Asana.StoriesApi;
  sections: Asana.SectionsApi;
  users: Asana.UsersApi;
  events: Asana.EventsApi;
  webhooks: Asana.WebhooksApi;
  projects: Asana.ProjectsApi;
  tags: Asana.TagsApi;
  customFieldSettings: Asana.CustomFieldSettingsApi;
}

export function asanaApis(cfg: AsanaConfig, budget?: RequestBudget): AsanaApis {
  const c = asanaApiClient(cfg, budget);
  return {
    tasks: new Asana.TasksApi(c),
    stories: new Asana.StoriesApi(c),
    sections: new Asana.SectionsApi(c),
    users: new Asana.UsersApi(c),
    events: new Asana.EventsApi(c),
    webhooks: new Asana.WebhooksApi(c),
    projects: new Asana.ProjectsApi(c),
    tags: new Asana.TagsApi(c),
    customFieldSettings: new Asana.CustomFieldSettingsApi(c),
  };
}
