import { z } from 'zod';
import { secret } from '../../core/config/index.ts';

/** `connectors.linear` in lockstep.yaml. Secrets are given by reference: `apiKey: { env: LINEAR_API_KEY }`. */
export const linearConfigSchema = z
  .object({
    /** Personal API key or OAuth access token; sent as `Authorization: <key>` by @linear/sdk. */
    apiKey: secret(),
    /** The webhook's signing secret (Linear-Signature). */
    webhookSecret: secret(),
    /** Override for tests and the sandbox; @linear/sdk accepts http only for localhost. */
    apiUrl: z.url().default('https://api.linear.app/graphql'),
    /** Team keys (ENG) or ids to poll and to register webhooks for; empty = all public teams. */
    teams: z.array(z.string().min(1)).default([]),
    /** Lockstep's Linear user id; when null it is resolved at start through `viewer`. */
    botUserId: z.string().min(1).nullable().default(null),
    /** Where a first poll starts (ISO-8601); a poll with a cursor ignores it. */
    pollSince: z.iso.datetime({ offset: true }).default('1970-01-01T00:00:00.000Z'),
    pageSize: z.number().int().min(1).max(250).default(50),
    /** Every API request is abandoned (and retried as a network error) after this long without an answer. */
    requestTimeoutMs: z.number().int().positive().default(30_000),
    /** Accept webhooks whose webhookTimestamp is within this many ms of our clock (Linear docs: 60 s). */
    replayWindowMs: z.number().int().positive().default(60_000),
  })
  .strict();

export type LinearConfig = z.output<typeof linearConfigSchema>;
