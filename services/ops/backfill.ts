/**
 * `lockstep backfill`: which records of a flow's sides already correspond. Pure: the CLI
 * (services/cli/commands/backfill.ts) reads the records through the connectors' pollers and hands
 * them here as read events, with each platform's `mentions` (the keys of its records a text
 * names); this module pairs them. No platform is named here.
 *
 * Rules, in the order given by `--match` (default `link,title`):
 *  - `link`: a record's description or one of its links (a Linear attachment) names a record of
 *    another side by that side's connector (a Jira key or URL another tool or a person left);
 *  - `title`: the same title (exact, after trimming) on every side, inside the flow's scope.
 * A record with two candidates on a side by the same rule, or a candidate another record also
 * claims, is ambiguous: reported and left alone (neither paired nor created). Records of a side
 * with a link already are not touched. Whatever is left is unmatched: created on the other sides.
 */
import type { ChangeEvent } from '../../schemas/generated/types.ts';
import type { Flow } from '../reconciler/flow.ts';

export type MatchRule = 'link' | 'title';
export const MATCH_RULES: readonly MatchRule[] = ['link', 'title'];

export function parseMatch(v: string): MatchRule[] {
  const rules = v
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '');
  if (rules.length === 0)
    throw new Error(`--match needs one or more of ${MATCH_RULES.join(', ')}, got ${JSON.stringify(v)}`);
  for (const r of rules)
    if (!MATCH_RULES.includes(r as MatchRule))
      throw new Error(`--match: unknown rule ${JSON.stringify(r)} (rules: ${MATCH_RULES.join(', ')})`);
  return [...new Set(rules)] as MatchRule[];
}

export interface ItemRef {
  platform: string;
  entityId: string;
  entityKey: string | null;
  title: string | null;
}

export interface Pair {
  rule: MatchRule;
  /** One read per flow side, in the flow's side order. */
  reads: ChangeEvent[];
}

export interface Ambiguous {
  rule: MatchRule;
  item: ItemRef;
  candidates: ItemRef[];
}

export interface PairPlan {
  pairs: Pair[];
  ambiguous: Ambiguous[];
  /** Records with no counterpart: the live pipeline creates them on the other sides. */
  unmatched: ChangeEvent[];
  /** Records of a side that have a link in this flow already. */
  linked: number;
}

export const refOf = (e: ChangeEvent): ItemRef => ({
  platform: e.source.platform,
  entityId: e.source.entityId,
  entityKey: e.source.entityKey,
  title: e.after?.title ?? null,
});

const normTitle = (t: string | null | undefined) => (t ?? '').trim();

/**
 * Pairs the records of `items` (per platform, the flow side's records not yet linked). `mentions`
 * is each platform's connector's: the keys of its records a text names.
 */
export function planPairs(
  flow: Flow,
  items: ReadonlyMap<string, readonly ChangeEvent[]>,
  rules: readonly MatchRule[],
  mentions: (platform: string, text: string) => string[],
  /** The links a record carries besides its description (its connector's readLinks). */
  links: (e: ChangeEvent) => readonly string[] = () => [],
): PairPlan {
  const platforms = flow.sides.map((s) => s.platform);
  const taken = new Set<string>();
  const blocked = new Set<string>();
  const id = (e: ChangeEvent) => `${e.source.platform}\u0000${e.source.entityId}`;
  const pairs: Pair[] = [];
  const ambiguous: Ambiguous[] = [];
  const free = (p: string) => (items.get(p) ?? []).filter((e) => !taken.has(id(e)) && !blocked.has(id(e)));

  for (const rule of rules) {
    // Candidates, per record of any side, on every other side.
    const proposals: { reads: Map<string, ChangeEvent> }[] = [];
    if (rule === 'link') {
      for (const from of platforms) {
        for (const e of free(from)) {
          if (blocked.has(id(e))) continue;
          const text = [e.after?.description ?? '', ...links(e)].join('\n');
          if (text.trim() === '') continue;
          for (const to of platforms) {
            if (to === from) continue;
            const keys = new Set(mentions(to, text));
            if (keys.size === 0) continue;
            const cands = free(to).filter((c) => c.source.entityKey !== null && keys.has(c.source.entityKey));
            if (cands.length > 1) {
              ambiguous.push({ rule, item: refOf(e), candidates: cands.map(refOf) });
              for (const x of [e, ...cands]) blocked.add(id(x));
              continue;
            }
            if (cands.length === 1)
              proposals.push({
                reads: new Map([
                  [from, e],
                  [to, cands[0]!],
                ]),
              });
          }
        }
      }
    } else {
      const anchor = platforms[0]!;
      for (const e of free(anchor)) {
        if (blocked.has(id(e))) continue;
        const title = normTitle(e.after?.title);
        if (title === '') continue;
        const reads = new Map([[anchor, e]]);
        let bad = false;
        for (const to of platforms.slice(1)) {
          const cands = free(to).filter((c) => normTitle(c.after?.title) === title);
          const mine = free(anchor).filter((c) => normTitle(c.after?.title) === title);
          if (cands.length > 1 || (cands.length === 1 && mine.length > 1)) {
            const others = [...mine.filter((m) => m !== e), ...cands];
            if (!blocked.has(id(e))) ambiguous.push({ rule, item: refOf(e), candidates: others.map(refOf) });
            for (const x of [e, ...others]) blocked.add(id(x));
            bad = true;
            break;
          }
          if (cands.length === 1) reads.set(to, cands[0]!);
        }
        if (bad) continue;
        if (reads.size > 1) proposals.push({ reads });
      }
    }
    // A record two proposals claim is ambiguous; the rest become pairs once every side has a record.
    // The same records named from both sides are one proposal.
    const uniq = new Map<string, Map<string, ChangeEvent>>();
    for (const p of proposals) uniq.set([...p.reads.values()].map(id).sort().join('|'), p.reads);
    const claims = new Map<string, ChangeEvent[]>();
    for (const reads of uniq.values())
      for (const e of reads.values())
        claims.set(id(e), [...(claims.get(id(e)) ?? []), ...[...reads.values()].filter((x) => x !== e)]);
    for (const reads of uniq.values()) {
      const es = [...reads.values()];
      const contested = es.filter((e) => claims.get(id(e))!.length > 1);
      if (contested.length > 0) {
        for (const c of contested) {
          if (blocked.has(id(c))) continue;
          ambiguous.push({ rule, item: refOf(c), candidates: claims.get(id(c))!.map(refOf) });
          blocked.add(id(c));
          for (const x of claims.get(id(c))!) blocked.add(id(x));
        }
        continue;
      }
      if (es.some((e) => taken.has(id(e)) || blocked.has(id(e)))) continue;
      if (!platforms.every((pl) => reads.has(pl))) continue;
      for (const e of es) taken.add(id(e));
      pairs.push({ rule, reads: platforms.map((pl) => reads.get(pl)!) });
    }
  }
  const unmatched = platforms.flatMap((p) => free(p));
  return { pairs, ambiguous, unmatched, linked: 0 };
}
