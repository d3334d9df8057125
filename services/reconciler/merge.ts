/**
 * Three-way merges for the `merge` policy: labels as sets, text line by line (diff3).
 * Pure; `null` from mergeText means the edits overlap and a person has to choose.
 */

/** Removals by either side stick, additions by either side stick. Sorted, so the result is stable. */
export function mergeLabels(
  base: readonly string[],
  ours: readonly string[],
  theirs: readonly string[],
): string[] {
  const b = new Set(base);
  const o = new Set(ours);
  const t = new Set(theirs);
  const out = new Set<string>();
  for (const label of [...o, ...t]) {
    const removedByOne = b.has(label) && (!o.has(label) || !t.has(label));
    if (!removedByOne) out.add(label);
  }
  return [...out].sort();
}

interface Hunk {
  /** Replaced range of the base, [start, end). An insertion has start === end. */
  start: number;
  end: number;
  lines: string[];
}

// Above this many line pairs the O(n·m) LCS table costs more than a person resolving it does.
const MAX_LCS_CELLS = 4_000_000;

function hunks(base: string[], side: string[]): Hunk[] | null {
  const n = base.length;
  const m = side.length;
  if (n * m > MAX_LCS_CELLS) return null;
  // lcs[i][j] = LCS length of base[i..] and side[j..]
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = base[i] === side[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: Hunk[] = [];
  let i = 0;
  let j = 0;
  let hs = 0;
  let hj = 0;
  const flush = () => {
    if (i > hs || j > hj) out.push({ start: hs, end: i, lines: side.slice(hj, j) });
  };
  while (i < n && j < m) {
    if (base[i] === side[j]) {
      flush();
      i++;
      j++;
      hs = i;
      hj = j;
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) {
      i++;
    } else {
      j++;
    }
  }
  i = n;
  j = m;
  flush();
  return out;
}

function apply(base: string[], start: number, end: number, hs: Hunk[]): string[] {
  const out: string[] = [];
  let pos = start;
  for (const h of hs) {
    out.push(...base.slice(pos, h.start), ...h.lines);
    pos = h.end;
  }
  out.push(...base.slice(pos, end));
  return out;
}

/**
 * Line-based three-way merge. Edits to different lines of the base combine; edits that touch or
 * overlap (including two insertions at the same place) merge only when both sides made the same edit.
 */
export function mergeText(base: string | null, ours: string | null, theirs: string | null): string | null {
  const b = (base ?? '').split('\n');
  const o = (ours ?? '').split('\n');
  const t = (theirs ?? '').split('\n');
  const ho = hunks(b, o);
  const ht = hunks(b, t);
  if (ho === null || ht === null) return null;
  const all = [...ho.map((h) => ({ h, side: 0 })), ...ht.map((h) => ({ h, side: 1 }))].sort(
    (x, y) => x.h.start - y.h.start || x.h.end - y.h.end,
  );
  const out: string[] = [];
  let pos = 0;
  let k = 0;
  while (k < all.length) {
    const cluster = [all[k]!];
    let start = all[k]!.h.start;
    let end = all[k]!.h.end;
    k++;
    // Touching counts as overlapping, as in diff3 and git.
    while (k < all.length && all[k]!.h.start <= end) {
      end = Math.max(end, all[k]!.h.end);
      start = Math.min(start, all[k]!.h.start);
      cluster.push(all[k]!);
      k++;
    }
    out.push(...b.slice(pos, start));
    const mine = cluster.filter((c) => c.side === 0).map((c) => c.h);
    const yours = cluster.filter((c) => c.side === 1).map((c) => c.h);
    const a = apply(b, start, end, mine);
    if (mine.length > 0 && yours.length > 0) {
      const c = apply(b, start, end, yours);
      if (a.length !== c.length || a.some((line, idx) => line !== c[idx])) return null;
    }
    out.push(...(mine.length > 0 ? a : apply(b, start, end, yours)));
    pos = end;
  }
  out.push(...b.slice(pos));
  return out.join('\n');
}
