/**
 * `lockstep report` on the real stack and the emulators: the test causes syncs, a conflict, a
 * 429 storm, a write Jira refuses (a dead letter), an assignee with no Jira user, and a revoked
 * token (the Jira emulator answers 401 to every request of the bot's token), then checks that the
 * report's numbers are the ones it caused — read independently from the emulators' ledgers, the
 * dead-letter topic, Postgres and Kafka — and that the matching recommendations are there.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { commandsTopic, createKafka, topicOffsets } from '../../services/core/kafka/index.ts';
import type { Report } from '../../services/ops/report.ts';
import { DEMO_BOT_TOKEN as JIRA_BOT_TOKEN } from '../emulators/jira/index.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import { botCalls, jiraIssue, jiraIssues, lastSeq, linearIds, writes } from './helpers.ts';
import { botId, changesCount, deadLetters } from './faults-support.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** `lockstep report <args>`: stdout and the exit code (the report exits 1 when it finds an error). */
async function report(e: E2E, args: string[]): Promise<{ stdout: string; code: number }> {
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(ROOT, 'bin', 'lockstep.mjs'), 'report', '-c', e.pipeline.configFile, ...args],
      { cwd: ROOT, timeout: 120_000 },
    );
    return { stdout, code: 0 };
  } catch (err) {
    const x = err as { stdout?: string; stderr?: string; code?: number };
    if (typeof x.code !== 'number' || x.stdout === undefined) throw err;
    if (x.stdout === '') throw new Error(`lockstep report printed nothing: ${x.stderr ?? ''}`);
    return { stdout: x.stdout, code: x.code };
  }
}

async function recordsOn(e: E2E, topic: string): Promise<number> {
  const offsets = await topicOffsets(createKafka(e.config.kafka), topic);
  return offsets.reduce((n, o) => n + Number(BigInt(o.high) - BigInt(o.low)), 0);
}

/** One sample of egress-jira's /metrics for platform jira (0 when absent). */
async function jiraEgressMetric(e: E2E, name: string): Promise<number> {
  const port = e.config.egress.port + 1; // linear is base + 0, jira base + 1
  const text = await (await fetch(`http://${e.config.http.host}:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes('platform="jira"'));
  return line === undefined ? 0 : Number(line.slice(line.indexOf('}') + 1).trim());
}

const DAVE = { id: 'e2e-linear-user-dave', email: 'dave@example.com' };

describe(
  'lockstep report: platform health, statistics, issues and recommendations',
  { timeout: 600_000 },
  () => {
    let e: E2E;
    let jiraSince = 0;
    let json: Report;
    let text: { stdout: string; code: number };
    let keyOfB = '';

    before(async () => {
      e = await startE2E({
        fields: { default: 'last-write-wins', dueDate: 'manual' },
        egress: { backoffBaseMs: 100, backoffMaxMs: 1000 },
      });
      // A Linear person with no Jira account: their assignments have no counterpart in Jira.
      e.linearEmu.kit.actors.add({
        id: DAVE.id,
        name: 'Dave Example',
        email: DAVE.email,
        isBot: false,
        tokens: ['e2e-linear-token-dave'],
      });
      const bob = e.linearAs('bob');
      const ids = await linearIds(bob);
      const jira = e.jiraAs('carol');
      const jiraKeyOf = (title: string) =>
        eventually(`"${title}" in Jira`, async () =>
          (await jiraIssues(jira)).find((i) => i.fields.summary === title),
        ).then((i) => i.key);

      // 1. A sync, then a conflict: both sides set the due date (policy manual) while egress-jira is
      //    down, so Jira's edit meets the reconciler's write in flight. Done first because restarting
      //    egress-jira starts its counters again.
      const a = (await (await bob.createIssue({ teamId: ids.teamId, title: 'Report A' })).issue)!.id;
      const keyA = await jiraKeyOf('Report A');
      await settled(e);
      await e.kill('egress-jira');
      const jiraTopic = commandsTopic(e.config.kafka.topics, 'jira');
      const commandsBefore = await recordsOn(e, jiraTopic);
      await bob.updateIssue(a, { dueDate: '2030-02-01' });
      await eventually(
        'the due-date command to Jira',
        async () => (await recordsOn(e, jiraTopic)) > commandsBefore,
      );
      await jira.issues.editIssue({ issueIdOrKey: keyA, fields: { duedate: '2030-03-01' } });
      await eventually('an open conflict', async () => {
        const r = await e.db.query(`select 1 from reconciler_conflicts where status = 'open'`);
        return r.rowCount === 1;
      });
      await e.restart('egress-jira');
      await settled(e, 500, 120_000);
      jiraSince = lastSeq(e, 'jira');

      // 2. An assignee with no Jira user.
      const b = (await (
        await bob.createIssue({ teamId: ids.teamId, title: 'Report B', assigneeId: DAVE.id })
      ).issue)!.id;
      const keyB = await jiraKeyOf('Report B');
      await settled(e);
      assert.equal(
        (await jiraIssue(jira, keyB)).fields.assignee ?? null,
        null,
        'Report B has no assignee in Jira',
      );

      // 3. A 429 storm: Jira answers the bot's next three updates with 429; the edit lands after them.
      const bot = botId(e, 'jira');
      await e.jiraControl.fault({
        kind: 'rate_limit',
        retryAfterSec: 1,
        count: 3,
        match: { actor: bot, method: 'PUT', pathPrefix: '/rest/api/3/issue/' },
      });
      await bob.updateIssue(a, { title: 'Report A (after 429s)' });
      await eventually('the edit after the 429s in Jira', async () =>
        (await jiraIssue(jira, keyA)).fields.summary === 'Report A (after 429s)' ? true : undefined,
      );
      await settled(e);

      // 4. A write Jira refuses (400): a validation dead letter.
      await e.jiraControl.fault({
        kind: 'server_error',
        status: 400,
        count: 1,
        match: { actor: bot, method: 'PUT', pathPrefix: '/rest/api/3/issue/' },
      });
      await bob.updateIssue(a, { title: 'Report A (refused)' });
      await eventually(
        'a dead letter for the refused write',
        async () => (await deadLetters(e)).length === 1,
        60_000,
      );
      await settled(e);

      // 5. The bot's token revoked (as deleting an Atlassian API token): the Jira emulator answers
      //    every request with it 401. Egress holds the write instead of dead-lettering it.
      assert.equal(await e.jiraControl.revokeToken(JIRA_BOT_TOKEN), true);
      await bob.updateIssue(b, { title: 'Report B (token revoked)' });
      await eventually(
        'egress-jira holding the write whose credentials Jira refuses',
        async () =>
          (await jiraEgressMetric(e, 'lockstep_egress_credentials_refused')) === 1 ? true : undefined,
        60_000,
      );
      keyOfB = keyB;

      json = JSON.parse((await report(e, ['--json'])).stdout) as Report;
      text = await report(e, []);
      // LOCKSTEP_REPORT_SAMPLE=<file> keeps the text output (the README's sample comes from it).
      const sample = process.env['LOCKSTEP_REPORT_SAMPLE'];
      if (sample) writeFileSync(sample, `${text.stdout}\n---- JSON ----\n${JSON.stringify(json, null, 2)}\n`);
    });

    after(async () => {
      await e?.stop();
    });

    it('has the top-level keys machines read', () => {
      for (const key of ['platforms', 'flows', 'stats', 'issues', 'recommendations'])
        assert.ok(key in json, `key ${key}`);
      assert.deepEqual(
        json.flows.map((f) => [f.id, f.sides.map((s) => s.platform), f.policies['dueDate']]),
        [['eng', ['linear', 'jira'], 'manual']],
      );
    });

    it('platform health: Jira refuses the revoked token, Linear is fine; breakers closed', () => {
      const byName = Object.fromEntries(json.platforms.map((p) => [p.platform, p]));
      assert.equal(byName['linear']?.reachable, true);
      assert.equal(byName['linear']?.credentialsValid, true);
      assert.equal(byName['jira']?.reachable, true);
      assert.equal(byName['jira']?.credentialsValid, false, byName['jira']?.credentialDetail);
      for (const p of json.platforms) {
        assert.equal(p.egress.up, true, `${p.egress.service} answered /metrics`);
        assert.equal(p.breakerOpen, false);
        assert.ok(
          p.rateLimit.headroomRatio !== null &&
            p.rateLimit.headroomRatio >= 0 &&
            p.rateLimit.headroomRatio <= 1,
        );
      }
      assert.deepEqual(byName['jira']?.rateLimit.configured, { limit: 50, perMs: 1000 });
    });

    it('statistics are the ones the test caused', async () => {
      const jiraCalls = botCalls(e, 'jira', jiraSince);
      const s = json.stats.platforms['jira']!;
      // Since egress-jira's restart: Report B's create and the edit after the 429s were written;
      // the due date it found changed by a person was skipped (the conflict holds it).
      assert.equal(s.writes, 2, JSON.stringify(s.commands));
      assert.equal(
        s.commands['dead_lettered'],
        1,
        'the write with the revoked token is held, not dead-lettered',
      );
      assert.equal(s.apiCalls['rate_limit'], 3);
      assert.equal(
        jiraCalls.filter((c) => c.status === 429).length,
        3,
        'the emulator answered 429 three times',
      );
      assert.equal(s.apiCalls['validation'], 1);
      assert.ok((s.apiCalls['auth'] ?? 0) >= 1, 'the held write is tried again with backoff');
      assert.deepEqual(s.unresolvedFields, { assignee: 1, status: 1, priority: 1 });
      assert.equal(s.latency.count, 2, 'one latency observation per applied write with a source change');
      assert.ok(s.latency.p50Seconds !== null && s.latency.p99Seconds !== null);
      assert.ok(s.latency.p50Seconds <= s.latency.p99Seconds);
      assert.equal(s.backlog, 1, 'the held write waits in Kafka (consumed, not committed)');
      assert.equal(json.stats.reconcilerBacklog, 0);
      assert.equal(json.stats.changes.total, await changesCount(e), 'every change on the changes topic');
      assert.ok(json.stats.changes.sinceMinutes !== null && json.stats.changes.perMinute !== null);
    });

    it('issues: the revoked token, the 429s, the refused write, the unmatched person, the conflict, the dead letters', async () => {
      const dl = await deadLetters(e);
      assert.deepEqual(
        dl.map((d) => d.error.category),
        ['validation'],
      );
      const open = await e.db.query(`select 1 from reconciler_conflicts where status = 'open'`);
      const by = (code: string, platform?: string) =>
        json.issues.find((i) => i.code === code && (platform === undefined || i.platform === platform));
      assert.ok(by('auth_failed', 'jira'));
      assert.ok((by('auth_errors', 'jira')?.count ?? 0) >= 1);
      assert.equal(by('rate_limited', 'jira')?.count, 3);
      assert.equal(by('validation_failures', 'jira')?.count, 1);
      // Report B, made with Linear's defaults, also has a status (Backlog: the Jira emulator's
      // workflow has none) and a priority (none: Jira has no "no priority") with no counterpart.
      assert.deepEqual(by('unresolved_fields', 'jira')?.breakdown, { assignee: 1, status: 1, priority: 1 });
      assert.equal(by('conflicts_open')?.count, open.rowCount);
      assert.deepEqual(by('dead_letters')?.breakdown, { validation: 1 });
      assert.equal(json.issues.filter((i) => i.platform === 'linear').length, 0, JSON.stringify(json.issues));
    });

    it('recommendations follow from those numbers', () => {
      const texts = json.recommendations.map((r) => r.text);
      const has = (re: RegExp) =>
        assert.ok(
          texts.some((t) => re.test(t)),
          `${re} in ${JSON.stringify(texts, null, 1)}`,
        );
      has(/^jira: the token in connectors\.jira is refused/);
      has(
        /^jira answered 429 3 times since egress-jira started \([\d.]+ min ago\): lower egress\.rateLimits\.jira\.limit \(now 50 per 1000 ms\)/,
      );
      has(/^1 assignee had no user with a matching email on jira/);
      has(/^1 conflict waits for a decision/);
      has(/^1 dead letter is open \(validation 1\)/);
      has(/^1 status had no counterpart on jira/);
      has(/^1 priority had no counterpart on jira/);
      has(/^jira rejected 1 write/);
    });

    it('the text report has its sections and exits 1 for the error-level issues', () => {
      assert.equal(text.code, 1);
      for (const section of [
        'Platforms',
        'Flows',
        'Statistics',
        'Issues',
        'Recommendations',
        'Next steps',
        'Not covered yet',
      ])
        assert.match(text.stdout, new RegExp(`^${section}$`, 'm'), section);
      assert.match(text.stdout, /^ {2}jira: reachable, credentials REFUSED; breaker closed/m);
      assert.match(text.stdout, /^ {2}linear: reachable, credentials valid; breaker closed/m);
      assert.match(text.stdout, /^ {2}\[error\] jira refuses the configured credentials/m);
      assert.match(text.stdout, /no verify has run/);
    });

    it('the held write lands once the token is issued again: once, and no dead letter', async () => {
      const seq = lastSeq(e, 'jira');
      assert.equal(await e.jiraControl.issueToken(botId(e, 'jira'), JIRA_BOT_TOKEN), true);
      const jira = e.jiraAs('carol');
      await eventually(
        'the held title write in Jira',
        async () =>
          (await jiraIssue(jira, keyOfB)).fields.summary === 'Report B (token revoked)' ? true : undefined,
        120_000,
      );
      await settled(e);
      assert.equal(await jiraEgressMetric(e, 'lockstep_egress_credentials_refused'), 0);
      assert.deepEqual(
        (await deadLetters(e)).map((d) => d.error.category),
        ['validation'],
      );
      const accepted = writes(botCalls(e, 'jira', seq), 'jira').filter((c) => c.status < 300);
      assert.equal(accepted.length, 1, `one write for the held command: ${JSON.stringify(accepted)}`);
    });
  },
);
