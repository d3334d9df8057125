/**
 * Lockstep's notes on Linear: the markdown body, the post against the Linear emulator (test
 * infrastructure, not Linear) through @linear/sdk — once, however often it is asked — and the
 * webhook of the note's own comment dropped by normalize.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { LinearClient } from '@linear/sdk';
import { demoSeed, LINEAR_DEMO_TOKENS, startLinearEmulator } from '../../../test/emulators/linear/index.ts';
import { noteMarkerText } from '../kit/notes.ts';
import { entityState, type NoteRun } from '../types.ts';
import { createLinearApplier } from './apply.ts';
import { linearConfigSchema, type LinearConfig } from './config.ts';
import { normalizeLinear } from './normalize.ts';
import { noteMarkdown } from './notes.ts';

const NOTE_ID = '080cd4ff10a07918f50bb97896cadc0c';
const paragraphs: NoteRun[][] = [
  [
    { text: 'Lockstep could not sync the ', style: 'strong' },
    { text: 'assignee', style: 'strong' },
  ],
  [
    { text: 'The value ' },
    { text: 'a`b <c@x>', style: 'code' },
    { text: ' has *no* counterpart in_progress.' },
  ],
  [{ text: `Once. ${noteMarkerText(NOTE_ID)}` }],
];

test('the markdown: strong runs merge, code spans fence their backticks, plain text is escaped', () => {
  assert.equal(
    noteMarkdown(paragraphs),
    [
      '**Lockstep could not sync the assignee**',
      'The value ``a`b <c@x>`` has \\*no\\* counterpart in\\_progress.',
      `Once. ${noteMarkerText(NOTE_ID)}`,
    ].join('\n\n'),
  );
});

let emu: Awaited<ReturnType<typeof startLinearEmulator>>;
let config: LinearConfig;
before(async () => {
  emu = await startLinearEmulator({ seed: demoSeed(), webhookTimeScale: 0.001 });
  config = linearConfigSchema.parse({
    apiKey: LINEAR_DEMO_TOKENS.bot,
    webhookSecret: 'unused',
    apiUrl: `${emu.url}/graphql`,
    teams: ['ENG'],
  });
});
after(() => emu.close());

test('postNote comments on the issue once: a second post finds the first', async () => {
  const applier = createLinearApplier({ config, botUserId: null });
  const c = new LinearClient({ apiKey: LINEAR_DEMO_TOKENS.alice, apiUrl: `${emu.url}/graphql` });
  const team = (await c.teams({ filter: { key: { eq: 'ENG' } } })).nodes[0]!;
  const created = await applier.apply({
    commandId: 'cmd-note-1',
    linkId: 'link-note',
    flowId: 'f',
    platform: 'linear',
    workspace: team.id,
    action: 'create',
    entityType: 'issue',
    targetId: null,
    parentId: null,
    fields: entityState({ title: 'Has a note' }),
    base: null,
    marker: 'link-note',
    causedBy: null,
    unresolved: [],
    cause: null,
    createdAtMs: 0,
  });
  const note = {
    noteId: NOTE_ID,
    entityType: 'issue' as const,
    targetId: created.targetId,
    targetKey: null,
    paragraphs,
  };
  const first = await applier.postNote!(note);
  assert.equal(first.alreadyPosted, false);
  const second = await applier.postNote!(note);
  assert.deepEqual(second, { commentId: first.commentId, alreadyPosted: true });
  const comments = (await (await c.issue(created.targetId)).comments()).nodes;
  assert.equal(comments.length, 1);
  assert.equal(comments[0]!.id, first.commentId);
  assert.equal(comments[0]!.body, noteMarkdown(paragraphs));
});

test('normalize drops the note’s own comment webhook, and keeps a person’s comment that quotes it', () => {
  const hook = JSON.parse(readFileSync(new URL('fixtures/comment-create.json', import.meta.url), 'utf8')) as {
    data: { body: string; userId: string; user: { id: string } };
  };
  const ctx = (botUserId: string | null) => ({
    config,
    via: 'webhook' as const,
    deliveryId: 'd',
    nowMs: 0,
    botUserId,
  });
  const note = structuredClone(hook);
  note.data.body = noteMarkdown(paragraphs);
  assert.deepEqual(normalizeLinear(note, ctx('user-ben')), [], 'the bot (user-ben here) wrote it');
  assert.deepEqual(normalizeLinear(note, ctx(null)), [], 'bot unknown: the marker decides');
  assert.equal(normalizeLinear(note, ctx('lockstep-bot')).length, 1, 'a person quoting a note');
  assert.equal(normalizeLinear(hook, ctx('user-ben')).length, 1, 'an ordinary comment by the bot');
});
