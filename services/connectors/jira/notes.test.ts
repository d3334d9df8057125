/**
 * Lockstep's notes on Jira: the ADF body (as the ADF spec allows it: no empty text, `code` alone),
 * the post against the Jira emulator (test infrastructure, not Jira) through jira.js — once,
 * however often it is asked — and the webhook and poll of the note's own comment dropped.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { DEMO_BOT_TOKEN, demoSeed, startJiraEmulator } from '../../../test/emulators/jira/index.ts';
import { isAdfDoc } from '../../../test/emulators/jira/model.ts';
import type { RunningEmulator } from '../../../test/emulators/common/server.ts';
import { noteIdIn, noteMarkerText } from '../kit/notes.ts';
import type { NoteRun } from '../types.ts';
import { createJiraApplier } from './apply.ts';
import { jiraClient } from './poll.ts';
import { jiraConfigSchema, type JiraConfig } from './config.ts';
import { adfToMarkdown, normalizeJira } from './normalize.ts';
import { noteAdf } from './notes.ts';

const NOTE_ID = '080cd4ff10a07918f50bb97896cadc0c';
const paragraphs: NoteRun[][] = [
  [
    { text: 'Lockstep could not sync the ', style: 'strong' },
    { text: 'assignee', style: 'strong' },
  ],
  [{ text: 'The value ' }, { text: 'frank@example.com', style: 'code' }, { text: '' }],
  [],
  [{ text: `Once. ${noteMarkerText(NOTE_ID)}` }],
];

test('the ADF: one paragraph per non-empty paragraph, one mark per run, no empty text', () => {
  const doc = noteAdf(paragraphs);
  assert.equal(isAdfDoc(doc), true);
  assert.equal(doc.content.length, 3);
  assert.deepEqual(doc.content[1]!.content, [
    { type: 'text', text: 'The value ' },
    { type: 'text', text: 'frank@example.com', marks: [{ type: 'code' }] },
  ]);
  assert.equal(noteIdIn(adfToMarkdown(doc)), NOTE_ID, 'the marker survives normalize’s ADF → markdown');
});

test('the emulator refuses what Jira refuses: code with another mark, empty text', () => {
  const para = (content: unknown[]) => ({
    type: 'doc',
    version: 1,
    content: [{ type: 'paragraph', content }],
  });
  assert.equal(
    isAdfDoc(para([{ type: 'text', text: 'x', marks: [{ type: 'code' }, { type: 'strong' }] }])),
    false,
  );
  assert.equal(
    isAdfDoc(
      para([{ type: 'text', text: 'x', marks: [{ type: 'code' }, { type: 'link', attrs: { href: 'h' } }] }]),
    ),
    true,
  );
  assert.equal(isAdfDoc(para([{ type: 'text', text: '' }])), false);
  assert.equal(isAdfDoc(para([{ type: 'text', text: 'x', marks: [{ type: 'sparkle' }] }])), false);
});

let emu: RunningEmulator;
let config: JiraConfig;
before(async () => {
  emu = await startJiraEmulator({ seed: demoSeed(), webhookTimeScale: 0.001 });
  config = jiraConfigSchema.parse({
    host: emu.url,
    email: 'lockstep-bot@example.com',
    apiToken: DEMO_BOT_TOKEN,
    webhookSecret: 'unused',
    projects: ['ENG'],
  });
});
after(() => emu.close());

test('postNote comments on the issue once: a second post finds the first by its marker property', async () => {
  const client = jiraClient(config);
  const issue = await client.issues.createIssue({
    fields: { project: { key: 'ENG' }, issuetype: { name: 'Task' }, summary: 'Has a note' },
  });
  const applier = createJiraApplier({ config, botUserId: null });
  const note = {
    noteId: NOTE_ID,
    entityType: 'issue' as const,
    targetId: issue.id,
    targetKey: issue.key,
    paragraphs,
  };
  const first = await applier.postNote!(note);
  assert.equal(first.alreadyPosted, false);
  assert.deepEqual(await applier.postNote!(note), { commentId: first.commentId, alreadyPosted: true });
  const comments = await client.issueComments.getComments({ issueIdOrKey: issue.key });
  assert.equal(comments.comments?.length, 1);
  assert.equal(comments.comments?.[0]?.id, first.commentId);
  assert.deepEqual(comments.comments?.[0]?.body, noteAdf(paragraphs));
});

test('normalize drops the note’s own comment webhook, and keeps a person’s comment that quotes it', () => {
  const hook = JSON.parse(
    readFileSync(new URL('fixtures/comment-created.json', import.meta.url), 'utf8'),
  ) as { comment: { body: unknown } };
  const cfg = jiraConfigSchema.parse({
    host: 'https://acme.atlassian.net',
    email: 'b@x',
    apiToken: 't',
    webhookSecret: 's',
    projects: ['PROJ'],
  });
  const ctx = (botUserId: string | null) => ({
    config: cfg,
    via: 'webhook' as const,
    deliveryId: 'd',
    nowMs: 0,
    botUserId,
  });
  const note = structuredClone(hook);
  note.comment.body = noteAdf(paragraphs);
  const author = '5b10ac8d82e05b22cc7d4ef6';
  assert.deepEqual(normalizeJira(note, ctx(author)), [], 'the bot wrote it');
  assert.deepEqual(normalizeJira(note, ctx(null)), [], 'bot unknown: the marker decides');
  assert.equal(normalizeJira(note, ctx('lockstep-bot')).length, 1, 'a person quoting a note');
  assert.equal(normalizeJira(hook, ctx(author)).length, 1, 'an ordinary comment by the bot');
});
