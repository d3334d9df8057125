import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergeLabels, mergeText } from './merge.ts';

describe('mergeLabels', () => {
  it('keeps additions from both sides and removals from either', () => {
    assert.deepEqual(mergeLabels(['a', 'b', 'c'], ['a', 'b', 'x'], ['b', 'c', 'y']), ['b', 'x', 'y']);
  });
  it('is symmetric and sorted', () => {
    assert.deepEqual(mergeLabels(['a'], ['z', 'a'], ['m']), mergeLabels(['a'], ['m'], ['z', 'a']));
    assert.deepEqual(mergeLabels([], ['z'], ['m']), ['m', 'z']);
  });
});

describe('mergeText', () => {
  const base = 'one\ntwo\nthree\nfour\nfive';
  it('combines edits to lines apart', () => {
    assert.equal(
      mergeText(base, 'ONE\ntwo\nthree\nfour\nfive', 'one\ntwo\nthree\nfour\nFIVE'),
      'ONE\ntwo\nthree\nfour\nFIVE',
    );
  });
  it('combines an insertion on one side with a deletion elsewhere on the other', () => {
    assert.equal(
      mergeText(base, 'zero\none\ntwo\nthree\nfour\nfive', 'one\ntwo\nfour\nfive'),
      'zero\none\ntwo\nfour\nfive',
    );
  });
  it('takes identical edits once', () => {
    assert.equal(
      mergeText(base, 'one\nTWO\nthree\nfour\nfive', 'one\nTWO\nthree\nfour\nfive'),
      'one\nTWO\nthree\nfour\nfive',
    );
  });
  it('returns null when both sides edit the same line differently', () => {
    assert.equal(mergeText(base, 'one\n2\nthree\nfour\nfive', 'one\ndeux\nthree\nfour\nfive'), null);
  });
  it('returns null when the edits touch (adjacent lines), as diff3 does', () => {
    assert.equal(mergeText(base, 'one\nTWO\nthree\nfour\nfive', 'one\ntwo\nTHREE\nfour\nfive'), null);
  });
  it('returns null for two different insertions at the same place', () => {
    assert.equal(mergeText('a\nb', 'a\nx\nb', 'a\ny\nb'), null);
  });
  it('treats null as empty text', () => {
    assert.equal(mergeText(null, 'added', null), 'added');
  });
  it('one side unchanged takes the other side', () => {
    assert.equal(mergeText(base, base, 'rewritten'), 'rewritten');
  });
});
