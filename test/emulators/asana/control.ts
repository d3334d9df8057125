/** Client of the Asana emulator's own controls (`/_emulator/asana/…`), beside the shared EmulatorControl. */
export class AsanaControl {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
  }

  /** Sends Asana's heartbeat (`{"events":[]}`, signed) to every active webhook, or to one. */
  heartbeat(webhook?: string): Promise<{ ok: boolean; webhooks: string[] }> {
    return this.call('heartbeat', webhook === undefined ? {} : { webhook }) as Promise<{
      ok: boolean;
      webhooks: string[];
    }>;
  }

  /** Expires one Events API sync token, or all: the next `GET /events` with it answers 412. */
  expireSyncTokens(token?: string): Promise<{ ok: boolean; expired: number }> {
    return this.call('expire-sync-tokens', token === undefined ? {} : { token }) as Promise<{
      ok: boolean;
      expired: number;
    }>;
  }

  private async call(what: string, body: unknown): Promise<unknown> {
    const res = await fetch(`${this.baseUrl}/_emulator/asana/${what}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json: unknown = await res.json();
    if (!res.ok)
      throw new Error(`calling asana emulator control ${what}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }
}
