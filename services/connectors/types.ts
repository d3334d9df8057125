/**
 * The Connector contract: everything Lockstep knows about one platform sits behind these functions,
 * in one folder (`connectors/<platform>/`), registered by one line in `registry.ts`.
 *
 * Data flow through a connector:
 *
 * ```
 * webhook ─► handshake? ─► verify ─► JSON.parse ─► expand? ─► normalize ─► ChangeEvent[] ─► lockstep.changes.v1
 * timer   ─► poller.poll(cursor) ─► {events, cursor}  (persist cursor only after the produce is acked)
 * lockstep.commands.<platform>.v1 ─► applier.apply(cmd) ─► ApplyResult ─► lockstep.outcomes.v1
 * any SDK throw ─► classifyError ─► {category, retriable, retryAfterMs} ─► retry / DLQ
 * ```
 *
 * Example (a minimal connector; see `linear/index.ts` and `jira/index.ts` for real ones):
 *
 * ```ts
 * import { z } from 'zod';
 * import { secret } from '../../core/config/index.ts';
 * import { defineConnector } from '../types.ts';
 *
 * export const acmeConnector = defineConnector({
 *   platform: 'acme',
 *   configSchema: z.object({ apiToken: secret(), webhookSecret: secret(), botUserId: z.string().nullable().default(null) }),
 *   verify: (req, cfg) => verifyAcme(req, cfg.webhookSecret.reveal()),   // never throws for a bad request
 *   normalize: (payload, ctx) => toChangeEvents(payload, ctx),           // pure; throws LockstepError('validation')
 *   createPoller: (deps) => ({ poll: (cursor) => pollAcme(deps, cursor) }),
 *   createApplier: (deps) => ({ apply: (cmd) => applyAcme(deps, cmd), findByMarker: (m) => findAcme(deps, m) }),
 *   classifyError: (err) => classifyAcme(err),                           // a table, not a switch
 *   registerWebhook: (deps, { url, secret }) => createAcmeWebhook(deps, url, secret),
 *   resolveBotUserId: (deps) => acmeWhoAmI(deps),
 * });
 * ```
 */
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { RequestBudget } from '../core/resilience/index.ts';
import type {
  ChangeEvent,
  EntityState,
  EntityType,
  Person,
  ErrorCategory,
  StatusCategory,
  Via,
  WriteCommand,
} from '../../schemas/generated/types.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** An incoming webhook request exactly as received: the raw bytes, because signatures cover them. */
export interface WebhookRequest {
  /** Header names in lower case (as node's `IncomingMessage.headers` gives them). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  rawBody: Buffer;
  /** The receiver's clock, injected so replay windows are testable. */
  nowMs: number;
  /**
   * The signing secrets this platform's webhooks handed over in their handshakes (Asana's
   * `X-Hook-Secret`), as ingest stored them, newest first; absent or empty for a platform without
   * a handshake. `verify` accepts a signature made with any of them.
   */
  learnedSecrets?: readonly string[];
}

/**
 * Expected failures are values (STYLE.md rule 3): a forged or late request is not an exception.
 * `deliveryId` is the platform's delivery header (Linear-Delivery, X-Atlassian-Webhook-Identifier, …)
 * when it sent one; it is constant across the platform's retries, so it is a dedupe key.
 */
export type VerifyResult = { ok: true; deliveryId: string | null } | { ok: false; reason: string };

/**
 * A reply the receiver must send instead of processing the request. Needed by platforms that
 * prove the endpoint before (or while) registering it: Slack `url_verification` (echo `challenge`)
 * and Asana's `X-Hook-Secret` handshake (echo the header, then keep the secret for signatures).
 * `learnedSecret` carries the Asana secret: ingest stores it durably (table `webhook_secrets`)
 * before it answers, and hands it to `verify` in `WebhookRequest.learnedSecrets` from then on, in
 * every ingest replica and after restarts.
 */
export interface HandshakeResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  learnedSecret?: string;
}

/** What normalize may know besides the payload. Everything is passed in, so normalize stays pure. */
export interface NormalizeContext<Cfg> {
  config: Cfg;
  via: Via;
  deliveryId: string | null;
  /** When Lockstep saw the payload (becomes ChangeEvent.tsMs). */
  nowMs: number;
  /** Lockstep's own user on the platform (config `botUserId`, or `resolveBotUserId` at start). */
  botUserId: string | null;
}

/** I/O dependencies of pollers, appliers and admin helpers. SDK clients are built from `config`. */
export interface ConnectorDeps<Cfg> {
  config: Cfg;
  botUserId: string | null;
  /**
   * The platform's request budget (core/resilience): every HTTP request the SDK clients built
   * from these deps make draws one token and reports the platform's rate-limit headers back.
   * Absent: requests are not metered (admin helpers, tests).
   */
  budget?: RequestBudget;
  /** Injected clock for cursors and ChangeEvent.tsMs. */
  now?: () => number;
}

/**
 * Result of one poll. The caller produces `events` to Kafka and persists `cursor` ONLY after the
 * produce is acknowledged (STYLE.md rule 7); if it crashes in between, the next poll re-reads from
 * the old cursor and the reconciler dedupes by eventId. Every event has `source.via = 'poll'`.
 * `caughtUp` is true when the last page was reached: being caught up is not an error.
 */
export interface PollResult {
  events: ChangeEvent[];
  cursor: JsonValue;
  caughtUp: boolean;
  /**
   * Items of the page that could not be read (malformed). The caller dead-letters them before it
   * persists `cursor`, and the poll goes on: one bad item must not stop the poller forever.
   */
  rejected?: RejectedItem[];
}

/** What `expand` made of a webhook payload. */
export interface ExpandResult {
  payload: unknown;
  rejected: RejectedItem[];
}

/** A polled item that could not be normalized, with the raw item for the dead letter. */
export interface RejectedItem {
  /** The platform id of the item, when it could be read. */
  id: string | null;
  raw: unknown;
  reason: string;
}

/** True for errors that mean "this item is malformed" (a zod parse, a validation LockstepError). */
export function isBadItem(err: unknown): boolean {
  if (err instanceof Error && err.name === 'ZodError') return true;
  return (
    typeof err === 'object' &&
    err !== null &&
    'category' in err &&
    (err as { category: unknown }).category === 'validation'
  );
}

/** The `id` of a raw item, when it has a string one. */
export function rawId(raw: unknown): string | null {
  const id = typeof raw === 'object' && raw !== null ? (raw as { id?: unknown }).id : undefined;
  return typeof id === 'string' ? id : null;
}

export interface Poller {
  /** `cursor` is the value the previous poll returned, or null for a first run (starts at `since` in config). */
  poll(cursor: JsonValue | null): Promise<PollResult>;
}

/** A field the applier did not write, and why. */
export interface SkippedField {
  field: string;
  /**
   * `stale_base`: the target's current value differs from `cmd.base` and from the value to write,
   * so a person changed it after the command was computed; writing would overwrite their edit.
   * `unresolvable`: the value has no counterpart here (no user with that email, no transition to
   * that status); the field is left as it is.
   * `follow_up_failed`: the write itself was accepted, but a call after it that sets this field
   * (Jira's status transition after a create) or reads the result back failed; the entity stands
   * as the write left it, and the command counts as applied (repeating it could only duplicate it).
   */
  reason: 'stale_base' | 'unresolvable' | 'follow_up_failed';
  detail: string;
}

export interface ApplyResult {
  targetId: string;
  targetKey: string | null;
  /** The values as the platform holds them after the write (null after a delete). */
  written: EntityState | null;
  /** The platform's version after the write (updatedAt or similar), which the echo will carry. */
  platformVersion: string | null;
  platformTsMs: number | null;
  /** True when a create's marker showed the entity already existed (a lost response), so nothing was written. */
  alreadyApplied: boolean;
  skipped: SkippedField[];
  /**
   * The target's values as the applier read them just before writing (the stale-base check's
   * read): the audit log's "before". Absent or null for a create and a delete (nothing is read first).
   */
  before?: EntityState | null;
}

/** Identifies a create whose response may have been lost. */
export interface MarkerQuery {
  marker: string;
  entityType: EntityType;
  /** For comments: the parent issue on this platform. */
  parentId: string | null;
  /** Where the create would have made it (Jira project, Linear team); absent: every configured one. */
  workspace?: string | null;
  /** No record made by the create is older than this (the command's createdAtMs); absent: unknown. */
  createdAfterMs?: number | null;
}

export interface FoundTarget {
  targetId: string;
  targetKey: string | null;
}

/**
 * One run of a note's text: plain, **strong**, or `code` (a config key, a value to copy). A note is
 * paragraphs of runs, so each connector renders it in its platform's own body format (markdown,
 * ADF …) and shared code never writes one.
 */
export interface NoteRun {
  text: string;
  style?: 'strong' | 'code';
}

/**
 * A visible note Lockstep leaves on an item it wrote (egress/notes.ts): today, that a field could
 * not be carried because its value has no counterpart on this platform. Posted once per
 * link+platform+field+value; `noteId` is that key's hash.
 */
export interface ItemNote {
  noteId: string;
  /** The item the note goes on (an issue on this platform). */
  entityType: EntityType;
  targetId: string;
  targetKey: string | null;
  paragraphs: NoteRun[][];
}

/** Where a note was posted: the platform's id of the comment. */
export interface PostedNote {
  commentId: string;
  /** True when an earlier attempt had posted it (its answer was lost), so nothing was posted now. */
  alreadyPosted: boolean;
}

export interface Applier {
  /**
   * Posts `note` as a comment by Lockstep on the item, idempotently: the comment carries a
   * marker derived from `noteId` (as a create does), so a second call after a lost answer finds
   * the first comment instead of posting again. The body ends with `noteMarkerText(noteId)`
   * (kit/notes.ts), by which the connector's normalize drops the comment's own echo. Throws SDK
   * errors unchanged, for `classifyError`. Absent: the platform cannot carry notes.
   */
  postNote?(note: ItemNote): Promise<PostedNote>;
  /**
   * Writes one command through the platform's official SDK. Idempotent: a create first looks for its
   * marker; an update skips fields whose base is stale (reported in `skipped`). Throws SDK errors
   * unchanged for `classifyError`, and LockstepError('validation') for a command it cannot express.
   */
  apply(cmd: WriteCommand): Promise<ApplyResult>;
  /** Finds the entity a create with this marker made, or null. */
  findByMarker(query: MarkerQuery): Promise<FoundTarget | null>;
}

/** One linked record, as a link side names it (`lockstep verify` reads it back). */
export interface EntityRef {
  entityType: EntityType;
  entityId: string;
  /** For a comment: its issue's id on this platform (Jira addresses a comment only under it). */
  parentId: string | null;
}

/**
 * What a full read found: the record as it stands now, as the event a poll would make of it
 * (`op: 'r'`, the `via` and `deliveryId` asked for), or that it no longer exists (deleted, or
 * archived where the platform keeps deleted records readable), with the platform's words.
 */
export type ReadResult = { found: true; event: ChangeEvent } | { found: false; detail: string };

export interface Reader {
  /**
   * Reads one record through the same SDK calls and normalization as the poller, so what it
   * returns compares with what the pipeline saw. Throws SDK errors unchanged (for `classifyError`)
   * except "not found", which is a value.
   */
  read(ref: EntityRef, source: { via: Via; deliveryId: string | null }): Promise<ReadResult>;
}

export interface ErrorClass {
  category: ErrorCategory;
  retriable: boolean;
  retryAfterMs?: number;
  /**
   * The platform refused Lockstep's credentials themselves (401: a revoked, expired or mistyped
   * token), not this one command (403 on one item is a plain `auth`): every write would fail
   * alike, so egress holds the command until the credentials work again instead of
   * dead-lettering each one.
   */
  credentialsRefused?: boolean;
}

export interface RegisteredWebhook {
  id: string;
  url: string;
}

/** A request budget: at most `limit` requests per `perMs` (core/resilience RequestBudget). */
export interface RateLimit {
  limit: number;
  perMs: number;
}

/** The fields of a canonical EntityState a platform's entity type can hold. */
export type HoldableField = Exclude<keyof EntityState, 'known'>;

/**
 * How `lockstep start` runs this platform in the sandbox (no platform configured): the emulator
 * (test infrastructure, test/emulators/<platform>/) and, for a platform with a connector, the
 * connector section and flow side pointed at it. The credentials are the emulator's demo tokens;
 * they open nothing real.
 */
export interface SandboxFacts {
  /** Default local port of the emulator (`lockstep sandbox --<platform>-port`). */
  port: number;
  /** The key of the URL the SDK is pointed at in `.lockstep/sandbox.json` (`{ <platform>: { <key>: url } }`). */
  endpointKey: 'apiUrl' | 'baseUrl';
  /** Environment variable → demo value, set by `lockstep start` for the sandbox pipeline. */
  credentials?: Readonly<Record<string, string>>;
  /** The variable of `credentials` that holds the webhook signing secret. */
  webhookSecretEnv?: string;
  /** The `connectors.<platform>` section of the sandbox config, pointed at the emulator's URL. */
  section?(endpoint: string): Record<string, unknown>;
  /** The demo flow's side on this platform; absent: the platform is not a side of the demo flow. */
  side?: { workspace: string; describe: string; entityType?: 'issue' | 'message' };
  /**
   * For a platform whose webhook URL is an app setting rather than an API call (Slack's Request
   * URL): points the emulator's app setting at `url` and resolves once the emulator proved the
   * endpoint (its url_verification). `emulatorUrl` is the endpoint of `endpointKey`. Absent: the
   * sandbox registers through `registerWebhook`.
   */
  pointWebhook?(emulatorUrl: string, url: string): Promise<void>;
  /** More of `lockstep status --json`'s `sandbox.<platform>` (Slack: the card channel). */
  status?: Readonly<Record<string, string>>;
  /** Demo status map: flow status name → this platform's name where the emulator's workflow differs. */
  statusNames?: Readonly<Record<string, string>>;
}

/**
 * What Lockstep knows about a platform besides the code that talks to it. Shared code reads these
 * through the registry and never names a platform (registry.test.ts fails when it does).
 */
export interface PlatformFacts<P extends string = string> {
  platform: P;
  /** How people write the platform's name (CLI help, sandbox banner). */
  displayName: string;
  /**
   * The published limit (PLATFORMS.md), the budget every HTTP request of the connector draws from
   * before response headers correct it; `egress.rateLimits.<platform>` in lockstep.yaml overrides it.
   */
  rateLimit: RateLimit;
  /** Header names (lower case) that carry the platform's signatures or credentials: redacted from logs. */
  secretHeaders: readonly string[];
  /** Per entity type the platform holds, the canonical fields it can hold. */
  capabilities: Readonly<Partial<Record<EntityType, readonly HoldableField[]>>>;
  /**
   * Why this platform may show a person without an email, in words that finish "… has no email to
   * match across platforms (<this>)": a note on the item and the reconciler's log say it. Absent:
   * the platform always shows a person's email.
   */
  noEmail?: string;
  sandbox: SandboxFacts;
}

/** A platform known before its connector exists (facts only, e.g. for the sandbox's emulator). */
export function definePlatform<const P extends string>(facts: PlatformFacts<P>): PlatformFacts<P> {
  return facts;
}

/** A flow's view of one platform: the status names its status map gives this platform. */
export interface FlowFacts {
  statuses: { name: string; category: StatusCategory }[];
}

/** One platform. `Cfg` is the parsed output of `configSchema` (secrets as `Secret`). */
export interface ConnectorDefinition<P extends string, S extends z.ZodType> extends PlatformFacts<P> {
  platform: P;
  /**
   * This connector's section of lockstep.yaml (`connectors.<platform>`). Secrets use
   * `secret()` from core/config, so they are given by reference (`{ env: NAME }`) and never print.
   */
  configSchema: S;
  /** Checks the signature (and replay window, where the platform signs a timestamp). Never throws. */
  verify(req: WebhookRequest, config: z.output<S>): VerifyResult;
  /** A reply to send instead of processing, or null for an ordinary delivery. */
  handshake?(req: WebhookRequest, config: z.output<S>): HandshakeResponse | null;
  /**
   * True when the handshake hands a signing secret over (`HandshakeResponse.learnedSecret`, Asana):
   * ingest then stores it inside a registration window and loads the learned secrets for `verify`.
   * Absent: the secret is configured (a handshake such as Slack's only proves the endpoint).
   */
  learnsSecrets?: boolean;
  /**
   * Platform payload (already JSON-parsed, signature already verified) → change events. Pure: same
   * input, same output, including `eventId` (a hash of platform, entity and the platform's version),
   * so a webhook and a poll that see the same change yield the same eventId. May return [] for
   * payloads Lockstep does not sync. Throws LockstepError (category 'validation') for malformed input.
   */
  normalize(payload: unknown, ctx: NormalizeContext<z.output<S>>): ChangeEvent[];
  /**
   * For a platform whose webhooks say only *that* something changed (Asana's compact events):
   * fetches what the verified, parsed payload names, between verify and normalize, and returns the
   * payload normalize reads. Records that cannot be read (malformed) come back in `rejected`, to be
   * dead-lettered one by one while the rest goes on. Throws SDK errors unchanged (ingest answers
   * 503, the platform retries) and LockstepError('validation') for a payload it cannot read.
   * Requests draw from `deps.budget`. Absent: normalize reads the payload as delivered.
   */
  expand?(payload: unknown, deps: ConnectorDeps<z.output<S>>): Promise<ExpandResult>;
  createPoller(deps: ConnectorDeps<z.output<S>>): Poller;
  createApplier(deps: ConnectorDeps<z.output<S>>): Applier;
  /** One-record reads (`lockstep verify`); requests draw from `deps.budget` like the poller's. */
  createReader(deps: ConnectorDeps<z.output<S>>): Reader;
  /** SDK/HTTP error → category; implemented as a lookup table in the connector's errors.ts. */
  classifyError(err: unknown): ErrorClass;
  /**
   * Creates webhook(s) on the platform pointing at `url`, signed with `secret` (one per team where
   * the platform scopes them so). Needs admin rights. `secret` is null for a platform that hands
   * its secret over in a handshake instead (the caller opens ingest's registration window around
   * this call: services/ingest/register.ts).
   */
  registerWebhook(
    deps: ConnectorDeps<z.output<S>>,
    opts: { url: string; secret: string | null },
  ): Promise<RegisteredWebhook[]>;
  /** Lockstep's own user id on the platform (Linear `viewer`, Jira `myself`), for `actorIsLockstep`. */
  resolveBotUserId(deps: ConnectorDeps<z.output<S>>): Promise<string>;
  /**
   * How the platform spells a label it is asked to hold, for a platform that cannot hold every
   * label as given (Jira: no spaces, so `needs review` is held as `needs_review`). Pure and
   * idempotent. The applier writes and compares labels in this spelling; the reconciler reads the
   * platform's labels back through it against the labels the link already knows, so the label
   * coming back is the same label, not a change. Absent: labels are held exactly as given.
   */
  canonicalLabel?(label: string): string;
  /**
   * The connector section with what the flows' status maps say about this platform folded in
   * (Jira: the status map names the Jira status of each category, which its three status
   * categories cannot tell). Pure. Absent: the section is used as parsed.
   */
  configureFromFlows?(config: z.output<S>, flows: FlowFacts): z.output<S>;
  /** An SDK error as one line for logs and outcomes; absent: `describeSdkError`. */
  describeError?(err: unknown): string;
  /**
   * What the section leaves out that a reader of the logs should know, one line each: ingest and
   * egress log each once at start (Asana: `connectors.asana.priority is not set: priority is not
   * synced with Asana`). Pure. Absent: nothing to say.
   */
  startupWarnings?(config: z.output<S>): string[];
  /**
   * The keys of this platform's records that a text names: an issue key or a URL of one, as
   * another tool (or a person) leaves them in a description or a link of a record on another
   * platform (`lockstep backfill` pairs by them). Pure. Absent: no text names a record here.
   */
  mentions?(text: string, config: z.output<S>): string[];
  /**
   * The links (URLs) records of the workspace carry besides their description, by entity id
   * (Linear: attachments, where its own Jira integration leaves the Jira issue). `lockstep
   * backfill` reads them for `mentions`; requests draw from `deps.budget`. Absent: none.
   */
  readLinks?(deps: ConnectorDeps<z.output<S>>): Promise<Map<string, string[]>>;
}

/** A connector with its configuration closed over: what services hold, whatever the platform. */
export interface BoundConnector<P extends string = string> {
  platform: P;
  verify(req: WebhookRequest): VerifyResult;
  handshake(req: WebhookRequest): HandshakeResponse | null;
  /** True when the platform hands its signing secret over in a handshake (ingest then loads the learned secrets for `verify`). */
  learnsSecrets: boolean;
  normalize(payload: unknown, ctx: Omit<NormalizeContext<unknown>, 'config'>): ChangeEvent[];
  /** See ConnectorDefinition.expand; the payload unchanged for a platform without it. */
  expand(payload: unknown, botUserId: string | null, budget?: RequestBudget): Promise<ExpandResult>;
  /** True when webhooks must be expanded before normalize (the platform's events are compact). */
  expands: boolean;
  createPoller(botUserId: string | null, budget?: RequestBudget): Poller;
  createApplier(botUserId: string | null, budget?: RequestBudget): Applier;
  createReader(botUserId: string | null, budget?: RequestBudget): Reader;
  classifyError(err: unknown): ErrorClass;
  describeError(err: unknown): string;
  registerWebhook(opts: { url: string; secret: string | null }): Promise<RegisteredWebhook[]>;
  resolveBotUserId(): Promise<string>;
  /** See ConnectorDefinition.mentions; [] for a platform that has none. */
  mentions(text: string): string[];
  /** See ConnectorDefinition.readLinks; an empty map for a platform that has none. */
  readLinks(budget?: RequestBudget): Promise<Map<string, string[]>>;
  /** See ConnectorDefinition.startupWarnings; [] for a platform that has none (absent in test doubles). */
  startupWarnings?(): string[];
}

export interface Connector<P extends string, S extends z.ZodType> extends ConnectorDefinition<P, S> {
  /** Closes over a parsed config (from `loadConfig`) so callers need not carry the config type. */
  bind(config: z.output<S>): BoundConnector<P>;
}

export function defineConnector<const P extends string, S extends z.ZodType>(
  def: ConnectorDefinition<P, S>,
): Connector<P, S> {
  return {
    ...def,
    bind(config) {
      const deps = (botUserId: string | null, budget?: RequestBudget): ConnectorDeps<z.output<S>> => ({
        config,
        botUserId,
        ...(budget && { budget }),
      });
      return {
        platform: def.platform,
        verify: (req) => def.verify(req, config),
        handshake: (req) => (def.handshake ? def.handshake(req, config) : null),
        learnsSecrets: def.learnsSecrets === true,
        normalize: (payload, ctx) => def.normalize(payload, { ...ctx, config }),
        expand: async (payload, botUserId, budget) =>
          def.expand ? def.expand(payload, deps(botUserId, budget)) : { payload, rejected: [] },
        expands: def.expand !== undefined,
        createPoller: (botUserId, budget) => def.createPoller(deps(botUserId, budget)),
        createApplier: (botUserId, budget) => def.createApplier(deps(botUserId, budget)),
        createReader: (botUserId, budget) => def.createReader(deps(botUserId, budget)),
        classifyError: (err) => def.classifyError(err),
        describeError: (err) => (def.describeError ?? describeSdkError)(err),
        registerWebhook: (opts) => def.registerWebhook(deps(null), opts),
        resolveBotUserId: () => def.resolveBotUserId(deps(null)),
        mentions: (text) => (def.mentions ? def.mentions(text, config) : []),
        readLinks: async (budget) => (def.readLinks ? def.readLinks(deps(null, budget)) : new Map()),
        startupWarnings: () => (def.startupWarnings ? def.startupWarnings(config) : []),
      };
    },
  };
}

/**
 * The error's message plus the platform's answer when the SDK kept it: axios-based SDKs
 * (`response.data`), superagent (`response.body`), and SDKs that wrap either in `cause`.
 */
export function describeSdkError(err: unknown): string {
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

/** Reads one header whatever node made of it (repeated headers arrive as arrays). */
export function header(req: WebhookRequest, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

const NO_FIELDS: Omit<EntityState, 'known'> = {
  title: null,
  description: null,
  status: null,
  priority: null,
  assignee: null,
  labels: null,
  dueDate: null,
  url: null,
  body: null,
  author: null,
  createdAtMs: null,
  updatedAtMs: null,
};

/** Builds an EntityState whose `known` list is exactly the keys given (in canonical order). */
export function entityState(values: Partial<Omit<EntityState, 'known'>>): EntityState {
  const known = (Object.keys(NO_FIELDS) as (keyof typeof NO_FIELDS)[]).filter((k) => values[k] !== undefined);
  return { ...NO_FIELDS, ...values, known };
}

/**
 * The dedupe key. It hashes what identifies one platform change — platform, entity, and the
 * platform's own version of it (updatedAt) — and nothing about how we learned it (webhook or poll,
 * delivery id, our clock), so a webhook and a poll that see the same change agree. A delete gets
 * its own id even when the platform leaves the version unchanged.
 */
export function deterministicEventId(p: {
  platform: string;
  entityType: EntityType;
  entityId: string;
  version: string;
  deleted: boolean;
}): string {
  const material = [p.platform, p.entityType, p.entityId, p.version, p.deleted ? 'deleted' : ''].join(
    '\u0000',
  );
  return createHash('sha256').update(material).digest('hex').slice(0, 32);
}

/**
 * Both people as one platform holds them (a command and the target's state): the user id when both
 * have one (a command names the target's id when a `people:` override gives it), else the email.
 */
function samePerson(a: Person | null, b: Person | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.platformUserId && b.platformUserId) return a.platformUserId === b.platformUserId;
  if (a.email && b.email) return a.email.toLowerCase() === b.email.toLowerCase();
  return false;
}

/**
 * Canonical equality of one field. Status compares by category: names differ across platforms
 * ("In Progress" vs "Doing") while the category is what the flow agreed on. People compare by user
 * id when both have one, else by email. Labels are sets.
 */
export function sameFieldValue(field: string, a: EntityState, b: EntityState): boolean {
  switch (field) {
    case 'status':
      return (a.status?.category ?? null) === (b.status?.category ?? null);
    case 'assignee':
      return samePerson(a.assignee, b.assignee);
    case 'author':
      return samePerson(a.author, b.author);
    case 'labels': {
      const x = [...new Set(a.labels ?? [])].sort();
      const y = [...new Set(b.labels ?? [])].sort();
      return x.length === y.length && x.every((v, i) => v === y[i]);
    }
    default:
      return (
        JSON.stringify(a[field as keyof EntityState] ?? null) ===
        JSON.stringify(b[field as keyof EntityState] ?? null)
      );
  }
}

/**
 * The stale-base check egress makes before an update (DESIGN.md, "our write lands after a person's
 * newer edit"): a field is stale when the target's current value differs both from the base the
 * command was computed from and from the value to write — someone changed it meanwhile, and
 * writing would silently overwrite them. Fields without a base, or not known on the target, are written.
 */
export function staleFields(
  cmd: Pick<WriteCommand, 'fields' | 'base'>,
  current: EntityState,
): SkippedField[] {
  const { fields, base } = cmd;
  if (!base) return [];
  return fields.known
    .filter(
      (f) =>
        base.known.includes(f) &&
        current.known.includes(f) &&
        !sameFieldValue(f, current, base) &&
        !sameFieldValue(f, current, fields),
    )
    .map((f) => ({
      field: f,
      reason: 'stale_base' as const,
      detail: `current value ${JSON.stringify(current[f as keyof EntityState])} differs from the command's base ${JSON.stringify(base[f as keyof EntityState])}`,
    }));
}

/**
 * The fields an update still has to write: neither stale nor already holding the value to write.
 * An update whose call reached the platform just before egress died (so it never recorded the
 * command as applied) is delivered again after the restart; the target already holds its values,
 * and writing them again would be a duplicate write.
 */
export function fieldsToWrite(
  cmd: Pick<WriteCommand, 'fields'>,
  current: EntityState,
  stale: SkippedField[],
): string[] {
  return cmd.fields.known.filter(
    (f) =>
      !stale.some((s) => s.field === f) &&
      !(current.known.includes(f) && sameFieldValue(f, current, cmd.fields)),
  );
}

/**
 * A v4-shaped UUID derived from a marker: Linear accepts client-chosen ids ("in UUID v4 format")
 * on issueCreate/commentCreate, so a retried create after a lost response asks for the same id.
 */
export function uuidFromMarker(marker: string): string {
  const b = createHash('sha256').update(`lockstep:${marker}`).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
