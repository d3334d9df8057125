/**
 * `lockstep audit [--item <platform:key>] [--link <id>] [--since <time>] [--json]`: who or what
 * changed an item, and why — every write Lockstep made (services/egress/audit.ts), oldest first,
 * each with the value before and after, the change that caused it (platform, person, time, event
 * id), the command, the link and the trace.
 */
import type { Command } from 'commander';
import { loadAppConfig } from '../../app/config.ts';
import { createPool } from '../../core/db/index.ts';
import {
  formatAuditRecord,
  parseItem,
  parseSince,
  queryAudit,
  type AuditFilter,
} from '../../egress/audit.ts';

interface AuditOpts {
  config?: string;
  item?: string;
  link?: string;
  since?: string;
  limit?: string;
  json?: boolean;
}

/** The filter the options ask for; throws one clear message for a bad argument. */
export function auditFilter(opts: AuditOpts, nowMs: number): AuditFilter {
  const f: AuditFilter = {};
  if (opts.item !== undefined) f.item = parseItem(opts.item);
  if (opts.link !== undefined) {
    if (opts.link.trim() === '') throw new Error('--link must be a link id');
    f.linkId = opts.link;
  }
  if (opts.since !== undefined) f.sinceMs = parseSince(opts.since, nowMs);
  if (opts.limit !== undefined) {
    const n = Number(opts.limit);
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`--limit must be a positive integer, got ${opts.limit}`);
    f.limit = n;
  }
  return f;
}

export function register(program: Command): void {
  program
    .command('audit')
    .description('every write Lockstep made: before/after, the change that caused it, command, link, trace')
    .option('-c, --config <file>', 'lockstep.yaml')
    .option(
      '--item <platform:key>',
      'writes to one item: <platform>:<key> (its issue key) or <platform>:<id>',
    )
    .option('--link <id>', 'writes under one link (every side of a synced item)')
    .option('--since <when>', 'only writes since a duration ago (30m, 2h, 7d) or a date/time')
    .option('--limit <n>', 'at most this many records (default 10000)')
    .option('--json', 'one JSON object per line (the AuditRecord, as on lockstep.audit.v1)')
    .action(async (opts: AuditOpts) => {
      const filter = auditFilter(opts, Date.now());
      const config = loadAppConfig(opts.config);
      const pool = createPool(config.postgres.url, { max: 1, applicationName: 'lockstep-cli' });
      try {
        const records = await queryAudit(pool, filter);
        if (opts.json) {
          for (const r of records) console.log(JSON.stringify(r));
          return;
        }
        if (records.length === 0) {
          console.log('no writes recorded for this filter');
          return;
        }
        for (const r of records) console.log(formatAuditRecord(r));
      } finally {
        await pool.end();
      }
    });
}
