/** Every request an emulator answered, so a test can say exactly how many API calls a sync cost. */
export interface LedgerEntry {
  seq: number;
  atMs: number;
  method: string;
  /** Path without query string; for GraphQL/RPC-style APIs the platform adds the operation. */
  path: string;
  /** e.g. the GraphQL root field or the Slack method; null when the path says it all. */
  operation: string | null;
  actor: string;
  status: number;
}

export interface LedgerSummary {
  total: number;
  byRoute: Record<string, number>;
  byActor: Record<string, number>;
  byActorRoute: Record<string, Record<string, number>>;
}

export class Ledger {
  private entries: LedgerEntry[] = [];
  private seq = 0;

  record(e: Omit<LedgerEntry, 'seq' | 'atMs'>): void {
    this.entries.push({ ...e, seq: ++this.seq, atMs: Date.now() });
  }

  list(sinceSeq = 0): LedgerEntry[] {
    return this.entries.filter((e) => e.seq > sinceSeq);
  }

  clear(): void {
    this.entries = [];
  }

  summary(sinceSeq = 0): LedgerSummary {
    const s: LedgerSummary = { total: 0, byRoute: {}, byActor: {}, byActorRoute: {} };
    for (const e of this.list(sinceSeq)) {
      const route = routeName(e);
      s.total++;
      s.byRoute[route] = (s.byRoute[route] ?? 0) + 1;
      s.byActor[e.actor] = (s.byActor[e.actor] ?? 0) + 1;
      const perActor = (s.byActorRoute[e.actor] ??= {});
      perActor[route] = (perActor[route] ?? 0) + 1;
    }
    return s;
  }
}

export function routeName(e: Pick<LedgerEntry, 'method' | 'path' | 'operation'>): string {
  return `${e.method} ${e.path}${e.operation ? ` ${e.operation}` : ''}`;
}
