/**
 * The `admin` section of lockstep.yaml: where `lockstep admin` (the status page) listens, the
 * token its actions (resolve a conflict, retry a dead letter) require, and where it reads traces.
 * Parsed with the rest of the file (services/app/config.ts), every problem with its path.
 */
import { z } from 'zod';
import { secret } from '../core/config/index.ts';

export const adminConfigSchema = z
  .object({
    /** Loopback unless configured otherwise: the page shows links, conflicts and dead letters. */
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(7080),
    /**
     * Required for actions (a literal or `{ env: NAME }`); without it the page is read-only.
     * At least 16 characters: it is the only thing between a browser on the network and a resolve.
     */
    token: secret()
      .refine((s) => s.reveal().length >= 16, 'must be at least 16 characters')
      .optional(),
    /** Jaeger's query API (the `/api/traces/<id>` the trace waterfall reads). */
    jaegerQueryUrl: z.url().default('http://127.0.0.1:16686'),
    /**
     * Where the page reaches each service's /readyz and /metrics, by service name (`ingest`,
     * `reconciler`, `egress-<platform>`); default `http://<http.host>:<the service's port>`.
     */
    serviceUrls: z.record(z.string(), z.url()).default({}),
    /** How long an admin login (cookie) lasts. */
    sessionTtlMs: z
      .number()
      .int()
      .positive()
      .default(8 * 60 * 60 * 1000),
  })
  .strict()
  .prefault({});

export type AdminConfig = z.infer<typeof adminConfigSchema>;
