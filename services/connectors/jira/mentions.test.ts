import assert from 'node:assert/strict';
import { it } from 'node:test';
import { jiraMentions } from './mentions.ts';

it('finds keys of configured projects, bare and in browse URLs, once each', () => {
  const cfg = { projects: ['ENG', 'OPS'] };
  assert.deepEqual(
    jiraMentions('Jira: ENG-12, see https://acme.atlassian.net/browse/OPS-3 and ENG-12 again', cfg),
    ['ENG-12', 'OPS-3'],
  );
});

it('ignores other projects, keys inside longer words and zero-numbered keys', () => {
  const cfg = { projects: ['ENG'] };
  assert.deepEqual(jiraMentions('XENG-1 ENG-0 ENG-7x DOC-4 MYENG-2 ENG-', cfg), []);
});
