/**
 * The status page (`lockstep admin`) in headless Chromium (Debian's, driven by puppeteer-core):
 * a real pipeline on the shared test stack makes a sync (a Linear create mirrored to Jira) and a
 * manual conflict (both sides edit the due date while egress-jira is down); the page shows the
 * sync, its trace read from Jaeger as a waterfall, and the open conflict; an action without the
 * admin token is refused; logged in with the token, the page resolves the conflict, and the
 * reconciler's store and Linear agree. Then Jira refuses one write with a 400 (a real dead letter from
 * egress-jira); the page lists it, its Retry button puts the command back on Jira's commands topic,
 * and Jira gets the write. With LOCKSTEP_ADMIN_SCREENSHOT=<png> the test also saves a screenshot of
 * the page (how docs/admin-page.png is made).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { parse, stringify } from 'yaml';
import { commandsTopic } from '../../services/core/kafka/index.ts';
import { testStackEndpoints } from '../stack/env.ts';
import { freePort } from '../support/ports.ts';
import {
  JIRA_WEBHOOK_SECRET,
  LINEAR_WEBHOOK_SECRET,
  eventually,
  settled,
  startE2E,
  type E2E,
} from './harness.ts';
import { jiraIssue, linearIssue } from './conflicts-support.ts';
import { botCalls, jiraIssues, lastSeq, linearIds, writes } from './helpers.ts';
import { botId } from './faults-support.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'lockstep.mjs');
const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'e2e-admin-token-0123456789abcdef';

describe('the status page in headless Chromium (end to end)', { timeout: 600_000 }, () => {
  let e: E2E;
  let admin: ChildProcess | undefined;
  let adminLog = '';
  let url = '';
  let browser: Browser | undefined;
  let page: Page;
  const item = { title: '', linearId: '', jiraKey: '', linkId: '', conflictId: '' };

  before(async () => {
    e = await startE2E({ fields: { default: 'last-write-wins', dueDate: 'manual' } });
    // A sync: a Linear create becomes a Jira issue.
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    item.title = `Status page ${e.id}`;
    const created = await bob.createIssue({ teamId: ids.teamId, title: item.title, dueDate: '2030-01-15' });
    const issue = await created.issue;
    assert.ok(issue, 'creating the Linear issue');
    item.linearId = issue.id;
    const jira = e.jiraAs('carol');
    const j = await eventually(
      'the issue in Jira',
      async () => (await jiraIssues(jira)).find((i) => i.fields.summary === item.title),
      60_000,
    );
    item.jiraKey = j.key;
    const link = await e.db.query<{ link_id: string }>(
      `select link_id from reconciler_link_entities where platform = 'linear' and entity_id = $1`,
      [item.linearId],
    );
    item.linkId = link.rows[0]!.link_id;
    await settled(e);

    // A manual conflict: Linear's due date is commanded to Jira while egress-jira is down, then
    // Jira's own edit arrives with the reconciler's write still in flight.
    await e.kill('egress-jira');
    await bob.updateIssue(item.linearId, { dueDate: '2030-02-01' });
    await eventually('the due date command to Jira in the outbox', async () => {
      const r = await e.db.query(
        `select 1 from reconciler_outbox where schema = 'WriteCommand' and payload->>'platform' = 'jira'
            and payload->>'linkId' = $1 and payload->'fields'->>'dueDate' = '2030-02-01'`,
        [item.linkId],
      );
      return (r.rowCount ?? 0) > 0;
    });
    await jira.issues.editIssue({ issueIdOrKey: item.jiraKey, fields: { duedate: '2030-03-01' } });
    item.conflictId = await eventually('an open conflict on the due date', async () => {
      const r = await e.db.query<{ conflict_id: string }>(
        `select conflict_id from reconciler_conflicts where link_id = $1 and field = 'dueDate' and status = 'open'`,
        [item.linkId],
      );
      return r.rows[0]?.conflict_id;
    });
    await e.restart('egress-jira');
    await settled(e);

    // `lockstep admin` on the world's config plus an admin section (token by env reference).
    const stack = testStackEndpoints();
    const port = await freePort();
    const doc = parse(readFileSync(e.pipeline.configFile, 'utf8')) as Record<string, unknown>;
    doc['admin'] = {
      host: '127.0.0.1',
      port,
      token: { env: 'LOCKSTEP_E2E_ADMIN_TOKEN' },
      jaegerQueryUrl: stack.jaeger.url,
    };
    const adminConfig = join(dirname(e.pipeline.configFile), 'admin.yaml');
    writeFileSync(adminConfig, stringify(doc));
    admin = spawn(process.execPath, [BIN, 'admin', '-c', adminConfig], {
      env: { ...process.env, LOCKSTEP_E2E_ADMIN_TOKEN: TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    admin.stdout?.on('data', (d: Buffer) => (adminLog += d.toString()));
    admin.stderr?.on('data', (d: Buffer) => (adminLog += d.toString()));
    url = `http://127.0.0.1:${port}`;
    await eventually(
      `lockstep admin ready on ${url}`,
      async () => {
        if (admin?.exitCode !== null) throw new Error(`lockstep admin exited: ${adminLog}`);
        return (await fetch(`${url}/readyz`)).ok;
      },
      // Loading the CLI takes seconds of CPU; on a loaded 2-core machine, tens of seconds.
      180_000,
    );
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Root on CI: Chromium's sandbox needs an unprivileged user.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    // Each page view reads the services, Postgres and the dead-letter topic: slow on a loaded machine.
    page.setDefaultTimeout(120_000);
    page.setDefaultNavigationTimeout(120_000);
  });

  after(async () => {
    await browser?.close();
    if (admin && admin.exitCode === null) {
      const exited = new Promise((r) => admin!.once('exit', r));
      admin.kill('SIGTERM');
      await exited;
    }
    await e?.stop();
  });

  it('shows the services, the platforms, the flow and the sync made in the test', async () => {
    const res = await page.goto(url, { waitUntil: 'load' });
    assert.equal(res?.status(), 200);
    assert.equal(await page.title(), 'Lockstep status');
    const text = (sel: string) => page.$eval(sel, (el) => el.textContent ?? '');
    for (const s of ['ingest', 'reconciler', 'egress-linear', 'egress-jira'])
      assert.match(await text('#services'), new RegExp(s));
    const platforms = await page.$$eval('#platforms tr[data-platform]', (rows) =>
      rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.innerText.trim())),
    );
    assert.deepEqual(
      platforms.map((p) => [p[0], p[1], p[2]]),
      [
        ['jira', 'ready', 'closed'],
        ['linear', 'ready', 'closed'],
      ],
    );
    // The create on Jira was applied within the window.
    assert.ok(
      Number(platforms.find((p) => p[0] === 'jira')?.[4]) >= 1,
      `recent Jira syncs: ${JSON.stringify(platforms)}`,
    );
    const flow = await page.$$eval('#flows tr[data-flow="eng"] td', (tds) =>
      tds.map((td) => td.innerText.trim()),
    );
    assert.equal(flow[1], 'linear:ENG ⇄ jira:ENG');
    assert.equal(flow[2], '1', 'one open conflict in flow eng');
    assert.ok(Number(flow[3]) >= 1, 'syncs applied in flow eng');

    const create = await page.$$eval('#syncs tr[data-command]', (rows) =>
      rows.map((r) => ({
        cells: [...r.querySelectorAll('td')].map((td) => td.innerText.trim()),
        trace: r.querySelector('a')?.getAttribute('href') ?? null,
      })),
    );
    const jiraCreate = create.find((r) => r.cells[2] === 'jira' && r.cells[3] === 'create issue');
    assert.ok(jiraCreate, `a Jira create among the latest syncs: ${JSON.stringify(create)}`);
    assert.equal(jiraCreate.cells[5], 'applied');
    assert.equal(jiraCreate.cells[6], (await jiraIssue(e.jiraAs('alice'), item.jiraKey)).id);
    assert.match(jiraCreate.trace ?? '', /^\/traces\/[0-9a-f]{32}$/);

    // Its trace, read from Jaeger: spans arrive in batches and are indexed asynchronously, so the
    // page is reloaded until every service of the sync is in the waterfall.
    const rows = await eventually(
      'the sync’s trace waterfall with ingest, reconciler and egress-jira spans',
      async () => {
        await page.goto(`${url}${jiraCreate.trace}`, { waitUntil: 'load' });
        const r = await page.$$eval('#waterfall tr[data-span]', (trs) =>
          trs.map((tr) => {
            const td = [...tr.querySelectorAll('td')].map((x) => x.innerText.trim());
            const bar = tr.querySelector('.b');
            return { service: td[0], operation: td[1], style: bar?.getAttribute('style') ?? '' };
          }),
        );
        const services = new Set(r.map((x) => x.service));
        return ['lockstep-ingest', 'lockstep-reconciler', 'lockstep-egress-jira'].every((s) =>
          services.has(s),
        ) && r.some((x) => x.service === 'lockstep-egress-jira' && x.operation.startsWith('apply jira'))
          ? r
          : undefined;
      },
      60_000,
    );
    assert.ok(
      rows.every((r) => /width:\d+(\.\d+)?%/.test(r.style)),
      'every span has a bar',
    );
  });

  it('refuses an action without the admin token (and from another origin, and without the CSRF token)', async () => {
    const post = (path: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(`${url}${path}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(body),
      });
    const resolve = `/conflicts/${encodeURIComponent(item.conflictId)}/resolve`;
    assert.equal((await post(resolve, { take: 'jira' })).status, 401, 'no token');
    assert.equal(
      (await post(resolve, { take: 'jira' }, { authorization: 'Bearer wrong-token-0123456789' })).status,
      401,
    );
    assert.equal((await post('/login', { token: 'wrong-token-0123456789' })).status, 401);
    const login = await post('/login', { token: TOKEN });
    assert.equal(login.status, 303);
    const cookie = login.headers.get('set-cookie') ?? '';
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const session = cookie.split(';')[0]!;
    assert.equal((await post(resolve, { take: 'jira' }, { cookie: session })).status, 403, 'no CSRF token');
    assert.equal(
      (
        await post(
          resolve,
          { take: 'jira' },
          { authorization: `Bearer ${TOKEN}`, origin: 'http://evil.example' },
        )
      ).status,
      403,
      'another origin',
    );
    const r = await e.db.query<{ status: string }>(
      'select status from reconciler_conflicts where conflict_id = $1',
      [item.conflictId],
    );
    assert.equal(r.rows[0]?.status, 'open', 'the refused actions changed nothing');
  });

  it('logs in with the token and resolves the conflict through the page; no secret is rendered', async () => {
    await page.goto(url, { waitUntil: 'load' });
    const row = `#conflicts tr[data-conflict="${item.conflictId}"]`;
    assert.match(await page.$eval(row, (el) => el.textContent ?? ''), /log in to resolve/);
    assert.match(await page.$eval(row, (el) => el.textContent ?? ''), /"2030-02-01"[\s\S]*"2030-03-01"/);
    await page.type('input[name="token"]', TOKEN);
    await Promise.all([
      page.waitForNavigation({ waitUntil: 'load' }),
      page.click('form[action="/login"] button'),
    ]);
    assert.match(await page.$eval('body', (el) => el.textContent ?? ''), /Logged in as admin/);

    if (process.env['LOCKSTEP_ADMIN_SCREENSHOT'])
      await page.screenshot({
        path: process.env['LOCKSTEP_ADMIN_SCREENSHOT'] as `${string}.png`,
        fullPage: true,
      });

    const html = await page.content();
    for (const secret of [TOKEN, LINEAR_WEBHOOK_SECRET, JIRA_WEBHOOK_SECRET])
      assert.ok(!html.includes(secret), 'no secret in the page');

    await Promise.all([
      page.waitForNavigation({ waitUntil: 'load' }),
      page.click(`${row} button[data-take="jira"]`),
    ]);
    const flash = await page.$eval('.flash', (el) => el.textContent ?? '');
    assert.match(flash, new RegExp(`Resolved ${item.conflictId}: dueDate = "2030-03-01"; writing to linear`));
    assert.equal(await page.$(row), null, 'no longer among the open conflicts');

    const r = await e.db.query<{ status: string; record: { resolutionJson: string; resolvedBy: string } }>(
      'select status, record from reconciler_conflicts where conflict_id = $1',
      [item.conflictId],
    );
    assert.equal(r.rows[0]?.status, 'resolved');
    assert.equal(r.rows[0]?.record.resolutionJson, JSON.stringify('2030-03-01'));
    assert.equal(r.rows[0]?.record.resolvedBy, 'admin-page');
    await eventually(
      'Linear takes Jira’s due date',
      async () => (await linearIssue(e.linearAs('alice'), item.linearId)).dueDate === '2030-03-01',
    );
  });

  it('retries a dead letter from the page: back on its commands topic, and Jira gets the write', async () => {
    // A real dead letter: Jira refuses egress-jira's next issue update with a 400 (validation,
    // not retriable), so the Linear title edit is dead-lettered on its first attempt.
    await settled(e);
    const retriedTitle = `${item.title} (retried from the page)`;
    const jiraTopic = commandsTopic(e.config.kafka.topics, 'jira');
    const jSince = lastSeq(e, 'jira');
    await e.jiraControl.fault({
      kind: 'server_error',
      status: 400,
      count: 1,
      match: { method: 'PUT', pathPrefix: '/rest/api/3/issue/', actor: botId(e, 'jira') },
    });
    await e.linearAs('bob').updateIssue(item.linearId, { title: retriedTitle });

    // Each page view reads the dead-letter topic to its end; the record shows once egress made it.
    const cells = (id: string) =>
      page.$$eval(`#dead-letters tr[data-dead-letter="${id}"] td`, (tds) =>
        tds.map((td) => td.innerText.trim()),
      );
    const id = await eventually(
      'an open egress-jira dead letter on the page',
      async () => {
        await page.goto(url, { waitUntil: 'load' });
        const rows = await page.$$eval('#dead-letters tr[data-dead-letter]', (trs) =>
          trs.map((tr) => ({
            id: tr.getAttribute('data-dead-letter') ?? '',
            cells: [...tr.querySelectorAll('td')].map((td) => td.innerText.trim()),
          })),
        );
        return rows.find((r) => r.cells[1] === 'open' && r.cells[2] === 'egress-jira')?.id;
      },
      120_000,
    );
    const before = await cells(id);
    assert.equal(before[3], jiraTopic, 'it came from Jira’s commands topic');
    assert.equal(before[4], 'validation');
    assert.match(before[5] ?? '', /applying update issue to jira/);
    await settled(e);
    assert.equal(
      (await jiraIssue(e.jiraAs('carol'), item.jiraKey)).summary,
      item.title,
      'Jira kept its title: the write was refused',
    );
    assert.deepEqual(
      writes(botCalls(e, 'jira', jSince), 'jira').map((c) => c.status),
      [400],
      'one refused write to Jira, not retried by egress',
    );

    // The page's Retry button (the session from the previous test is still logged in).
    const retrySince = lastSeq(e, 'jira');
    await Promise.all([
      page.waitForNavigation({ waitUntil: 'load' }),
      page.click(`#dead-letters tr[data-dead-letter="${id}"] form[action$="/retry"] button`),
    ]);
    assert.equal(await page.$eval('.flash', (el) => el.textContent ?? ''), `Retried ${id} to ${jiraTopic}.`);
    const after = await cells(id);
    assert.equal(after[1], 'retried by admin-page');
    assert.equal(after[8], '', 'no retry button for a retried dead letter');

    const action = await e.db.query<{ action: string; actor: string; forced: boolean; target_topic: string }>(
      `select action, actor, forced, target_topic from dlq_actions
        where dlq_topic = $1 and dlq_partition = $2 and dlq_offset = $3`,
      [e.config.kafka.topics.dlq, Number(id.split('-')[0]), id.split('-')[1]],
    );
    assert.deepEqual(action.rows, [
      { action: 'retried', actor: 'admin-page', forced: false, target_topic: jiraTopic },
    ]);
    await eventually(
      'Jira takes the retried title',
      async () => (await jiraIssue(e.jiraAs('carol'), item.jiraKey)).summary === retriedTitle,
      60_000,
    );
    await settled(e);
    assert.deepEqual(
      writes(botCalls(e, 'jira', retrySince), 'jira')
        .filter((c) => c.status >= 200 && c.status < 300)
        .map((c) => c.method),
      ['PUT'],
      'the retried command made exactly one write',
    );

    // A second retry of the same dead letter is refused (the CLI's rule, `--force` aside).
    const again = await fetch(`${url}/dead-letters/${encodeURIComponent(id)}/retry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(again.status, 409);
    assert.match(((await again.json()) as { message: string }).message, /already retried .* by admin-page/);
  });
});
