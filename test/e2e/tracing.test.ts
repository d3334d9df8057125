/**
 * One sync is one trace: a Linear create, read back from the test stack's Jaeger, must be a single
 * trace that runs from ingest's webhook request through the reconciler's decision and its outbox
 * relay to egress-jira's HTTP call that creates the Jira issue.
 *
 * Processes report as `lockstep-<service>` (the launcher sets LOCKSTEP_SERVICE_NAME), shared by every
 * world, so this world's spans are told apart by its private topic names.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { commandsTopic } from '../../services/core/kafka/index.ts';
import { testStackEndpoints } from '../stack/env.ts';
import { eventually, startE2E, type E2E } from './harness.ts';
import { jiraIssues, linearIds } from './helpers.ts';

interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  processID: string;
  references: { refType: string; traceID: string; spanID: string }[];
  tags: { key: string; value: unknown }[];
}
interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

const jaeger = testStackEndpoints().jaeger.url.replace(/\/+$/, '');

async function jaegerTraces(query: Record<string, string>): Promise<JaegerTrace[]> {
  const res = await fetch(`${jaeger}/api/traces?${new URLSearchParams(query)}`);
  if (!res.ok) return [];
  return ((await res.json()) as { data: JaegerTrace[] | null }).data ?? [];
}

const tag = (s: JaegerSpan, key: string) => s.tags.find((t) => t.key === key)?.value;
const service = (t: JaegerTrace, s: JaegerSpan) => t.processes[s.processID]?.serviceName;
const parentOf = (s: JaegerSpan) => s.references.find((r) => r.refType === 'CHILD_OF')?.spanID;

describe('one sync is one trace (end to end, read back from Jaeger)', { timeout: 300_000 }, () => {
  let e: E2E;
  before(async () => {
    e = await startE2E();
  });
  after(async () => {
    await e?.stop();
  });

  it('a Linear create is one trace from the ingest webhook to the Jira API call', async () => {
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    const title = `Traced ${e.id}`;
    await bob.createIssue({ teamId: ids.teamId, title });
    const jira = e.jiraAs('carol');
    await eventually('the issue in Jira', async () =>
      (await jiraIssues(jira)).find((i) => i.fields.summary === title),
    );

    const topics = e.config.kafka.topics;
    const jiraCommands = commandsTopic(topics, 'jira');
    const jiraCreate = `${e.jiraEmu.url.replace(/\/+$/, '')}/rest/api/3/issue`;

    // The egress span that applied this world's Jira create, then its whole trace. Spans are exported
    // in batches (~1 s) and indexed asynchronously, and the ingest/reconciler parts of the trace
    // come from other processes: poll until every part is there, or give up and show what was.
    let trace: JaegerTrace | undefined;
    const complete = (t: JaegerTrace) => {
      const names = new Set(t.spans.map((s) => `${service(t, s)} ${s.operationName}`));
      return [
        `lockstep-ingest send ${topics.changes}`,
        `lockstep-reconciler reconcile ${topics.changes}`,
        `lockstep-reconciler send ${jiraCommands}`,
        'lockstep-egress-jira apply jira',
      ].every((n) => names.has(n));
    };
    for (let i = 0; i < 60 && !(trace && complete(trace)); i++) {
      const found = await jaegerTraces({
        service: 'lockstep-egress-jira',
        operation: 'apply jira',
        tags: JSON.stringify({ 'messaging.destination.name': jiraCommands }),
        lookback: '1h',
        limit: '50',
      });
      trace = found.find((t) => t.spans.some((s) => tag(s, 'url.full') === jiraCreate));
      if (!(trace && complete(trace))) await new Promise((r) => setTimeout(r, 1000));
    }
    assert.ok(trace, `no egress-jira trace in Jaeger with the POST to ${jiraCreate}`);
    const t = trace;
    const summary = t.spans.map((s) => `${service(t, s)}: ${s.operationName}`).sort();
    const one = (svc: string, pred: (s: JaegerSpan) => boolean, what: string) => {
      const s = t.spans.find((x) => service(t, x) === svc && pred(x));
      assert.ok(s, `no ${svc} span for ${what} in trace ${t.traceID}: ${JSON.stringify(summary, null, 1)}`);
      assert.equal(s.traceID, t.traceID);
      return s;
    };

    // ingest: the webhook request, and the produce of the change inside it.
    const webhook = one(
      'lockstep-ingest',
      (s) =>
        tag(s, 'span.kind') === 'server' &&
        /\/webhooks\/linear/.test(
          String(tag(s, 'url.path') ?? tag(s, 'http.target') ?? tag(s, 'http.route') ?? ''),
        ),
      'the Linear webhook request',
    );
    const sendChange = one(
      'lockstep-ingest',
      (s) => s.operationName === `send ${topics.changes}` && tag(s, 'span.kind') === 'producer',
      'the produce to the changes topic',
    );
    // reconciler: the decision on the consumed change, and the relay's produce of the command.
    const reconcile = one(
      'lockstep-reconciler',
      (s) => s.operationName === `reconcile ${topics.changes}`,
      'deciding the consumed change',
    );
    const sendCommand = one(
      'lockstep-reconciler',
      (s) => s.operationName === `send ${jiraCommands}` && tag(s, 'span.kind') === 'producer',
      'the produce of the Jira command',
    );
    // egress-jira: applying the consumed command, and the HTTP call that creates the issue.
    const apply = one(
      'lockstep-egress-jira',
      (s) => s.operationName === 'apply jira',
      'applying the command',
    );
    const post = one(
      'lockstep-egress-jira',
      (s) =>
        tag(s, 'span.kind') === 'client' &&
        tag(s, 'http.request.method') === 'POST' &&
        tag(s, 'url.full') === jiraCreate,
      'the POST that creates the Jira issue',
    );

    // And they hang together as one chain, not merely one trace id.
    const byId = new Map(t.spans.map((s) => [s.spanID, s]));
    const ancestors = (s: JaegerSpan) => {
      const out: string[] = [];
      for (let p = parentOf(s); p !== undefined; p = byId.get(p) && parentOf(byId.get(p)!)) out.push(p);
      return out;
    };
    assert.ok(
      ancestors(sendChange).includes(webhook.spanID),
      'the change was produced inside the webhook request',
    );
    assert.equal(parentOf(reconcile), sendChange.spanID, "the decision is a child of the change's produce");
    assert.equal(parentOf(sendCommand), reconcile.spanID, "the command's produce is a child of the decision");
    assert.equal(parentOf(apply), sendCommand.spanID, "the apply is a child of the command's produce");
    assert.ok(ancestors(post).includes(apply.spanID), 'the Jira POST was made inside the apply');
    assert.equal(parentOf(webhook), undefined, 'the webhook request is the root');
  });
});
