/**
 * apply, read and findByMarker against the Slack emulator (test/emulators/slack, test
 * infrastructure — not Slack), through `@slack/web-api` exactly as in production (client.ts).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebClient } from '@slack/web-api';
import type { WriteCommand } from '../../../schemas/generated/types.ts';
import { DEMO_TOKENS, demoSeed, startSlackEmulator } from '../../../test/emulators/slack/index.ts';
import { entityState } from '../types.ts';
import { attribution, createSlackApplier } from './apply.ts';
import { slackConfigSchema, type SlackConfig } from './config.ts';
import { classifySlackError } from './errors.ts';
import { CARD_EVENT_TYPE, REPLY_EVENT_TYPE, STATUS_EVENT_TYPE, parseMessageId } from './model.ts';
import { createSlackReader } from './read.ts';

const CHANNEL = 'C0ENGSYNC1';
const BOT = 'U0LOCKBOT1';

let emu: Awaited<ReturnType<typeof startSlackEmulator>>;
let config: SlackConfig;
before(async () => {
  emu = await startSlackEmulator({ seed: { ...demoSeed(), messages: [] }, webhookTimeScale: 0.001 });
  config = slackConfigSchema.parse({
    botToken: DEMO_TOKENS.bot,
    userToken: DEMO_TOKENS.alice,
    signingSecret: 'unused-here',
    apiUrl: emu.apiUrl,
    channels: [CHANNEL],
    botUserId: BOT,
  });
});
after(() => emu.close());

const applier = (over: Partial<SlackConfig> = {}) =>
  createSlackApplier({ config: { ...config, ...over }, botUserId: BOT });
const as = (who: keyof typeof DEMO_TOKENS) =>
  new WebClient(DEMO_TOKENS[who], { slackApiUrl: emu.apiUrl, retryConfig: { retries: 0 } });

let n = 0;
const cmd = (over: Partial<WriteCommand>): WriteCommand => ({
  commandId: `cmd-${++n}`,
  linkId: `link-${n}`,
  flowId: 'flow-1',
  platform: 'slack',
  workspace: CHANNEL,
  action: 'create',
  entityType: 'message',
  targetId: null,
  parentId: null,
  fields: entityState({}),
  base: null,
  marker: null,
  causedBy: null,
  unresolved: [],
  cause: null,
  createdAtMs: Date.now(),
  ...over,
});

const alice = { email: 'alice@example.com', platformUserId: null, displayName: 'Alice Example' };
const cardFields = entityState({
  title: 'Checkout times out on Safari',
  status: { name: 'In Progress', category: 'in_progress' },
  priority: 'high',
  assignee: alice,
  description: 'not held by a card',
});

interface Msg {
  ts: string;
  text: string;
  user?: string;
  thread_ts?: string;
  blocks?: { type: string; text?: { text: string }; fields?: { text: string }[] }[];
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
}
async function history(): Promise<Msg[]> {
  const r = await as('alice').conversations.history({ channel: CHANNEL, include_all_metadata: true });
  return (r.messages ?? []) as Msg[];
}
async function thread(ts: string): Promise<Msg[]> {
  const r = await as('alice').conversations.replies({ channel: CHANNEL, ts, include_all_metadata: true });
  return ((r.messages ?? []) as Msg[]).filter((m) => m.ts !== ts);
}
const calls = (since: number, method: string) =>
  emu.ledger.list(since).filter((e) => e.path === `/api/${method}`).length;
const lastSeq = () => emu.ledger.list().at(-1)?.seq ?? 0;

async function newCard(marker = `m-${++n}`) {
  const c = cmd({ marker, fields: cardFields });
  const r = await applier().apply(c);
  return { c, r, ts: parseMessageId(r.targetId)!.ts };
}

test('a card is one bot message: Block Kit with title, status, assignee and priority, its values and marker in metadata', async () => {
  const { c, r, ts } = await newCard();
  assert.equal(r.alreadyApplied, false);
  assert.deepEqual(r.written?.known, ['title', 'status', 'priority', 'assignee']);
  const m = (await history()).find((x) => x.ts === ts)!;
  assert.equal(m.user, BOT);
  assert.equal(m.metadata?.event_type, CARD_EVENT_TYPE);
  assert.equal(m.metadata?.event_payload['marker'], c.marker);
  assert.equal(m.blocks?.[0]?.type, 'header');
  assert.equal(m.blocks?.[0]?.text?.text, 'Checkout times out on Safari');
  const shown = (m.blocks?.[1]?.fields ?? []).map((f) => f.text);
  // Alice is in the workspace (users.lookupByEmail finds her): a mention, which Slack shows by name.
  assert.deepEqual(shown, ['*Status*\nIn Progress', '*Assignee*\n<@U0ALICE001>', '*Priority*\nHigh']);
  assert.match(m.text, /Checkout times out on Safari — In Progress/);
});

test('an assignee who is not in the workspace is shown by name, as text', async () => {
  const stranger = { email: 'dana@elsewhere.example', platformUserId: 'lin-dana', displayName: 'Dana <Ops>' };
  const c = cmd({ marker: `m-${++n}`, fields: entityState({ title: 'Elsewhere', assignee: stranger }) });
  const r = await applier().apply(c);
  const m = (await history()).find((x) => x.ts === parseMessageId(r.targetId)!.ts)!;
  const shown = (m.blocks?.[1]?.fields ?? []).map((f) => f.text);
  assert.deepEqual(shown, ['*Assignee*\nDana &lt;Ops&gt;']);
});

test('a card create whose answer was lost is found by its marker, not posted twice', async () => {
  const { c, r } = await newCard();
  const seq = lastSeq();
  const again = await applier().apply({ ...c, commandId: 'retry' });
  assert.equal(again.alreadyApplied, true);
  assert.equal(again.targetId, r.targetId);
  assert.equal(calls(seq, 'chat.postMessage'), 0);
  assert.deepEqual(
    await applier().findByMarker({ marker: c.marker!, entityType: 'message', parentId: null }),
    {
      targetId: r.targetId,
      targetKey: null,
    },
  );
});

test('an update edits the card once with chat.update; the fields it does not carry stay; a repeat writes nothing', async () => {
  const { r, ts } = await newCard();
  const seq = lastSeq();
  const up = cmd({
    action: 'update',
    targetId: r.targetId,
    fields: entityState({ status: { name: 'Done', category: 'done' } }),
    base: entityState({ status: { name: 'In Progress', category: 'in_progress' } }),
  });
  const out = await applier().apply(up);
  assert.equal(out.alreadyApplied, false);
  assert.equal(out.written?.status?.name, 'Done');
  assert.equal(out.written?.title, 'Checkout times out on Safari');
  assert.equal(calls(seq, 'chat.update'), 1);
  const m = (await history()).find((x) => x.ts === ts)!;
  assert.equal(m.metadata?.event_payload['status'], 'Done');
  assert.equal(m.metadata?.event_payload['priority'], 'high');
  const seq2 = lastSeq();
  const repeat = await applier().apply({ ...up, commandId: 'repeat' });
  assert.equal(repeat.alreadyApplied, true);
  assert.equal(calls(seq2, 'chat.update'), 0);
  assert.equal(
    out.platformVersion !== null && out.platformVersion !== ts,
    true,
    'the version is the edit ts',
  );
});

test('a stale base skips the field and writes the others', async () => {
  const { r } = await newCard();
  const out = await applier().apply(
    cmd({
      action: 'update',
      targetId: r.targetId,
      fields: entityState({ title: 'New title', priority: 'low' }),
      base: entityState({ title: 'Something else', priority: 'high' }),
    }),
  );
  assert.deepEqual(
    out.skipped.map((s) => [s.field, s.reason]),
    [['title', 'stale_base']],
  );
  assert.equal(out.written?.priority, 'low');
  assert.equal(out.written?.title, 'Checkout times out on Safari');
});

test('statusReplies: a status change also posts one reply in the thread, marked so it never syncs; off by default', async () => {
  const { r, ts } = await newCard();
  const update = (name: string, category: 'done' | 'todo') =>
    cmd({ action: 'update', targetId: r.targetId, fields: entityState({ status: { name, category } }) });
  await applier().apply(update('Done', 'done'));
  assert.equal((await thread(ts)).length, 0);
  await applier({ statusReplies: true }).apply(update('Todo', 'todo'));
  const replies = await thread(ts);
  assert.equal(replies.length, 1);
  assert.equal(replies[0]!.text, 'Status: *Todo*');
  assert.equal(replies[0]!.metadata?.event_type, STATUS_EVENT_TYPE);
});

test('a comment is a reply in the card thread saying who wrote it and where; found by its marker after a lost answer', async () => {
  const { r, ts } = await newCard();
  const c = cmd({
    entityType: 'comment',
    parentId: r.targetId,
    marker: 'comment-marker-1',
    fields: entityState({ body: 'Seen on **iOS** too & <Safari>', author: alice }),
    cause: {
      kind: 'event',
      ref: 'e1',
      platform: 'linear',
      workspace: 'ENG',
      entityId: 'c1',
      entityKey: null,
      actor: alice,
      actorIsLockstep: false,
      via: 'webhook',
      changedAtMs: 0,
    },
  });
  const out = await applier().apply(c);
  const replies = await thread(ts);
  assert.equal(replies.length, 1);
  assert.equal(replies[0]!.user, BOT);
  assert.equal(replies[0]!.text, '*Alice Example* wrote on Linear:\nSeen on *iOS* too &amp; &lt;Safari&gt;');
  assert.equal(replies[0]!.metadata?.event_type, REPLY_EVENT_TYPE);
  assert.equal(out.written?.body, 'Seen on **iOS** too & <Safari>');
  const seq = lastSeq();
  const again = await applier().apply({ ...c, commandId: 'retry' });
  assert.equal(again.alreadyApplied, true);
  assert.equal(again.targetId, out.targetId);
  assert.equal(calls(seq, 'chat.postMessage'), 0);
  assert.equal((await thread(ts)).length, 1);
  // The reader reads it back as the pipeline does: the attribution line is not the comment's text.
  const read = await createSlackReader({ config, botUserId: BOT }).read(
    { entityType: 'comment', entityId: out.targetId, parentId: r.targetId },
    { via: 'poll', deliveryId: null },
  );
  assert.equal(read.found, true);
  if (read.found) {
    assert.equal(read.event.after?.body, 'Seen on **iOS** too & <Safari>');
    assert.equal(read.event.source.actorIsLockstep, true);
    assert.equal(read.event.source.marker, 'comment-marker-1');
  }
  // An edit of the comment elsewhere edits the reply, keeping the attribution.
  await applier().apply(
    cmd({
      entityType: 'comment',
      action: 'update',
      targetId: out.targetId,
      parentId: r.targetId,
      fields: entityState({ body: 'Seen on iOS 17 too' }),
      cause: c.cause,
    }),
  );
  assert.equal((await thread(ts))[0]!.text, '*Alice Example* wrote on Linear:\nSeen on iOS 17 too');
});

test('attribution names the person and the platform by display name, with the key when there is one', () => {
  const c = cmd({
    entityType: 'comment',
    fields: entityState({
      body: 'x',
      author: { email: 'bob@example.com', platformUserId: null, displayName: null },
    }),
    cause: { platform: 'jira', entityKey: 'ENG-7', actor: null } as WriteCommand['cause'],
  });
  assert.equal(attribution(c), '*bob@example.com* wrote on Jira Cloud (ENG-7):');
});

test('a delete removes the card with chat.delete; a repeat finds it gone and holds', async () => {
  const { r, ts } = await newCard();
  const del = cmd({ action: 'delete', targetId: r.targetId });
  const out = await applier().apply(del);
  assert.equal(out.written, null);
  assert.equal(out.alreadyApplied, false);
  assert.equal(
    (await history()).some((m) => m.ts === ts),
    false,
  );
  const again = await applier().apply({ ...del, commandId: 'again' });
  assert.equal(again.alreadyApplied, true);
  const read = await createSlackReader({ config, botUserId: BOT }).read(
    { entityType: 'message', entityId: r.targetId, parentId: null },
    { via: 'poll', deliveryId: null },
  );
  assert.equal(read.found, false);
});

test('the card reads back as Lockstep own card with its values and marker', async () => {
  const { c, r } = await newCard();
  const read = await createSlackReader({ config, botUserId: BOT }).read(
    { entityType: 'message', entityId: r.targetId, parentId: null },
    { via: 'poll', deliveryId: null },
  );
  assert.equal(read.found, true);
  if (!read.found) return;
  assert.equal(read.event.op, 'r');
  assert.equal(read.event.source.marker, c.marker);
  assert.equal(read.event.source.actorIsLockstep, true);
  assert.deepEqual(read.event.after?.status, { name: 'In Progress', category: 'in_progress' });
  assert.deepEqual(read.event.after?.assignee, alice);
});

test('a revoked bot token is auth with credentials refused; a command for another entity type is refused', async () => {
  await assert.rejects(
    applier().apply(cmd({ entityType: 'issue', marker: 'x' })),
    (err: Error & { category?: string }) => err.category === 'validation',
  );
  const r = await fetch(new URL('/_emulator/tokens/revoke', emu.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: DEMO_TOKENS.bob }),
  });
  assert.equal(r.ok, true, await r.text());
  const bobBot = createSlackApplier({
    config: slackConfigSchema.parse({ ...rawOf(config), botToken: DEMO_TOKENS.bob }),
    botUserId: BOT,
  });
  const err = await bobBot.apply(cmd({ marker: 'revoked', fields: cardFields })).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(err, 'the write failed');
  const cls = classifySlackError(err);
  assert.equal(cls.category, 'auth');
  assert.equal(cls.credentialsRefused, true);
});

function rawOf(c: SlackConfig) {
  return {
    botToken: c.botToken.reveal(),
    userToken: c.userToken.reveal(),
    signingSecret: c.signingSecret.reveal(),
    apiUrl: c.apiUrl,
    channels: c.channels,
    botUserId: c.botUserId,
  };
}
