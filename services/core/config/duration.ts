/**
 * Durations as people write them in lockstep.yaml: `6h`, `90m`, `1h30m`, `45s`, `500ms`, `7d` (a
 * number and a unit, repeated, largest first or not). Settings that predate this take plain
 * milliseconds (`…Ms`); a setting named for a period (`reconciler.verifyEvery`) takes these.
 */
import { z } from 'zod';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PART = /(\d+)(ms|s|m|h|d)/g;
const WHOLE = /^(?:\d+(?:ms|s|m|h|d))+$/;

/** Milliseconds of a duration such as `6h` or `1h30m`, or null when `v` is not one. */
export function parseDuration(v: string): number | null {
  const s = v.trim();
  if (!WHOLE.test(s)) return null;
  let ms = 0;
  for (const m of s.matchAll(PART)) ms += Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return Number.isSafeInteger(ms) ? ms : null;
}

/**
 * A duration setting, in milliseconds, at least `minMs`, or the word `off`, which parses to null
 * (the feature is turned off). The pattern is in the schema, so the
 * Helm chart's values schema (generated from it) refuses a typo before anything is deployed.
 */
export function durationOrOffSchema(minMs: number) {
  const forms = 'a duration such as 30s, 15m, 6h, 1h30m or 1d, or off';
  const pattern = /^(?:off|(?:\d+(?:ms|s|m|h|d))+)$/;
  return z
    .string()
    .regex(pattern, { error: (iss) => `expected ${forms}, got ${JSON.stringify(iss.input)}` })
    .transform((v, ctx): number | null => {
      if (v === 'off') return null;
      const ms = parseDuration(v)!;
      if (ms < minMs) {
        ctx.addIssue({ code: 'custom', message: `must be at least ${formatDuration(minMs)}, got ${v}` });
        return z.NEVER;
      }
      return ms;
    });
}

/** 21600000 → `6h`, 5400000 → `1h30m`: the shortest spelling parseDuration reads back. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [
    ['d', UNIT_MS.d],
    ['h', UNIT_MS.h],
    ['m', UNIT_MS.m],
    ['s', UNIT_MS.s],
    ['ms', UNIT_MS.ms],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}
