/**
 * `lockstep init` driven as a person would: in a real terminal (a tmux pane), typing answers when
 * each prompt appears, against the Linear and Jira emulators (test/emulators — not the real
 * platforms). Then the non-interactive path (`--yes --json`). Each written lockstep.yaml is read
 * back with the real config loader. No Kafka stack is needed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { loadAppConfig } from '../../app/config.ts';
import type { RunningEmulator } from '../../../test/emulators/common/server.ts';
import {
  DEMO_BOT_TOKEN,
  demoSeed as jiraSeed,
  startJiraEmulator,
  type JiraEmulator,
} from '../../../test/emulators/jira/index.ts';
import {
  demoSeed as linearSeed,
  LINEAR_DEMO_TOKENS,
  startLinearEmulator,
} from '../../../test/emulators/linear/index.ts';
import type { JiraConfig } from '../../connectors/jira/config.ts';
import type { LinearConfig } from '../../connectors/linear/config.ts';
import type { InitResult } from './init.ts';

// The loader types `connectors` per platform only loosely (a union of sections); name them here.
const connectors = (c: ReturnType<typeof loadAppConfig>) =>
  c.connectors as { linear?: LinearConfig; jira?: JiraConfig };

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..', '..');
const node = process.execPath;
const main = join(root, 'services', 'cli', 'main.ts');

let linear: Awaited<ReturnType<typeof startLinearEmulator>>;
let jira: RunningEmulator & { jira: JiraEmulator };
let dir: string;
let refusing: { url: string; server: Server };

/** A site that answers every request 401 the way Jira does for bad basic-auth credentials. */
async function refusingServer(): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        errorMessages: ['Client must be authenticated to access this resource.'],
        errors: {},
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
// One tmux server of our own, its socket in our temporary folder, so nothing of anyone else's is
// touched and nothing is left behind.
const tmux = (...args: string[]) => run('tmux', ['-S', join(dir, 'tmux.sock'), ...args]);

before(async () => {
  await run('tmux', ['-V']).catch((err: Error) => {
    throw new Error(`running the init terminal test: tmux is needed (apt-get install tmux): ${err.message}`);
  });
  const seed = linearSeed();
  seed.teams = [...(seed.teams ?? []), { key: 'OPS', name: 'Operations' }];
  linear = await startLinearEmulator({ seed });
  const js = jiraSeed();
  js.projects = [
    ...(js.projects ?? []),
    { key: 'WEB', name: 'Website', id: '10001', lead: '712020:sandbox-alice' },
  ];
  jira = await startJiraEmulator({ seed: js });
  dir = mkdtempSync(join(tmpdir(), 'lockstep-init-'));
  refusing = await refusingServer();
});
after(async () => {
  await tmux('kill-server').catch(() => undefined);
  await new Promise((r) => refusing.server.close(r));
  await linear.close();
  await jira.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The pane's text, wrapped lines joined. */
const screen = async () => (await tmux('capture-pane', '-p', '-J', '-t', 'init', '-S', '-200')).stdout;

/** Waits until `text` is on the screen (the prompt is there), failing with what the screen shows. */
async function waitFor(text: string | RegExp, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await screen();
    if (typeof text === 'string' ? s.includes(text) : text.test(s)) return s;
    if (Date.now() > deadline)
      assert.fail(`the terminal never showed ${String(text)} within ${timeoutMs} ms; it shows:\n${s}`);
    await delay(100); // the poll interval of a condition wait, not a guess at how long init takes
  }
}
const type = async (keys: string) => {
  await tmux('send-keys', '-t', 'init', '-l', keys);
  await tmux('send-keys', '-t', 'init', 'Enter');
};

test('a person answers the prompts in a terminal; the file names their choices and loads', async () => {
  const out = join(dir, 'interactive.yaml');
  // A clean environment: neither credential variable is set, so init must ask for both.
  await tmux(
    'new-session',
    '-d',
    '-s',
    'init',
    '-x',
    '200',
    '-y',
    '60',
    '-e',
    `PATH=${process.env['PATH'] ?? ''}`,
    '-e',
    'LINEAR_API_KEY=',
    '-e',
    'JIRA_API_TOKEN=',
    'sh',
  );
  await type(`${node} ${main} init --linear-api-url ${linear.url}/graphql --out ${out}; echo "INIT-EXIT=$?"`);
  await waitFor('Linear API key (not shown):');
  await type(LINEAR_DEMO_TOKENS.bot);
  const teams = await waitFor('Which Linear team to pair (number or key) [1]:');
  assert.match(teams, /\d\) ENG\s+Engineering/);
  assert.match(teams, /\d\) OPS\s+Operations/);
  assert.ok(!teams.includes(LINEAR_DEMO_TOKENS.bot), 'the typed API key was echoed on the terminal');
  await type('OPS');
  // First a site that refuses the credentials (a server that answers 401 to everything): init
  // must say so and ask again.
  await waitFor('Jira site URL (https://<site>.atlassian.net):');
  await type(refusing.url);
  await waitFor('Jira account email:');
  await type('lockstep-bot@example.com');
  await waitFor('Jira API token (not shown):');
  await type('a-wrong-token');
  await waitFor(/checking the Jira credentials: the platform refused them \(.+\) — try again/);
  await waitFor(/try again\s+Jira site URL \(https:\/\/<site>\.atlassian\.net\):/);
  await type(jira.url);
  await waitFor('Jira account email:');
  await type('lockstep-bot@example.com');
  await waitFor('Jira API token (not shown):');
  await type(DEMO_BOT_TOKEN);
  const projects = await waitFor('Which Jira project to pair (number or key) [1]:');
  assert.match(projects, /1\) ENG\s+Engineering \(sandbox\)/);
  assert.match(projects, /2\) WEB\s+Website/);
  await type('WEB');
  await waitFor('Flow id [ops-web]:');
  await type(''); // the default
  await waitFor('Direction (both, or one-way from Linear to Jira) [both]:');
  await type('');
  await waitFor('Default field policy [last-write-wins]:');
  await type('');
  await waitFor('Labels policy [merge]:');
  await type('');
  await waitFor('Description policy [merge]:');
  await type('manual');
  const done = await waitFor(/INIT-EXIT=\d+/);
  assert.match(done, /INIT-EXIT=0/, done);
  assert.match(done, /wrote .*interactive\.yaml \(flow ops-web: Linear OPS ↔ Jira WEB\); it validates/);
  assert.match(done, /export LINEAR_API_KEY=<the Linear API key>/);
  const generated = /export LINEAR_WEBHOOK_SECRET=([0-9a-f]{48})/.exec(done)?.[1];
  const jiraGenerated = /export JIRA_WEBHOOK_SECRET=([0-9a-f]{48})/.exec(done)?.[1];
  assert.ok(generated && jiraGenerated, 'the generated webhook secrets were not printed');
  assert.match(done, /lockstep webhooks register --platform linear/);
  assert.ok(!/backfill/i.test(done), 'init mentions a backfill, which does not exist');

  const text = readFileSync(out, 'utf8');
  assert.ok(
    !text.includes(LINEAR_DEMO_TOKENS.bot) && !text.includes(DEMO_BOT_TOKEN),
    'a secret is in the file',
  );
  assert.match(text, /^# /m, 'the file has no comments');
  const config = loadAppConfig(out, {
    LINEAR_API_KEY: LINEAR_DEMO_TOKENS.bot,
    LINEAR_WEBHOOK_SECRET: generated,
    JIRA_API_TOKEN: DEMO_BOT_TOKEN,
    JIRA_WEBHOOK_SECRET: jiraGenerated,
  });
  assert.deepEqual(connectors(config).linear?.teams, ['OPS']);
  assert.equal(connectors(config).jira?.host, jira.url);
  assert.deepEqual(connectors(config).jira?.projects, ['WEB']);
  assert.equal(connectors(config).linear?.apiKey.reveal(), LINEAR_DEMO_TOKENS.bot);
  assert.equal(config.flows.length, 1);
  const flow = config.flows[0]!;
  assert.equal(flow.id, 'ops-web');
  assert.deepEqual(
    flow.sides.map((s) => [s.platform, s.workspace]),
    [
      ['linear', 'OPS'],
      ['jira', 'WEB'],
    ],
  );
  assert.equal(flow.direction, 'both');
  assert.equal(flow.fields.default, 'last-write-wins');
  assert.equal(flow.fields.labels, 'merge');
  assert.equal(flow.fields.description, 'manual');
});

test('--yes --json: flags and environment only, no prompt; bad credentials fail with a clear message', async () => {
  const out = join(dir, 'scripted.yaml');
  const env = { ...process.env, CI_LINEAR_KEY: LINEAR_DEMO_TOKENS.bot, CI_JIRA_TOKEN: DEMO_BOT_TOKEN };
  const args = [
    main,
    'init',
    '--yes',
    '--json',
    '--out',
    out,
    '--linear-api-key-env',
    'CI_LINEAR_KEY',
    '--linear-api-url',
    `${linear.url}/graphql`,
    '--linear-team',
    'ENG',
    '--jira-host',
    jira.url,
    '--jira-email',
    'lockstep-bot@example.com',
    '--jira-api-token-env',
    'CI_JIRA_TOKEN',
    '--jira-project',
    'ENG',
  ];
  const { stdout } = await run(node, args, { env, cwd: root });
  const r = JSON.parse(stdout) as InitResult;
  assert.equal(r.file, out);
  assert.equal(r.flowId, 'eng-eng');
  assert.equal(r.linear.team, 'ENG');
  assert.equal(r.jira.project, 'ENG');
  assert.deepEqual(
    r.env.map((e) => e.name),
    ['CI_LINEAR_KEY', 'LINEAR_WEBHOOK_SECRET', 'CI_JIRA_TOKEN', 'JIRA_WEBHOOK_SECRET'],
  );
  const secrets = Object.fromEntries(r.env.filter((e) => e.value).map((e) => [e.name, e.value!]));
  const config = loadAppConfig(out, { ...secrets, CI_LINEAR_KEY: 'x', CI_JIRA_TOKEN: 'y' });
  assert.deepEqual(connectors(config).jira?.projects, ['ENG']);
  assert.equal(connectors(config).jira?.apiToken.reveal(), 'y', 'the token is not read from CI_JIRA_TOKEN');
  assert.equal(config.flows[0]?.fields.labels, 'merge');
  assert.equal(config.flows[0]?.fields.description, 'merge');

  // Credentials the site refuses: no prompt to hang on, one message naming what failed, exit 1.
  const bad = await run(node, [...args, '--jira-host', refusing.url], { env, cwd: root }).then(
    () => assert.fail('init --yes succeeded with refused Jira credentials'),
    (err: { code?: number; stderr?: string }) => err,
  );
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr ?? '',
    /lockstep: checking the Jira credentials: the platform refused them \(.*401/,
  );

  // An unknown team is named, with the teams that exist.
  const noTeam = await run(node, [...args, '--linear-team', 'NOPE'], { env, cwd: root }).then(
    () => assert.fail('init --yes succeeded with an unknown team'),
    (err: { stderr?: string }) => err,
  );
  assert.match(noTeam.stderr ?? '', /choosing Linear team: no Linear team NOPE \(visible: ENG, OPS\)/);
});
