/**
 * Progress of a long command on stderr (stdout stays its output). On a terminal, one line redrawn
 * in place: the phase, a bar and an ETA when the phase's total is known, the counts and the rate.
 * Anywhere else (a pipe, a log file, `--json`), a JSON line at most once per interval, so a
 * machine or a log collector can follow it.
 */

export interface ProgressState {
  /** What the command is doing now ("scan", "pair", …). */
  phase: string;
  /** Running counts shown after the bar ("scanned", "paired", …), in this order. */
  counts: Record<string, number>;
  /** Units of the phase done so far, and its total when it is known: a bar and an ETA. */
  done: number;
  total?: number;
}

export interface ProgressSnapshot {
  progress: ProgressState;
  /** Units per second in this phase. */
  rate: number;
  elapsedS: number;
  /** Seconds to the end of the phase at its rate; null while unknown (no total, or no rate yet). */
  etaS: number | null;
}

export function snapshot(s: ProgressState, elapsedMs: number, phaseElapsedMs: number): ProgressSnapshot {
  const rate = phaseElapsedMs > 0 ? s.done / (phaseElapsedMs / 1000) : 0;
  const etaS = s.total !== undefined && rate > 0 ? Math.max(0, (s.total - s.done) / rate) : null;
  return {
    progress: { ...s, counts: { ...s.counts } },
    rate: round1(rate),
    elapsedS: round1(elapsedMs / 1000),
    etaS: etaS === null ? null : Math.ceil(etaS),
  };
}

/** The terminal line: `backfill pair [######······] 120/200 60% · 300 scanned, 120 paired · 12.0/s · ETA 7 s`. */
export function progressLine(label: string, snap: ProgressSnapshot, barWidth = 24): string {
  const { progress: s } = snap;
  const parts = [`${label} ${s.phase}`];
  if (s.total !== undefined && s.total > 0) {
    const frac = Math.min(1, s.done / s.total);
    const full = Math.round(frac * barWidth);
    parts[0] += ` [${'#'.repeat(full)}${'·'.repeat(barWidth - full)}] ${s.done}/${s.total} ${Math.floor(frac * 100)}%`;
  }
  const counts = Object.entries(s.counts)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  if (counts !== '') parts.push(counts);
  parts.push(`${snap.rate.toFixed(1)}/s`);
  if (snap.etaS !== null) parts.push(`ETA ${formatSeconds(snap.etaS)}`);
  return parts.join(' · ');
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** What progress needs of stderr. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): unknown;
}

export interface ProgressOptions {
  /** JSON lines even on a terminal. */
  json: boolean;
  stream?: ProgressStream;
  intervalMs?: number;
  now?: () => number;
}

export interface Progress {
  /** Shows the state if the interval has passed (or `force`); a new phase always shows. */
  update(s: ProgressState, force?: boolean): void;
  /** The last state once more, and the terminal line ended. */
  finish(): void;
}

export function createProgress(label: string, opts: ProgressOptions): Progress {
  const stream: ProgressStream = opts.stream ?? process.stderr;
  const now = opts.now ?? Date.now;
  const tty = !opts.json && stream.isTTY === true;
  const interval = opts.intervalMs ?? (tty ? 200 : 1000);
  const start = now();
  let phase = '';
  let phaseStart = start;
  let last = -Infinity;
  let state: ProgressState | null = null;
  const show = () => {
    if (!state) return;
    const t = now();
    last = t;
    const snap = snapshot(state, t - start, t - phaseStart);
    if (tty)
      stream.write(
        `\r${progressLine(label, snap).slice(0, Math.max(20, (stream.columns || 100) - 1))}\x1b[K`,
      );
    else stream.write(`${JSON.stringify(snap)}\n`);
  };
  return {
    update(s, force = false) {
      if (s.phase !== phase) {
        if (tty && state) show(); // the previous phase's last line stays
        if (tty && state) stream.write('\n');
        phase = s.phase;
        phaseStart = now();
        force = true;
      }
      state = s;
      if (force || now() - last >= interval) show();
    },
    finish() {
      show();
      if (tty && state) stream.write('\n');
    },
  };
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
