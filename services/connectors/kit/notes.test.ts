import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLockstepNote, noteIdIn, noteMarkerText } from './notes.ts';

const ID = '080cd4ff10a07918f50bb97896cadc0c';

test('the marker round-trips through any text around it', () => {
  assert.equal(noteIdIn(`Some text.\n\nLockstep writes this note once. ${noteMarkerText(ID)}`), ID);
  assert.equal(noteIdIn('a plain comment'), null);
  assert.equal(noteIdIn(null), null);
  assert.equal(noteIdIn('lockstep-note:xyz'), null, 'not hex');
});

test('a note is Lockstep’s unless someone else known wrote it', () => {
  const body = `… ${noteMarkerText(ID)}`;
  assert.equal(isLockstepNote(body, 'bot', 'bot'), true);
  assert.equal(isLockstepNote(body, null, 'bot'), true, 'author unknown');
  assert.equal(isLockstepNote(body, 'alice', null), true, 'bot unknown: the marker decides');
  assert.equal(isLockstepNote(body, 'alice', 'bot'), false, 'a person quoting a note keeps their comment');
  assert.equal(isLockstepNote('no marker', 'bot', 'bot'), false);
});
