import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChangeEvent } from '../../schemas/generated/types.ts';
import { pairLink } from '../reconciler/decide.ts';
import { ctx, event, ISSUE, makeFlow } from '../reconciler/fixtures.test-support.ts';
import { parseMatch, planPairs } from './backfill.ts';

const flow = makeFlow();
const keyed = (e: ChangeEvent, key: string): ChangeEvent => ({
  ...e,
  source: { ...e.source, entityKey: key },
});
const lin = (id: string, title: string, description: string | null = null) =>
  keyed(event('linear', id, 1000, { title, description }, { op: 'r' }), `L-${id}`);
const jira = (id: string, key: string, title: string) =>
  keyed(event('jira', id, 1000, { title, description: null }, { op: 'r' }), key);
// A fake mention rule: "ENG-<n>" names a Jira key.
const mentions = (platform: string, text: string) =>
  platform === 'jira' ? (text.match(/ENG-\d+/g) ?? []) : [];
const ids = (es: ChangeEvent[]) => es.map((e) => `${e.source.platform}:${e.source.entityId}`).sort();

describe('planPairs', () => {
  it('pairs by a key in the description first, then by title; reports ambiguous matches and leaves them', () => {
    const items = new Map([
      [
        'linear',
        [
          lin('a', 'Linked by key, titles differ', 'Mirrors ENG-1'),
          lin('b', 'Same title'),
          lin('c', 'Twice in Jira'),
          lin('d', 'Only in Linear'),
          lin('e', 'Names two issues', 'ENG-7 and ENG-8'),
        ],
      ],
      [
        'jira',
        [
          jira('1', 'ENG-1', 'Something else entirely'),
          jira('2', 'ENG-2', 'Same title'),
          jira('3', 'ENG-3', 'Twice in Jira'),
          jira('4', 'ENG-4', 'Twice in Jira'),
          jira('5', 'ENG-5', 'Only in Jira'),
          jira('7', 'ENG-7', 'seven'),
          jira('8', 'ENG-8', 'eight'),
        ],
      ],
    ]);
    const plan = planPairs(flow, items, parseMatch('link,title'), mentions);
    assert.deepEqual(
      plan.pairs.map((p) => [p.rule, ...ids(p.reads)]),
      [
        ['link', 'jira:1', 'linear:a'],
        ['title', 'jira:2', 'linear:b'],
      ],
    );
    assert.deepEqual(
      plan.ambiguous.map((a) => [a.rule, a.item.entityId, a.candidates.map((c) => c.entityId).sort()]),
      [
        ['link', 'e', ['7', '8']],
        ['title', 'c', ['3', '4']],
      ],
    );
    assert.deepEqual(ids(plan.unmatched), ['jira:5', 'linear:d']);
  });

  it('--match link pairs by links only: a same title is then unmatched', () => {
    const items = new Map([
      ['linear', [lin('b', 'Same title')]],
      ['jira', [jira('2', 'ENG-2', 'Same title')]],
    ]);
    const plan = planPairs(flow, items, parseMatch('link'), mentions);
    assert.equal(plan.pairs.length, 0);
    assert.deepEqual(ids(plan.unmatched), ['jira:2', 'linear:b']);
  });

  it('reads the links a record carries besides its description (a Linear attachment)', () => {
    const items = new Map([
      ['linear', [lin('a', 'One title')]],
      ['jira', [jira('9', 'ENG-9', 'Another title')]],
    ]);
    const urls = (e: ChangeEvent) =>
      e.source.entityId === 'a' ? ['https://x.atlassian.net/browse/ENG-9'] : [];
    const plan = planPairs(flow, items, parseMatch('link'), mentions, urls);
    assert.deepEqual(
      plan.pairs.map((p) => ids(p.reads)),
      [['jira:9', 'linear:a']],
    );
  });

  it('rejects unknown rules', () => {
    assert.throws(() => parseMatch('link,fuzzy'), /unknown rule "fuzzy"/);
    assert.throws(() => parseMatch(''), /needs one or more/);
  });
});

describe('pairLink', () => {
  it('links with no write where the records agree', () => {
    const r = pairLink(
      flow,
      [event('linear', 'a', 1000, ISSUE, { op: 'r' }), event('jira', '1', 2000, ISSUE, { op: 'r' })],
      ctx,
    );
    assert.equal(r.state?.status, 'active');
    assert.deepEqual(r.commands, []);
    assert.deepEqual(r.state?.fields.title?.base, ISSUE.title);
  });

  it('writes only the differing field, to the side the policy says lost (last-write-wins: the newer record wins)', () => {
    const r = pairLink(
      flow,
      [
        event('linear', 'a', 1000, ISSUE, { op: 'r' }),
        event('jira', '1', 2000, { ...ISSUE, priority: 'low' }, { op: 'r' }),
      ],
      ctx,
    );
    assert.equal(r.commands.length, 1);
    const [cmd] = r.commands;
    assert.equal(cmd!.platform, 'linear');
    assert.equal(cmd!.action, 'update');
    assert.deepEqual(cmd!.fields.known, ['priority']);
    assert.equal(cmd!.fields.priority, 'low');
    // The base is what Linear holds now: egress's stale-base check still guards a person's edit.
    assert.equal(cmd!.base?.priority, 'high');
    const again = pairLink(
      flow,
      [
        event('linear', 'a', 1000, ISSUE, { op: 'r' }),
        event('jira', '1', 2000, { ...ISSUE, priority: 'low' }, { op: 'r' }),
      ],
      ctx,
    );
    assert.equal(again.state?.linkId, r.state?.linkId, 'the same records name the same link');
  });

  it('holds a differing field in an open conflict under a manual policy', () => {
    const r = pairLink(
      makeFlow({ fields: { default: 'last-write-wins', priority: 'manual' } }),
      [
        event('linear', 'a', 1000, ISSUE, { op: 'r' }),
        event('jira', '1', 2000, { ...ISSUE, priority: 'low' }, { op: 'r' }),
      ],
      ctx,
    );
    assert.deepEqual(r.commands, []);
    assert.equal(r.conflicts.length, 1);
    assert.equal(r.conflicts[0]!.status, 'open');
    assert.ok(r.state?.fields.priority?.held);
  });
});
