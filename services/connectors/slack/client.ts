/**
 * The one place a `@slack/web-api` WebClient is built (egress, pollers, readers, admin helpers), so
 * every request has a timeout and draws from the Slack budget (meteredFetch). The SDK's own
 * retries are off: egress and the poller retry by the error's class (errors.ts), and a 429 is
 * raised, not waited out inside the SDK, so its Retry-After reaches the shared budget.
 *
 * Two tokens: the bot token posts and edits (cards, replies); the user token reads threads, which
 * Slack lets a bot token read only in DMs (PLATFORMS.md §4).
 */
import { WebClient, LogLevel } from '@slack/web-api';
import { meteredFetch, type BudgetObservation, type RequestBudget } from '../../core/resilience/index.ts';
import type { SlackConfig } from './config.ts';

/** A 429's Retry-After (seconds) as a budget observation; Slack documents no remaining-budget headers. */
export function slackBudgetHeaders(headers: Headers, status: number): BudgetObservation {
  if (status !== 429) return {};
  const after = Number(headers.get('retry-after') ?? NaN);
  return Number.isFinite(after) && after >= 0 ? { retryAfterMs: Math.ceil(after * 1000) } : {};
}

export interface SlackClients {
  /** Posts and edits as the bot (`chat:write`). */
  bot: WebClient;
  /** Reads channel history and threads (`channels:history`, `groups:history`). */
  reader: WebClient;
}

export function slackClients(cfg: SlackConfig, budget?: RequestBudget): SlackClients {
  const fetch = meteredFetch({
    what: 'slack',
    timeoutMs: cfg.requestTimeoutMs,
    ...(budget && { budget }),
    readBudget: slackBudgetHeaders,
  });
  const options = {
    slackApiUrl: cfg.apiUrl,
    fetch,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    logLevel: LogLevel.ERROR,
  };
  return {
    bot: new WebClient(cfg.botToken.reveal(), options),
    reader: new WebClient(cfg.userToken.reveal(), options),
  };
}
