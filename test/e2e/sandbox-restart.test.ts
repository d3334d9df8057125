/**
 * `lockstep start` in sandbox mode, stopped and started again (what `lockstep down` + `npm start`
 * do to the sandbox and the services): the emulators come back from the demo seed, so Lockstep's
 * sandbox state must start afresh with them. Before, the links kept from the first run pointed
 * at Linear issues that no longer existed and an edit of a demo item was dead-lettered
 * (`Entity not found: Issue`). Real processes: the sandbox process, ingest, reconciler and egress,
 * on the shared test stack, in a private database and topic namespace.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { LinearClient } from '@linear/sdk';
import pg from 'pg';
import { startAll, stopAll } from '../../services/cli/commands/start.ts';
import { createKafka, topicOffsets } from '../../services/core/kafka/index.ts';
import { testStackEndpoints } from '../stack/env.ts';
import { demoSeed as asanaDemoSeed } from '../emulators/asana/index.ts';
import { eventually } from './harness.ts';
import { sandboxClients, sandboxStartOptions } from './sandbox-support.ts';

async function linearHasTitle(linear: LinearClient, title: string): Promise<boolean> {
  return (await linear.issues({ filter: { title: { eq: title } } })).nodes.length > 0;
}

test('after the sandbox restarts, an edit of a demo item syncs and nothing is dead-lettered', async (t) => {
  const id = randomBytes(4).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), `lockstep-sbx-${id}-`));
  const o = await sandboxStartOptions(id, dir);
  t.after(async () => {
    await stopAll(o).catch(() => undefined);
    const stack = testStackEndpoints();
    const c = new pg.Client({ connectionString: stack.postgres.url });
    await c.connect();
    await c.query(`drop database if exists lockstep_sbx_${id} with (force)`).catch(() => undefined);
    await c.end();
    rmSync(dir, { recursive: true, force: true });
  });

  // As the stack creates `lockstep` for `npm start`, the private database exists before the first start.
  const admin = new pg.Client({ connectionString: testStackEndpoints().postgres.url });
  await admin.connect();
  await admin.query(`create database lockstep_sbx_${id}`);
  await admin.end();

  const first = await startAll(o);
  assert.equal(first.sandbox, true);
  {
    const { jira, linear } = sandboxClients(o.sandboxFile);
    await jira.issues.editIssue({ issueIdOrKey: 'ENG-1', fields: { summary: `first run ${id}` } });
    await eventually(
      'the first edit of Jira ENG-1 in Linear',
      () => linearHasTitle(linear, `first run ${id}`),
      90_000,
    );
  }

  // `lockstep down` stops the services and the sandbox; `npm start` starts them again.
  const stopped = await stopAll(o);
  assert.ok(stopped.includes('sandbox'), `stopped: ${stopped.join(', ')}`);
  const second = await startAll(o);
  {
    const { asana, jira, linear } = sandboxClients(o.sandboxFile);
    await jira.issues.editIssue({ issueIdOrKey: 'ENG-1', fields: { summary: `second run ${id}` } });
    await eventually(
      'the edit of Jira ENG-1 after the restart in Linear',
      () => linearHasTitle(linear, `second run ${id}`),
      90_000,
    );
    // The new Asana emulator's webhook was registered again and its secret learned afresh (the
    // database holding the old one was reset): a demo task there, once its first poll mirrored
    // it, syncs an edit too.
    const [task] = asanaDemoSeed().tasks;
    assert.ok(task?.name);
    await eventually('the Asana demo task in Linear', () => linearHasTitle(linear, task.name), 90_000);
    await asana.tasks.updateTask({ data: { name: `asana after restart ${id}` } }, task.gid);
    await eventually(
      'the edit of the Asana demo task after the restart in Linear',
      () => linearHasTitle(linear, `asana after restart ${id}`),
      90_000,
    );
  }
  const dlq = await topicOffsets(createKafka(second.config.kafka), second.config.kafka.topics.dlq);
  const deadLetters = dlq.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  assert.equal(deadLetters, 0, 'no write was dead-lettered');
});
