/** The status page's HTML: server-rendered, no script, every value escaped (./html.ts). */
import type { ConflictRow } from '../reconciler/store.ts';
import { html, type Html } from './html.ts';
import type { Part, Status } from './status.ts';
import type { TraceResult, Waterfall } from './trace.ts';

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d1d1f;background:#fafafa}
h1{font-size:1.4rem;margin:0 0 .3rem}h2{font-size:1.1rem;margin:1.6rem 0 .5rem}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f3}.ok{color:#137333;font-weight:600}.bad{color:#b3261e;font-weight:600}
.muted{color:#666}.note{background:#fff8e1;border:1px solid #f0d98c;padding:.5rem;margin:.5rem 0}
.flash{background:#e8f5e9;border:1px solid #a5d6a7;padding:.5rem;margin:.5rem 0}
form.inline{display:inline}code{font-size:12px}
.wf td.bar{width:55%;position:relative}.wf .b{position:absolute;top:.35rem;height:.9rem;background:#4a7bd0;border-radius:2px}
.wf .b.err{background:#b3261e}
`;

function layout(title: string, body: Html): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>${title}</title>
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <style>
          ${STYLE}
        </style>
      </head>
      <body>
        ${body}
      </body>
    </html>`.value;
}

const yes = (ok: boolean, good: string, bad: string) =>
  ok ? html`<span class="ok">${good}</span>` : html`<span class="bad">${bad}</span>`;
const num = (n: number | null) => (n === null ? html`<span class="muted">unknown</span>` : html`${n}`);

function partError<T>(p: Part<T>): Html | null {
  return p.ok ? null : html`<p class="bad">${p.error}</p>`;
}

export interface PageAuth {
  /** No token configured: the page is read-only. */
  actionsEnabled: boolean;
  /** The session's CSRF token when logged in. */
  csrf: string | null;
  flash: string | null;
}

function authBar(a: PageAuth): Html {
  if (!a.actionsEnabled)
    return html`<p class="note">
      Read-only: no <code>admin.token</code> is configured, so resolve and retry are off.
    </p>`;
  if (a.csrf === null)
    return html`<form method="post" action="/login" class="note">
      Actions need the admin token:
      <input type="password" name="token" autocomplete="current-password" aria-label="admin token" required />
      <button type="submit">Log in</button>
    </form>`;
  return html`<form method="post" action="/logout" class="inline">
    <input type="hidden" name="csrf" value="${a.csrf}" /> Logged in as admin.
    <button type="submit">Log out</button>
  </form>`;
}

function conflictRow(c: ConflictRow, a: PageAuth): Html {
  const r = c.record;
  const actions =
    a.csrf === null
      ? html`<span class="muted">${a.actionsEnabled ? 'log in to resolve' : 'read-only'}</span>`
      : html`${r.sides.map(
            (s) =>
              html`<form
                method="post"
                action="/conflicts/${encodeURIComponent(c.conflictId)}/resolve"
                class="inline"
              >
                <input type="hidden" name="csrf" value="${a.csrf}" /><input
                  type="hidden"
                  name="take"
                  value="${s.platform}"
                />
                <button type="submit" data-take="${s.platform}">Take ${s.platform}</button>
              </form> `,
          )}
          <form method="post" action="/conflicts/${encodeURIComponent(c.conflictId)}/resolve" class="inline">
            <input type="hidden" name="csrf" value="${a.csrf}" />
            <input name="value" placeholder="value as JSON" aria-label="value as JSON" size="14" />
            <button type="submit">Set</button>
          </form>`;
  return html`<tr data-conflict="${c.conflictId}">
    <td><code>${c.conflictId}</code></td>
    <td>${c.flowId}</td>
    <td><code>${c.linkId}</code></td>
    <td>${c.field}</td>
    <td>${r.policy}</td>
    <td><code>${r.baseJson ?? 'null'}</code></td>
    <td>
      ${r.sides.map((s) => html`<div>${s.platform}: <code>${s.valueJson}</code> <span class="muted">at ${new Date(s.tsMs).toISOString()}</span></div>`)}
    </td>
    <td>${actions}</td>
  </tr>`;
}

export function statusPage(s: Status, a: PageAuth): string {
  const syncs = s.syncs.ok ? s.syncs.value : [];
  const conflicts = s.conflicts.ok ? s.conflicts.value : [];
  const dls = s.deadLetters.ok ? s.deadLetters.value : [];
  const retryForm = (id: string) =>
    a.csrf === null
      ? html`<span class="muted">${a.actionsEnabled ? 'log in to retry' : 'read-only'}</span>`
      : html`<form method="post" action="/dead-letters/${encodeURIComponent(id)}/retry" class="inline">
          <input type="hidden" name="csrf" value="${a.csrf}" /><button type="submit">Retry</button>
        </form>`;
  const body = html`<h1>Lockstep status</h1>
    <p class="muted">Generated ${s.generatedAt}. Reload for fresh numbers. <a href="/api/status">JSON</a></p>
    ${authBar(a)} ${a.flash ? html`<p class="flash" role="status">${a.flash}</p>` : null}
    <h2>Services</h2>
    <table id="services">
      <tr>
        <th>service</th>
        <th>ready</th>
        <th>detail</th>
        <th>url</th>
      </tr>
      ${s.services.map(
        (v) =>
          html`<tr>
            <td>${v.name}</td>
            <td>${yes(v.ready, 'ready', 'not ready')}</td>
            <td>${v.detail ?? ''}</td>
            <td><code>${v.url}</code></td>
          </tr>`,
      )}
    </table>
    <h2>Platforms</h2>
    <table id="platforms">
      <tr>
        <th>platform</th>
        <th>egress</th>
        <th>circuit breaker</th>
        <th>consumer lag</th>
        <th>syncs applied (last ${s.recentWindowMinutes} min)</th>
      </tr>
      ${s.platforms.map(
        (p) =>
          html`<tr data-platform="${p.platform}">
            <td>${p.platform}</td>
            <td>${yes(p.ready, 'ready', 'not ready')}</td>
            <td>
              ${p.breakerOpen === null ? html`<span class="muted">unknown</span>` : yes(!p.breakerOpen, 'closed', 'OPEN (paused)')}
            </td>
            <td>${num(p.lag)}</td>
            <td>${num(p.recentSyncs)}</td>
          </tr>`,
      )}
    </table>
    <h2>Flows</h2>
    <p class="muted">Reconciler consumer lag (all flows): ${num(s.reconcilerLag)}</p>
    <table id="flows">
      <tr>
        <th>flow</th>
        <th>sides</th>
        <th>open conflicts</th>
        <th>syncs applied (last ${s.recentWindowMinutes} min)</th>
      </tr>
      ${s.flows.map(
        (f) =>
          html`<tr data-flow="${f.id}">
            <td>${f.id}</td>
            <td>${f.sides.map((x) => `${x.platform}:${x.workspace}`).join(' ⇄ ')}</td>
            <td>${num(f.openConflicts)}</td>
            <td>${num(f.recentSyncs)}</td>
          </tr>`,
      )}
    </table>
    <h2>Latest syncs</h2>
    ${partError(s.syncs)}
    <table id="syncs">
      <tr>
        <th>decided</th>
        <th>flow</th>
        <th>to</th>
        <th>action</th>
        <th>fields</th>
        <th>status</th>
        <th>target</th>
        <th>trace</th>
      </tr>
      ${syncs.map(
        (y) =>
          html`<tr data-command="${y.commandId}">
            <td>${y.decidedAt}</td>
            <td>${y.flowId}</td>
            <td>${y.platform}</td>
            <td>${y.action} ${y.entityType}</td>
            <td>${y.fields.join(', ')}</td>
            <td>${y.status}</td>
            <td><code>${y.targetId ?? ''}</code></td>
            <td>
              ${y.traceId ? html`<a href="/traces/${y.traceId}">${y.traceId.slice(0, 12)}…</a>` : html`<span class="muted">none</span>`}
            </td>
          </tr>`,
      )}
    </table>
    ${syncs.length === 0 && s.syncs.ok ? html`<p class="muted">No syncs recorded yet.</p>` : null}
    <h2>Open conflicts</h2>
    ${partError(s.conflicts)}
    <table id="conflicts">
      <tr>
        <th>conflict</th>
        <th>flow</th>
        <th>link</th>
        <th>field</th>
        <th>policy</th>
        <th>base</th>
        <th>sides</th>
        <th>resolve</th>
      </tr>
      ${conflicts.map((c) => conflictRow(c, a))}
    </table>
    ${conflicts.length === 0 && s.conflicts.ok ? html`<p class="muted">No open conflicts.</p>` : null}
    <h2>Dead letters</h2>
    ${partError(s.deadLetters)}
    <table id="dead-letters">
      <tr>
        <th>id</th>
        <th>state</th>
        <th>stage</th>
        <th>from</th>
        <th>category</th>
        <th>reason</th>
        <th>attempts</th>
        <th>dead-lettered</th>
        <th>retry</th>
      </tr>
      ${dls.map(
        (d) =>
          html`<tr data-dead-letter="${d.id}">
            <td><code>${d.id}</code></td>
            <td>${d.state}${d.stateBy ? ` by ${d.stateBy}` : ''}</td>
            <td>${d.stage}</td>
            <td>${d.topic}</td>
            <td>${d.category}</td>
            <td>${d.reason}</td>
            <td>${d.attempts}</td>
            <td>${d.deadLetteredAt}</td>
            <td>${d.state === 'open' ? retryForm(d.id) : ''}</td>
          </tr>`,
      )}
    </table>
    ${dls.length === 0 && s.deadLetters.ok ? html`<p class="muted">No dead letters.</p>` : null}`;
  return layout('Lockstep status', body);
}

function waterfallTable(w: Waterfall): Html {
  return html`<p>
      ${w.rows.length} spans over ${w.totalMs.toFixed(1)} ms, services: ${w.services.join(', ')}. Started
      ${new Date(w.startMs).toISOString()}.
    </p>
    <table class="wf" id="waterfall">
      <tr>
        <th>service</th>
        <th>operation</th>
        <th>start</th>
        <th>duration</th>
        <th>timeline</th>
      </tr>
      ${w.rows.map(
        (r) =>
          html`<tr data-span="${r.spanId}">
            <td>${r.service}</td>
            <td style="padding-left:${0.5 + r.depth * 1.2}rem">
              ${r.operation}${r.kind ? html` <span class="muted">(${r.kind})</span>` : null}${r.error ? html` <span class="bad">error</span>` : null}
            </td>
            <td>+${r.offsetMs.toFixed(1)} ms</td>
            <td>${r.durationMs.toFixed(1)} ms</td>
            <td class="bar">
              <div
                class="b${r.error ? ' err' : ''}"
                style="left:${r.leftPct.toFixed(2)}%;width:${r.widthPct.toFixed(2)}%"
              ></div>
            </td>
          </tr>`,
      )}
    </table>`;
}

export function tracePage(traceId: string, result: TraceResult, w: Waterfall | null): string {
  const body = html`<p><a href="/">← status</a></p>
    <h1>Trace <code>${traceId}</code></h1>
    ${result.ok && w ? waterfallTable(w) : html`<p class="bad" id="trace-error">${result.ok ? '' : result.error}</p>`}`;
  return layout(`Trace ${traceId}`, body);
}

export function messagePage(title: string, message: string): string {
  return layout(
    title,
    html`<h1>${title}</h1>
      <p>${message}</p>
      <p><a href="/">← status</a></p>`,
  );
}
