import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { LockstepError } from '../../core/errors/index.ts';
import type { NormalizeContext } from '../types.ts';
import { linearConfigSchema, type LinearConfig } from './config.ts';
import { normalizeLinear } from './normalize.ts';
import { issueNodeToData } from './poll.ts';
import { issueEvent } from './normalize.ts';

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8'));
const config = linearConfigSchema.parse({ apiKey: 'k', webhookSecret: 's' });
const ctx = (over: Partial<NormalizeContext<LinearConfig>> = {}): NormalizeContext<LinearConfig> => ({
  config,
  via: 'webhook',
  deliveryId: 'del-1',
  nowMs: 1_777_700_000_000,
  botUserId: null,
  ...over,
});

test('Issue create → op c with every synced field mapped', () => {
  const [e, ...rest] = normalizeLinear(fixture('issue-create.json'), ctx());
  assert.equal(rest.length, 0);
  assert.ok(e);
  assert.equal(e.op, 'c');
  assert.equal(e.before, null);
  assert.deepEqual(e.source, {
    platform: 'linear',
    workspace: 'ENG',
    entityType: 'issue',
    entityId: '6b8e8c52-2b7b-4f3e-9d2a-1f4b5c6d7e8f',
    entityKey: 'ENG-12',
    parentId: null,
    via: 'webhook',
    deliveryId: 'del-1',
    actor: { email: 'ana@example.com', platformUserId: 'user-ana', displayName: 'Ana Lopez' },
    actorIsLockstep: false,
    marker: null,
    version: '2026-05-01T10:30:00.000Z',
    tsMs: Date.parse('2026-05-01T10:30:00.000Z'),
  });
  const a = e.after!;
  assert.equal(a.title, 'Login form rejects valid emails');
  assert.equal(a.description, 'Steps:\n\n1. open /login\n2. type `a+b@example.com`');
  assert.deepEqual(a.status, { category: 'todo', name: 'Todo' });
  assert.equal(a.priority, 'high');
  assert.deepEqual(a.assignee, {
    email: 'ben@example.com',
    platformUserId: 'user-ben',
    displayName: 'Ben Okafor',
  });
  assert.deepEqual(a.labels, ['Bug']);
  assert.equal(a.dueDate, '2026-05-15');
  assert.deepEqual(a.known, [
    'title',
    'description',
    'status',
    'priority',
    'assignee',
    'labels',
    'dueDate',
    'url',
    'createdAtMs',
    'updatedAtMs',
  ]);
  assert.deepEqual(e.changedFields, [
    'title',
    'description',
    'status',
    'priority',
    'assignee',
    'labels',
    'dueDate',
  ]);
  assert.equal(e.tsMs, 1_777_700_000_000);
  assert.match(e.eventId, /^[0-9a-f]{32}$/);
});

test('Issue update → updatedFrom becomes before, holding only what Linear sent', () => {
  const [e] = normalizeLinear(fixture('issue-update.json'), ctx());
  assert.ok(e);
  assert.equal(e.op, 'u');
  assert.deepEqual([...e.changedFields].sort(), ['assignee', 'labels', 'priority', 'status', 'title']);
  const b = e.before!;
  assert.deepEqual(b.known, ['title', 'priority', 'assignee', 'labels', 'updatedAtMs']);
  assert.equal(b.title, 'Login form rejects valid emails');
  assert.equal(b.priority, 'high');
  assert.deepEqual(b.assignee, { email: null, platformUserId: 'user-ben', displayName: null });
  assert.deepEqual(b.labels, ['Bug']);
  assert.equal(b.status, null, 'the old state is only an id, so status is changed but not known before');
  assert.deepEqual(e.after!.status, { category: 'in_progress', name: 'In Progress' });
  assert.equal(e.after!.priority, 'urgent');
  assert.equal(e.after!.assignee, null);
  assert.ok(e.after!.known.includes('assignee'), 'unassigned is a known null');
  assert.deepEqual(e.after!.labels, ['Auth', 'Bug']);
});

test('an update touching nothing Lockstep syncs yields no event; other resource types yield none', () => {
  assert.deepEqual(normalizeLinear(fixture('issue-update-unsynced.json'), ctx()), []);
  assert.deepEqual(normalizeLinear({ action: 'create', type: 'IssueLabel', data: { id: 'l' } }, ctx()), []);
  assert.deepEqual(normalizeLinear({ action: 'restore', type: 'Issue', data: {} }, ctx()), []);
});

test('Issue remove → op d, no after, its own eventId', () => {
  const [e] = normalizeLinear(fixture('issue-remove.json'), ctx());
  assert.ok(e);
  assert.equal(e.op, 'd');
  assert.equal(e.after, null);
  assert.equal(e.source.tsMs, Date.parse('2026-05-02T09:00:00.000Z'));
});

test('Comment create → comment event with parentId and author', () => {
  const [e] = normalizeLinear(fixture('comment-create.json'), ctx());
  assert.ok(e);
  assert.equal(e.source.entityType, 'comment');
  assert.equal(e.source.parentId, '6b8e8c52-2b7b-4f3e-9d2a-1f4b5c6d7e8f');
  assert.equal(e.source.workspace, 'ENG');
  assert.equal(e.after!.body, 'Reproduced on **Safari** too.');
  assert.deepEqual(e.after!.author, {
    email: 'ben@example.com',
    platformUserId: 'user-ben',
    displayName: 'Ben Okafor',
  });
  assert.deepEqual(e.changedFields, ['body']);
});

test('actorIsLockstep follows the configured or resolved bot user id', () => {
  assert.equal(
    normalizeLinear(fixture('comment-create.json'), ctx({ botUserId: 'user-ben' }))[0]!.source
      .actorIsLockstep,
    true,
  );
  const cfg = linearConfigSchema.parse({ apiKey: 'k', webhookSecret: 's', botUserId: 'user-ben' });
  assert.equal(
    normalizeLinear(fixture('comment-create.json'), ctx({ config: cfg }))[0]!.source.actorIsLockstep,
    true,
  );
  assert.equal(
    normalizeLinear(fixture('comment-create.json'), ctx({ botUserId: 'someone-else' }))[0]!.source
      .actorIsLockstep,
    false,
  );
});

test('eventId is deterministic and shared by the webhook and a poll of the same version', () => {
  const a = normalizeLinear(fixture('issue-update.json'), ctx())[0]!;
  const b = normalizeLinear(fixture('issue-update.json'), ctx({ deliveryId: 'other', nowMs: 5 }))[0]!;
  assert.equal(a.eventId, b.eventId);
  // The poller's GraphQL node for the same issue at the same updatedAt.
  const u = fixture('issue-update.json') as { data: Record<string, unknown> };
  const node = { ...u.data, labels: { nodes: u.data.labels }, team: u.data.team };
  const polled = issueEvent('r', issueNodeToData(node), null, {
    via: 'poll',
    deliveryId: null,
    actor: null,
    botUserId: null,
    nowMs: 9,
    fallbackWorkspace: 'x',
  })!;
  assert.equal(polled.eventId, a.eventId);
  assert.equal(polled.source.via, 'poll');
  assert.deepEqual(polled.after, a.after);
  const created = normalizeLinear(fixture('issue-create.json'), ctx())[0]!;
  assert.notEqual(created.eventId, a.eventId);
});

test('malformed payloads throw a validation LockstepError naming the path', () => {
  for (const bad of [null, 'x', { action: 'create' }, { action: 'create', type: 'Issue', data: { id: 1 } }]) {
    assert.throws(
      () => normalizeLinear(bad, ctx()),
      (err: unknown) =>
        err instanceof LockstepError &&
        err.category === 'validation' &&
        /^normalizing linear/.test(err.message),
    );
  }
  const noDate = structuredClone(fixture('issue-create.json')) as { data: Record<string, unknown> };
  noDate.data.updatedAt = 'yesterday';
  assert.throws(() => normalizeLinear(noDate, ctx()), /updatedAt: must be an ISO-8601/);
});
