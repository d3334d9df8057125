/**
 * @slack/web-api errors → categories. Slack answers almost every failure HTTP 200 `{ok:false,
 * error:"<code>"}`, which the SDK (8.2) raises as `WebAPIPlatformError` (`data.error`): the table
 * is keyed by that code. The SDK's other errors: `WebAPIRateLimitedError` (a 429, `retryAfter` in
 * seconds; with `rejectRateLimitedCalls`), `WebAPIRequestError` (no answer: `original`),
 * `WebAPIHTTPError` (any status but 200 and 429: `statusCode`, the body as text).
 *
 * A code not in the table is `unknown` and not retried: a new Slack code is a question for a
 * person, never a silent retry loop.
 */
import {
  ErrorCode,
  type WebAPIHTTPError,
  type WebAPIPlatformError,
  type WebAPIRateLimitedError,
  type WebAPIRequestError,
} from '@slack/web-api';
import { LockstepError } from '../../core/errors/index.ts';
import { classifyHttpStatus } from '../kit/http-status.ts';
import type { ErrorClass } from '../types.ts';

const UNKNOWN: ErrorClass = { category: 'unknown', retriable: false };
const NETWORK: ErrorClass = { category: 'network', retriable: true };
const RATE_LIMIT: ErrorClass = { category: 'rate_limit', retriable: true };
const CREDENTIALS: ErrorClass = { category: 'auth', retriable: false, credentialsRefused: true };
const FORBIDDEN: ErrorClass = { category: 'auth', retriable: false };
const NOT_FOUND: ErrorClass = { category: 'not_found', retriable: false };
const INVALID: ErrorClass = { category: 'validation', retriable: false };

/**
 * Slack's `error` codes (the method pages and the Web API spec's error enums for the methods
 * Lockstep calls). Credential codes refuse the token itself, so every call would fail alike; the
 * plain `auth` ones refuse this one call (a scope, a channel, someone else's message).
 */
const SLACK_ERRORS: Readonly<Record<string, ErrorClass>> = {
  not_authed: CREDENTIALS,
  invalid_auth: CREDENTIALS,
  token_revoked: CREDENTIALS,
  token_expired: CREDENTIALS,
  account_inactive: CREDENTIALS,

  missing_scope: FORBIDDEN,
  no_permission: FORBIDDEN,
  not_in_channel: FORBIDDEN,
  cant_update_message: FORBIDDEN,
  edit_window_closed: FORBIDDEN,
  restricted_action: FORBIDDEN,
  is_archived: FORBIDDEN,
  user_not_visible: FORBIDDEN,
  access_denied: FORBIDDEN,
  not_allowed_token_type: FORBIDDEN,

  ratelimited: RATE_LIMIT,
  rate_limited: RATE_LIMIT,

  channel_not_found: NOT_FOUND,
  message_not_found: NOT_FOUND,
  thread_not_found: NOT_FOUND,
  user_not_found: NOT_FOUND,
  users_not_found: NOT_FOUND,

  invalid_arguments: INVALID,
  invalid_arg_name: INVALID,
  invalid_array_arg: INVALID,
  invalid_charset: INVALID,
  invalid_form_data: INVALID,
  invalid_post_type: INVALID,
  missing_post_type: INVALID,
  invalid_json: INVALID,
  json_not_object: INVALID,
  invalid_blocks: INVALID,
  invalid_blocks_format: INVALID,
  invalid_attachments: INVALID,
  too_many_attachments: INVALID,
  msg_too_long: INVALID,
  no_text: INVALID,
  invalid_metadata_format: INVALID,
  invalid_metadata_schema: INVALID,
  metadata_too_large: INVALID,
  // A malformed thread_ts (the emulator's answer; Slack's spec lists none for it): not a missing thread.
  invalid_thread_ts: INVALID,
  invalid_cursor: INVALID,
  invalid_ts_oldest: INVALID,
  invalid_ts_latest: INVALID,

  internal_error: NETWORK,
  fatal_error: NETWORK,
  service_unavailable: NETWORK,
  request_timeout: NETWORK,
  // Slack's word for "the workspace is moving into an Enterprise org; try again later".
  team_added_to_org: NETWORK,

  // The Slack emulator (test/emulators/slack) for a method it does not model, and Slack for a
  // method name that does not exist: a programming error, which no retry fixes.
  not_emulated: UNKNOWN,
  unknown_method: UNKNOWN,
};

/**
 * Errors the SDK raises as plain `Error`s, by message: a 429 without a usable `Retry-After`, and
 * (with `rejectRateLimitedCalls` off) the retry of a 429 that ran out of tries.
 */
const SDK_MESSAGES: ReadonlyArray<readonly [RegExp, ErrorClass]> = [
  [/^Retry header did not contain a valid timeout\b/, RATE_LIMIT],
  [/^A rate limit was exceeded\b/, RATE_LIMIT],
];

type SdkError = WebAPIPlatformError | WebAPIRateLimitedError | WebAPIRequestError | WebAPIHTTPError;

const SDK_CODES = new Set<string>([
  ErrorCode.PlatformError,
  ErrorCode.RateLimitedError,
  ErrorCode.RequestError,
  ErrorCode.HTTPError,
]);

function asSdkError(err: unknown): SdkError | null {
  if (!(err instanceof Error) || !('code' in err) || typeof err.code !== 'string') return null;
  return SDK_CODES.has(err.code) ? (err as SdkError) : null;
}

/** `{error, response_metadata}` of an HTTP error's body when it is Slack's JSON, else undefined. */
function httpBody(e: WebAPIHTTPError): { error?: unknown; response_metadata?: unknown } | undefined {
  const body: unknown = e.body;
  if (typeof body === 'object' && body !== null) return body;
  if (typeof body !== 'string' || !body.trimStart().startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Slack's `error` code the SDK error carries, if any. */
export function slackErrorCode(err: unknown): string | undefined {
  const e = asSdkError(err);
  if (e?.code === ErrorCode.PlatformError) return e.data.error;
  if (e?.code === ErrorCode.HTTPError) {
    const code = httpBody(e)?.error;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

function withRetryAfter(cls: ErrorClass, seconds: unknown): ErrorClass {
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 && cls.retriable
    ? { ...cls, retryAfterMs: seconds * 1000 }
    : cls;
}

/** A rate-limit message's `retry-after: N` (the SDK puts the seconds into the text only). */
function retryAfterInMessage(message: string): number | undefined {
  const m = /retry-after: (\d+)\)/.exec(message);
  return m ? Number(m[1]) : undefined;
}

function byMessage(err: unknown): ErrorClass | undefined {
  const message = err instanceof Error ? err.message : undefined;
  if (message === undefined) return undefined;
  const hit = SDK_MESSAGES.find(([re]) => re.test(message));
  return hit ? withRetryAfter(hit[1], retryAfterInMessage(message)) : undefined;
}

export function classifySlackError(err: unknown): ErrorClass {
  if (err instanceof LockstepError) {
    return {
      category: err.category,
      retriable: err.retriable,
      ...(err.retryAfterMs !== undefined && { retryAfterMs: err.retryAfterMs }),
    };
  }
  const e = asSdkError(err);
  switch (e?.code) {
    case undefined:
      return byMessage(err) ?? UNKNOWN;
    case ErrorCode.RateLimitedError:
      return withRetryAfter(RATE_LIMIT, e.retryAfter);
    case ErrorCode.RequestError:
      return byMessage(e.original) ?? NETWORK;
    case ErrorCode.PlatformError: {
      const cls = SLACK_ERRORS[e.data.error] ?? UNKNOWN;
      return withRetryAfter(cls, e.data.response_metadata?.retryAfter);
    }
    case ErrorCode.HTTPError: {
      // A JSON body with a code Slack (or the emulator) explains says more than the status does.
      const code = slackErrorCode(e);
      const cls = (code !== undefined ? SLACK_ERRORS[code] : undefined) ?? classifyHttpStatus(e.statusCode);
      return withRetryAfter(cls, retryAfterHeader(e.headers));
    }
  }
}

function retryAfterHeader(headers: Record<string, string> | undefined): number | undefined {
  const v = headers?.['retry-after'];
  return v !== undefined && /^\d+$/.test(v.trim()) ? Number(v) : undefined;
}

/** Slack's own explanation lines (`response_metadata.messages`, e.g. `[ERROR] missing required field: channel`). */
function slackMessages(meta: unknown): string[] {
  const messages =
    typeof meta === 'object' && meta !== null && 'messages' in meta
      ? (meta as { messages: unknown }).messages
      : [];
  return Array.isArray(messages) ? messages.filter((m): m is string => typeof m === 'string') : [];
}

function details(e: SdkError): string {
  switch (e.code) {
    case ErrorCode.PlatformError:
      return [e.data.error, ...slackMessages(e.data.response_metadata)].join('; ');
    case ErrorCode.RateLimitedError:
      return `retry after ${e.retryAfter} s`;
    case ErrorCode.RequestError:
      return e.original.message;
    case ErrorCode.HTTPError: {
      const body = httpBody(e);
      const code = typeof body?.error === 'string' ? body.error : undefined;
      const text = code ? [code, ...slackMessages(body?.response_metadata)].join('; ') : String(e.body ?? '');
      return `HTTP ${e.statusCode}${text ? `: ${text.slice(0, 300)}` : ''}`;
    }
  }
}

/**
 * One line: the SDK's code and Slack's `error` with its `response_metadata.messages`
 * ("slack_webapi_platform_error: invalid_arguments; [ERROR] missing required field: channel").
 */
export function describeSlackError(err: unknown): string {
  const e = asSdkError(err);
  const line = e ? `${e.code}: ${details(e)}` : err instanceof Error ? err.message : String(err);
  return line.replace(/\s*[\r\n]+\s*/g, ' ');
}
