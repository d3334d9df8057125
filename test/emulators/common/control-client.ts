/** Typed client of the emulators' control API, for tests and the sandbox. */
import type { Fault } from './faults.ts';
import type { LedgerEntry, LedgerSummary } from './ledger.ts';
import type { DeliveryRecord } from './webhooks.ts';

export class EmulatorControl {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
  }

  reset(): Promise<unknown> {
    return this.call('POST', 'reset');
  }
  seed(doc: unknown): Promise<unknown> {
    return this.call('POST', 'seed', doc);
  }
  state<T = unknown>(): Promise<T> {
    return this.call('GET', 'state') as Promise<T>;
  }
  fault(f: Fault): Promise<unknown> {
    return this.call('POST', 'faults', f);
  }
  /** Revokes an API token: the emulator answers its requests 401 from now on. */
  async revokeToken(token: string): Promise<boolean> {
    return ((await this.call('POST', 'tokens/revoke', { token })) as { revoked: boolean }).revoked;
  }
  /** Issues a token to an existing user again (a new API key after a revocation). */
  async issueToken(userId: string, token: string): Promise<boolean> {
    return ((await this.call('POST', 'tokens/issue', { userId, token })) as { issued: boolean }).issued;
  }
  clearFaults(): Promise<unknown> {
    return this.call('DELETE', 'faults');
  }
  ledger(since = 0): Promise<{ entries: LedgerEntry[]; summary: LedgerSummary }> {
    return this.call('GET', `ledger?since=${since}`) as Promise<{
      entries: LedgerEntry[];
      summary: LedgerSummary;
    }>;
  }
  clearLedger(): Promise<unknown> {
    return this.call('DELETE', 'ledger');
  }
  async deliveries(): Promise<DeliveryRecord[]> {
    return ((await this.call('GET', 'deliveries')) as { deliveries: DeliveryRecord[] }).deliveries;
  }
  settings(s: { webhookTimeScale?: number }): Promise<unknown> {
    return this.call('POST', 'settings', s);
  }

  /**
   * A route of one emulator's own control API, `/_emulator/<path>` (e.g. `jira/after-apply`): the
   * controls only that platform's emulator has.
   */
  request(method: string, path: string, body?: unknown): Promise<unknown> {
    return this.call(method, path, body);
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${this.baseUrl}/_emulator/${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json: unknown = await res.json();
    if (!res.ok)
      throw new Error(`calling emulator control ${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }
}
