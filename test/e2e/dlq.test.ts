/**
 * `lockstep dlq` against the real pipeline: dead letters made by real egress (Jira answering a
 * permanent 400), listed and shown through the CLI, retried once the cause is gone (one write, not
 * two), retried twice (refused; forced, egress still writes nothing), and discarded (recorded).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { killService } from '../../services/app/launcher.ts';
import {
  commandsTopic,
  createKafka,
  createProducer,
  createRegistry,
  createSerde,
} from '../../services/core/kafka/index.ts';
import type { DeadLetter, WriteCommand } from '../../schemas/generated/types.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import { botCalls, jiraIssue as jiraIssueByKey, jiraIssues, lastSeq, linearIds, writes } from './helpers.ts';
import { botId } from './faults-support.ts';

const ROOT = join(import.meta.dirname, '..', '..');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `lockstep dlq <args> -c <world config>`, with its exit code (a refusal exits 1). */
function dlq(e: E2E, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin', 'lockstep.mjs'), 'dlq', ...args, '-c', e.pipeline.configFile],
      { cwd: ROOT, timeout: 120_000 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') return reject(err);
        resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
      },
    );
  });
}

async function dlqOk(e: E2E, args: string[]): Promise<string> {
  const r = await dlq(e, args);
  assert.equal(r.code, 0, `lockstep dlq ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

interface Listed {
  id: string;
  state: string;
  stateBy: string | null;
  stateReason: string | null;
  stage: string;
  topic: string;
  category: string;
  reason: string;
  attempts: number;
  ageMs: number;
}

async function listed(e: E2E): Promise<Listed[]> {
  const out = await dlqOk(e, ['list', '--json']);
  return out
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Listed);
}

async function jiraSummary(e: E2E, key: string): Promise<string | undefined> {
  return (await jiraIssueByKey(e.jiraAs('carol'), key)).fields.summary;
}

/** egress-jira's count of commands by result, from its /metrics. */
async function egressJiraCommands(e: E2E, result: string): Promise<number> {
  const port = e.config.egress.port + 1; // linear is base + 0, jira base + 1
  const text = await (await fetch(`http://${e.config.http.host}:${port}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (line.startsWith('lockstep_egress_commands_total{') && line.includes(`result="${result}"`))
      return Number(line.slice(line.indexOf('}') + 1).trim());
  }
  return 0;
}

/** Jira write calls by the bot since `since` that succeeded. */
function okWrites(e: E2E, since: number) {
  return writes(botCalls(e, 'jira', since), 'jira').filter((c) => c.status >= 200 && c.status < 300);
}

describe('lockstep dlq: list, show, retry, discard on the real pipeline', { timeout: 600_000 }, () => {
  let e: E2E;
  let issueId: string;
  let jiraKey: string;
  before(async () => {
    e = await startE2E({ egress: { backoffBaseMs: 100, backoffMaxMs: 1000 } });
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    const created = await bob.createIssue({ teamId: ids.teamId, title: 'DLQ A' });
    issueId = (await created.issue)!.id;
    const j = await eventually('"DLQ A" in Jira', async () =>
      (await jiraIssues(e.jiraAs('carol'))).find((i) => i.fields.summary === 'DLQ A'),
    );
    jiraKey = j.key;
    await settled(e);
  });
  after(async () => {
    await e?.stop();
  });

  /** Makes Jira refuse the bot's next issue update with a 400 and edits the title in Linear. */
  async function deadLetteredEdit(title: string, known: number): Promise<Listed> {
    await e.jiraControl.fault({
      kind: 'server_error',
      status: 400,
      count: 1,
      match: { method: 'PUT', pathPrefix: '/rest/api/3/issue/', actor: botId(e, 'jira') },
    });
    await e.linearAs('bob').updateIssue(issueId, { title });
    const all = await eventually(
      `a dead letter for "${title}" from egress-jira`,
      async () => {
        const l = await listed(e);
        return l.length > known ? l : undefined;
      },
      60_000,
    );
    assert.equal(all.length, known + 1, `one new dead letter: ${JSON.stringify(all)}`);
    return all[known]!;
  }

  let first: Listed;

  it('lists and shows a dead letter made by egress, as text and JSON', async () => {
    assert.deepEqual(await listed(e), []);
    assert.match(await dlqOk(e, ['list']), /no dead letters on .* match/);
    const jSince = lastSeq(e, 'jira');

    first = await deadLetteredEdit('DLQ A (needs a retry)', 0);
    assert.match(first.id, /^\d+-\d+$/);
    assert.equal(first.state, 'open');
    assert.equal(first.stage, 'egress-jira');
    assert.equal(first.topic, commandsTopic(e.config.kafka.topics, 'jira'));
    assert.equal(first.category, 'validation');
    assert.equal(first.attempts, 1);
    assert.ok(first.ageMs >= 0 && first.ageMs < 120_000, `age ${first.ageMs} ms`);
    assert.match(first.reason, /applying update issue to jira/);
    await settled(e);
    assert.equal(await jiraSummary(e, jiraKey), 'DLQ A', 'Jira kept its title: the write was refused');
    assert.deepEqual(
      writes(botCalls(e, 'jira', jSince), 'jira').map((c) => c.status),
      [400],
      'one refused write, not retried',
    );

    const text = await dlqOk(e, ['list']);
    assert.match(
      text,
      new RegExp(`^${first.id}\\s+open\\s+egress-jira\\s+validation\\s+attempts=1 age=\\d+s`, 'm'),
    );

    const shown = JSON.parse(await dlqOk(e, ['show', first.id, '--json'])) as {
      id: string;
      payload: WriteCommand;
      decodeError: string | null;
      value: string;
      history: unknown[];
    };
    assert.equal(shown.id, first.id);
    assert.equal(shown.decodeError, null);
    assert.equal(shown.payload.action, 'update');
    assert.equal(shown.payload.platform, 'jira');
    assert.equal(
      shown.payload.targetId,
      (await jiraIssues(e.jiraAs('carol'))).find((i) => i.key === jiraKey)?.id,
    );
    assert.equal(shown.payload.fields.title, 'DLQ A (needs a retry)');
    assert.ok(Buffer.from(shown.value, 'base64').length > 5, 'the original bytes, base64');
    assert.deepEqual(shown.history, []);
    const human = await dlqOk(e, ['show', first.id]);
    assert.match(human, /stage: +egress-jira/);
    assert.match(human, /"title": "DLQ A \(needs a retry\)"/);

    const missing = await dlq(e, ['show', '9-99999']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /finding dead letter 9-99999: no such record/);
  });

  it('a retry once the cause is gone converges with one write; a second retry is refused; forced, it writes nothing', async () => {
    const jSince = lastSeq(e, 'jira');
    const out = JSON.parse(await dlqOk(e, ['retry', first.id, '--by', 'ops-ada', '--json'])) as {
      result: string;
      topic: string;
    };
    assert.equal(out.result, 'retried');
    assert.equal(out.topic, commandsTopic(e.config.kafka.topics, 'jira'));
    await eventually('the retried title in Jira', async () =>
      (await jiraSummary(e, jiraKey)) === 'DLQ A (needs a retry)' ? true : undefined,
    );
    await settled(e);
    assert.equal(okWrites(e, jSince).length, 1, 'the retried command was written once');

    const [state] = await listed(e);
    assert.equal(state?.state, 'retried');
    assert.equal(state?.stateBy, 'ops-ada');

    // Run twice: refused, nothing produced.
    const again = await dlq(e, ['retry', first.id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`${first.id}: refused: already retried at .* by ops-ada; --force`));
    // --all only takes open dead letters: there are none.
    assert.match(await dlqOk(e, ['retry', '--all']), /no open dead letters match/);

    // Forced: the command goes back on the topic, and egress knows it is applied.
    const applied = await egressJiraCommands(e, 'already_applied');
    const jBefore = lastSeq(e, 'jira');
    assert.match(
      await dlqOk(e, ['retry', first.id, '--force', '--by', 'ops-ada']),
      /retried to .* \(forced\)/,
    );
    await eventually('egress-jira to see the forced retry as already applied', async () =>
      (await egressJiraCommands(e, 'already_applied')) > applied ? true : undefined,
    );
    await settled(e);
    assert.deepEqual(writes(botCalls(e, 'jira', jBefore), 'jira'), [], 'no second write');
    assert.equal(await jiraSummary(e, jiraKey), 'DLQ A (needs a retry)');

    const rows = await e.db.query<{ action: string; actor: string; forced: boolean }>(
      'select action, actor, forced from dlq_actions order by id',
    );
    assert.deepEqual(rows.rows, [
      { action: 'retried', actor: 'ops-ada', forced: false },
      { action: 'retried', actor: 'ops-ada', forced: true },
    ]);
  });

  it('discard records who and why, and is refused the second time; a discarded dead letter is not retried', async () => {
    const second = await deadLetteredEdit('DLQ A (to be discarded)', 1);
    const bad = await dlq(e, ['discard', second.id]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /give --reason/);

    assert.match(
      await dlqOk(e, ['discard', second.id, '--reason', 'superseded by a newer edit', '--by', 'ops-bob']),
      new RegExp(`${second.id}: discarded`),
    );
    const after = (await listed(e)).find((d) => d.id === second.id);
    assert.equal(after?.state, 'discarded');
    assert.equal(after?.stateBy, 'ops-bob');
    assert.equal(after?.stateReason, 'superseded by a newer edit');
    assert.match(
      await dlqOk(e, ['list', '--state', 'discarded']),
      new RegExp(`^${second.id}\\s+discarded by ops-bob`, 'm'),
    );

    const twice = await dlq(e, ['discard', second.id, '--reason', 'again']);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /refused: already discarded .* by ops-bob/);
    const retry = await dlq(e, ['retry', second.id]);
    assert.equal(retry.code, 1);
    assert.match(retry.stderr, /refused: already discarded/);

    const shown = JSON.parse(await dlqOk(e, ['show', second.id, '--json'])) as {
      history: { action: string; actor: string; reason: string | null }[];
    };
    assert.deepEqual(
      shown.history.map((h) => [h.action, h.actor, h.reason]),
      [['discarded', 'ops-bob', 'superseded by a newer edit']],
    );
    // Nothing was retried: Jira still holds the title of the first, retried dead letter.
    await settled(e);
    assert.equal(await jiraSummary(e, jiraKey), 'DLQ A (needs a retry)');
  });

  it('a dead letter made by a registry outage (as versions before the decode fix filed it) converges on retry with one write', async () => {
    // Today a consumer that cannot fetch a record's writer schema waits for the registry (issue 7,
    // finding 1), so no outage makes such a dead letter any more. Versions before that filed the
    // record as `validation` and committed past it, and their dead letters outlive an upgrade. This
    // leaves the state the old reconciler left: a person's edit on the changes topic, the
    // reconciler's group committed past it, and a DeadLetter with its original bytes. Then it
    // retries that dead letter.
    const t = e.config.kafka.topics;
    const title = 'DLQ A (lost to a registry outage)';
    const kafka = createKafka(e.config.kafka);
    const admin = await e.admin();
    await killService(e.pipeline, 'reconciler', 'SIGTERM');
    const before = new Map(
      (await admin.fetchTopicOffsets(t.changes)).map((o) => [o.partition, BigInt(o.high)]),
    );
    await e.linearAs('bob').updateIssue(issueId, { title });
    const grown = await eventually('the edit on the changes topic', async () => {
      if (e.linearEmu.kit.webhooks.inFlightCount > 0) return undefined;
      const now = await admin.fetchTopicOffsets(t.changes);
      const g = now
        .map((o) => ({ partition: o.partition, from: before.get(o.partition) ?? 0n, to: BigInt(o.high) }))
        .filter((o) => o.to > o.from);
      return g.length ? g : undefined;
    });

    // The raw records, as the old consumer had them when decoding failed.
    const raw: { partition: number; offset: string; key: Buffer | null; value: Buffer }[] = [];
    const want = grown.reduce((n, g) => n + Number(g.to - g.from), 0);
    const reader = kafka.kafka.consumer({ groupId: `e2e-raw-${randomUUID()}` });
    await reader.connect();
    try {
      await reader.subscribe({ topic: t.changes, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`reading the ${want} new changes records: got ${raw.length} in 60 s`)),
          60_000,
        );
        void reader.run({
          eachMessage: async ({ partition, message }) => {
            const g = grown.find((x) => x.partition === partition);
            const at = BigInt(message.offset);
            if (g && at >= g.from && at < g.to && message.value)
              raw.push({ partition, offset: message.offset, key: message.key, value: message.value });
            if (raw.length === want) {
              clearTimeout(timer);
              resolve();
            }
          },
        });
      });
    } finally {
      await reader.disconnect();
    }

    // Committed past them, as the old consumer did after dead-lettering (the group is empty: the
    // reconciler left it when it stopped).
    await eventually('the reconciler group to take the new offsets', async () => {
      await admin.setOffsets({
        groupId: `${e.config.kafka.clientId}-reconciler`,
        topic: t.changes,
        partitions: grown.map((g) => ({ partition: g.partition, offset: String(g.to) })),
      });
      return true;
    });
    const producer = createProducer(kafka, createSerde(createRegistry(e.config.registry.url), t));
    await producer.connect();
    try {
      for (const r of raw) {
        const now = Date.now();
        const dl: DeadLetter = {
          id: randomUUID(),
          stage: 'reconciler',
          topic: t.changes,
          partition: r.partition,
          offset: r.offset,
          key: r.key,
          value: r.value,
          headers: {},
          // The message the old consumer wrote for a schema fetch refused by a registry that was down.
          error: {
            category: 'validation',
            message: `decoding ${t.changes} record: Error: connect ECONNREFUSED ${new URL(e.config.registry.url).host}`,
            retriable: false,
          },
          attempts: 1,
          firstFailedAtMs: now,
          tsMs: now,
        };
        await producer.produce(t.dlq, r.key?.toString('utf8') ?? dl.id, dl);
      }
    } finally {
      await producer.disconnect();
    }
    await e.restart('reconciler');
    await settled(e);
    assert.equal(
      await jiraSummary(e, jiraKey),
      'DLQ A (needs a retry)',
      'the skipped edit did not reach Jira',
    );

    const outage = (await listed(e)).filter((d) => d.stage === 'reconciler');
    assert.equal(outage.length, raw.length);
    assert.ok(
      outage.every((d) => d.state === 'open' && d.category === 'validation' && d.topic === t.changes),
    );
    const jSince = lastSeq(e, 'jira');
    for (const d of outage) {
      const out = JSON.parse(await dlqOk(e, ['retry', d.id, '--by', 'ops-ada', '--json'])) as {
        result: string;
      };
      assert.equal(out.result, 'retried');
    }
    await eventually('the retried edit in Jira', async () =>
      (await jiraSummary(e, jiraKey)) === title ? true : undefined,
    );
    await settled(e);
    assert.equal(okWrites(e, jSince).length, 1, 'the retried edit was written once');

    // Forced a second time: the reconciler has seen the event, so nothing is written.
    const jBefore = lastSeq(e, 'jira');
    for (const d of outage) await dlqOk(e, ['retry', d.id, '--force', '--by', 'ops-ada']);
    await eventually('the reconciler to read the forced retry', async () => {
      const text = await (
        await fetch(`http://${e.config.http.host}:${e.config.reconciler.port}/metrics`)
      ).text();
      return /lockstep_reconciler_notes_total\{[^}]*code="duplicate"[^}]*\} [1-9]/.test(text)
        ? true
        : undefined;
    });
    await settled(e);
    assert.deepEqual(writes(botCalls(e, 'jira', jBefore), 'jira'), [], 'no second write');
    assert.equal(await jiraSummary(e, jiraKey), title);
  });
});
