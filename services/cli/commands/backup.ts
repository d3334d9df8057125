/**
 * `lockstep backup <file>` and `lockstep restore <file>`: Lockstep's own state (its Postgres tables
 * and its consumer groups' Kafka offsets) to a file and back into an empty database — to move to
 * a new database, or to recover one. Stop the services first (scale the Deployments to 0; locally
 * `lockstep down` then `lockstep up`, which starts the stack without them): Kafka moves the
 * offsets of an empty group only, and a backup is consistent only while nothing consumes.
 * The format and what is in it: services/ops/backup-format.ts, services/ops/backup.ts, README.
 */
import type { Command } from 'commander';
import { loadAppConfig } from '../../app/config.ts';
import { flowPlatforms } from '../../app/launcher.ts';
import { createKafka } from '../../core/kafka/index.ts';
import { cliLogger } from '../logger.ts';
import {
  BACKUP_TABLES,
  lockstepConsumerGroups,
  restoreBackup,
  takeBackup,
  type Progress,
} from '../../ops/backup.ts';

function parseWait(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--wait must be a number of seconds ≥ 0, got ${v}`);
  return n;
}

/**
 * Progress on stderr (stdout carries the result): JSON lines with --json, otherwise one line per
 * step, at most every half second within a table.
 */
function progressReporter(json: boolean): Progress {
  let last = 0;
  let lastKey = '';
  return (e) => {
    const key = `${e.phase}/${e.table ?? ''}`;
    const now = Date.now();
    const done = e.rows !== undefined && e.of !== undefined && e.rows >= e.of;
    if (key === lastKey && !done && now - last < 500) return;
    last = now;
    lastKey = key;
    if (json) {
      process.stderr.write(`${JSON.stringify({ progress: e })}\n`);
      return;
    }
    const what = e.table ? ` ${e.table}` : '';
    const count =
      e.rows === undefined ? '' : e.of === undefined ? `: ${e.rows} rows` : `: ${e.rows}/${e.of} rows`;
    process.stderr.write(`${e.phase}${what}${count}\n`);
  };
}

function setup(configFile: string | undefined) {
  const config = loadAppConfig(configFile);
  const logger = cliLogger(config);
  const kafka = createKafka(config.kafka, logger);
  const groups = lockstepConsumerGroups(config.kafka.clientId, config.kafka.topics, flowPlatforms(config));
  return { config, kafka, groups };
}

const waitHelp =
  'wait this long for the consumer groups to have no members (a killed service leaves when its session times out)';

export function register(program: Command): void {
  program
    .command('backup')
    .description(
      "write Lockstep's state (database tables and consumer group offsets) to a file; stop the services first",
    )
    .argument('<file>', 'the backup file to write (gzip-compressed JSON lines; must not exist)')
    .option('-c, --config <file>', 'lockstep.yaml')
    .option('--no-audit', 'leave the audit log out (it is not needed to resume)')
    .option('--wait <seconds>', waitHelp, parseWait, 0)
    .option('--json', 'print the result as one JSON object (progress as JSON lines on stderr)')
    .action(async (file: string, opts: { config?: string; audit: boolean; wait: number; json?: boolean }) => {
      const { config, kafka, groups } = setup(opts.config);
      const r = await takeBackup({
        file,
        pgUrl: config.postgres.url,
        kafka,
        groups,
        includeAudit: opts.audit,
        waitEmptyMs: opts.wait * 1000,
        progress: progressReporter(opts.json === true),
      });
      if (opts.json) {
        console.log(JSON.stringify({ file: r.file, bytes: r.bytes, rows: r.rows, header: r.header }));
        return;
      }
      console.log(`backup written to ${r.file} (${r.bytes} bytes, format version ${r.header.formatVersion})`);
      console.log(`  migration level ${r.header.migrations.at(-1)}, Lockstep ${r.header.lockstepVersion}`);
      for (const [t, n] of Object.entries(r.header.tables)) console.log(`  ${t}: ${n} rows`);
      for (const t of r.header.omitted) console.log(`  ${t}: left out (--no-audit)`);
      for (const g of r.header.consumerGroups) {
        const parts = g.topics.flatMap((t) =>
          t.partitions.map((p) => `${t.topic}[${p.partition}]=${p.offset ?? 'none'}`),
        );
        console.log(`  consumer group ${g.groupId}: ${parts.join(' ') || 'no partitions'}`);
      }
    });

  program
    .command('restore')
    .description(
      'load a backup into an empty database and set the consumer groups back to its offsets; stop the services first',
    )
    .argument('<file>', 'a file written by `lockstep backup`')
    .option('-c, --config <file>', 'lockstep.yaml (its postgres.url is the database to restore into)')
    .option('--wait <seconds>', waitHelp, parseWait, 0)
    .option('--json', 'print the result as one JSON object (progress as JSON lines on stderr)')
    .action(async (file: string, opts: { config?: string; wait: number; json?: boolean }) => {
      const { config, kafka } = setup(opts.config);
      const r = await restoreBackup({
        file,
        pgUrl: config.postgres.url,
        kafka,
        waitEmptyMs: opts.wait * 1000,
        progress: progressReporter(opts.json === true),
      });
      // Records removed by retention between the backup and now were never read by the group.
      const lost = r.offsets.filter((x) => BigInt(x.to) < BigInt(x.low));
      if (opts.json) {
        console.log(
          JSON.stringify({
            file: r.file,
            header: r.header,
            rows: r.rows,
            migrationsRun: r.migrationsRun,
            offsets: r.offsets,
            lostToRetention: lost,
          }),
        );
        return;
      }
      console.log(`restored ${r.file} (taken ${r.header.createdAt} by Lockstep ${r.header.lockstepVersion})`);
      if (r.migrationsRun.length > 0) console.log(`  migrations run: ${r.migrationsRun.join(', ')}`);
      for (const t of BACKUP_TABLES)
        if (t.table in r.rows) console.log(`  ${t.table}: ${r.rows[t.table]} rows`);
      for (const t of r.header.omitted) console.log(`  ${t}: not in this backup (taken with --no-audit)`);
      for (const x of r.offsets)
        console.log(
          `  consumer group ${x.groupId}: ${x.topic}[${x.partition}] ${x.from ?? 'nothing committed'} → ${x.to}`,
        );
      for (const x of lost)
        console.log(
          `  warning: ${x.topic}[${x.partition}] records ${x.to}–${BigInt(x.low) - 1n} were removed by retention since the backup; ${x.groupId} resumes at ${x.low}`,
        );
      console.log(
        'start the services again (lockstep start, or scale the Deployments back up): they resume from the restored state',
      );
    });
}
