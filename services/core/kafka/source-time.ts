/**
 * The change's source time travels with the commands it leads to, as a Kafka header, so egress can
 * measure end-to-end latency (platform change → write applied on the other side) without a schema
 * change: the reconciler stores it with the outbox row's headers, the relay sends it, egress reads it.
 */
export const SOURCE_TS_HEADER = 'lockstep-source-ts-ms';
export const SOURCE_PLATFORM_HEADER = 'lockstep-source-platform';

/** The headers for a change made on `platform` at `tsMs`. */
export function sourceTimeHeader(tsMs: number, platform: string): Record<string, string> {
  return { [SOURCE_TS_HEADER]: String(Math.trunc(tsMs)), [SOURCE_PLATFORM_HEADER]: platform };
}

/** Only the source headers of `headers` (none when absent), for a record being sent on. */
export function pickSourceTime(
  headers: Readonly<Record<string, string>> | null | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of [SOURCE_TS_HEADER, SOURCE_PLATFORM_HEADER]) {
    const v = headers?.[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** The source time in `headers`, or null when absent or not a positive number. */
export function sourceTimeOf(headers: Readonly<Record<string, string>> | null | undefined): number | null {
  const n = Number(headers?.[SOURCE_TS_HEADER]);
  return Number.isFinite(n) && n > 0 ? n : null;
}
