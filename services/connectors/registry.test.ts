import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import {
  DEMO_TOKENS as ASANA_DEMO_TOKENS,
  demoSeed as asanaDemoSeed,
} from '../../test/emulators/asana/index.ts';
import { DEMO_BOT_TOKEN as JIRA_DEMO_BOT_TOKEN } from '../../test/emulators/jira/index.ts';
import { DEFAULT_SANDBOX_PORTS } from '../../test/emulators/sandbox.ts';
import {
  DEMO_TOKENS as SLACK_DEMO_TOKENS,
  demoSeed as slackDemoSeed,
} from '../../test/emulators/slack/index.ts';
import { appConfigSchema, egressPort, rateLimitFor } from '../app/config.ts';
import { DEMO_STATUS_MAP, SANDBOX_CREDENTIALS, sandboxConfig } from '../app/sandbox-config.ts';
import { lockstepTopicSpecs } from '../app/topics.ts';
import { COMMAND_PLATFORMS, CONNECTORS, KNOWN_PLATFORMS, PLATFORMS, SECRET_HEADERS } from './registry.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** Where shared code lives: everything a new platform must NOT have to edit. */
const SHARED_DIRS = ['services', 'deploy', 'bin', 'scripts'];
const CODE = /\.(ts|mts|cts|js|mjs|cjs)$/;

/**
 * Files allowed to name a platform, each with why. Keep it short: every entry is a place a new
 * platform still has to be edited.
 */
const ALLOWED: Record<string, string> = {
  // `lockstep init` is a guided setup written for two platforms' accounts (their credential
  // prompts, team/project listing and the YAML it writes). Moving each platform's part into its
  // connector (a `setup` step per connector) is not done yet: until then a new platform is not
  // offered by `init` and is configured by hand (README "Configuration").
  'services/cli/commands/init.ts': 'guided setup written for two platforms',
};

function sharedFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    const rel = relative(ROOT, path);
    if (e.isDirectory()) {
      // connectors/ is where platforms live; node_modules and generated charts are not ours.
      if (rel === join('services', 'connectors') || e.name === 'node_modules') continue;
      out.push(...sharedFiles(path));
    } else if (
      CODE.test(e.name) &&
      // Tests and their fixtures need concrete platforms as data; they are not what adding a platform edits.
      !/\.test\.[cm]?[jt]s$/.test(e.name) &&
      !/\.test-support\.[cm]?[jt]s$/.test(e.name)
    ) {
      out.push(rel);
    }
  }
  return out;
}

/** Every identifier and string/template/regex literal (comments are not code) naming a platform. */
function platformNames(rel: string, names: readonly string[]): string[] {
  return namesIn(rel, readFileSync(join(ROOT, rel), 'utf8'), names);
}

function namesIn(rel: string, text: string, names: readonly string[]): string[] {
  const kind = /\.[cm]?js$/.test(rel) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const source = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true, kind);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      ts.isIdentifier(node) ||
      ts.isPrivateIdentifier(node) ||
      ts.isStringLiteral(node) ||
      ts.isNoSubstitutionTemplateLiteral(node) ||
      ts.isTemplateHead(node) ||
      ts.isTemplateMiddle(node) ||
      ts.isTemplateTail(node) ||
      ts.isRegularExpressionLiteral(node)
    ) {
      const t = node.getText(source).toLowerCase();
      const hit = names.find((n) => t.includes(n));
      if (hit) {
        const { line, character } = source.getLineAndCharacterOfPosition(node.getStart(source));
        found.push(`${rel}:${line + 1}:${character + 1} names ${hit}: ${node.getText(source).slice(0, 80)}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test('no shared file names a platform (code outside connectors/ and test/; comments may)', () => {
  const names = KNOWN_PLATFORMS.map((f) => f.platform.toLowerCase());
  const files = SHARED_DIRS.flatMap((d) => sharedFiles(join(ROOT, d)));
  assert.ok(files.length > 50, `expected the shared code, found ${files.length} files`);
  const offending = files.filter((f) => !(f in ALLOWED)).flatMap((f) => platformNames(f, names));
  assert.deepEqual(
    offending,
    [],
    `shared code names a platform; move the fact into services/connectors/<platform>/ and read it through the registry:\n${offending.join('\n')}`,
  );
  // An allowlisted file that no longer names a platform must leave the list.
  for (const f of Object.keys(ALLOWED))
    assert.ok(platformNames(f, names).length > 0, `${f} no longer names a platform: remove it from ALLOWED`);
});

test('the guard sees names in identifiers and literals, not in comments', () => {
  // The guard's own parse, on code written for the purpose.
  const probe = (code: string): boolean => namesIn('probe.ts', code, ['acme']).length > 0;
  assert.equal(probe('// Acme does this\nconst x = 1;'), false);
  assert.equal(probe('const acmePort = 1;'), true);
  assert.equal(probe("const p = 'acme';"), true);
  assert.equal(probe('const p = `${x}/webhooks/acme`;'), true);
  assert.equal(probe('/* the acme way */ const p = `${x}/webhooks/${y}`;'), false);
  assert.deepEqual(namesIn('probe.ts', 'const a = 1;\nconst b = { ACME_TOKEN: 2 };', ['acme']), [
    'probe.ts:2:13 names acme: ACME_TOKEN',
  ]);
});

test('registry: connectors first, in port order, each key its platform', () => {
  assert.deepEqual(
    KNOWN_PLATFORMS.map((f) => f.platform),
    ['linear', 'jira', 'asana', 'slack'],
  );
  assert.deepEqual(PLATFORMS, ['linear', 'jira', 'asana', 'slack']);
  for (const [key, c] of Object.entries(CONNECTORS)) assert.equal(c.platform, key);
  assert.deepEqual(COMMAND_PLATFORMS, ['linear', 'jira', 'asana', 'slack']);
});

test('derived from the registry: ports, budgets, topics and redacted headers are what they were', () => {
  const config = appConfigSchema.parse({});
  assert.deepEqual(
    KNOWN_PLATFORMS.map((f) => egressPort(config, f.platform)),
    [7072, 7073, 7074, 7075],
  );
  assert.deepEqual(rateLimitFor(config, 'linear'), { limit: 2500, perMs: 3_600_000 });
  assert.deepEqual(rateLimitFor(config, 'jira'), { limit: 50, perMs: 1000 });
  assert.deepEqual(rateLimitFor(config, 'asana'), { limit: 1500, perMs: 60_000 });
  assert.deepEqual(rateLimitFor(config, 'slack'), { limit: 1, perMs: 1000 });
  assert.deepEqual(rateLimitFor(config, 'nope'), { limit: 10, perMs: 1000 });
  assert.deepEqual(
    lockstepTopicSpecs(config.kafka)
      .map((t) => t.name)
      .filter((n) => n.includes('.commands.')),
    ['linear', 'jira', 'asana', 'slack'].map((p) => `lockstep.commands.${p}.v1`),
  );
  for (const h of ['x-hub-signature', 'x-slack-signature', 'linear-signature'])
    assert.ok(SECRET_HEADERS.includes(h), h);
});

/** The demo flow's Asana side is the emulator's demo project. */
const ASANA_DEMO_PROJECT = asanaDemoSeed().projects[0]?.gid;

test('sandbox: the emulator ports and the generated config are what they were', () => {
  assert.deepEqual(
    Object.fromEntries(KNOWN_PLATFORMS.map((f) => [f.platform, f.sandbox.port])),
    DEFAULT_SANDBOX_PORTS,
  );
  assert.deepEqual(DEMO_STATUS_MAP, [
    { name: 'Backlog', category: 'backlog' },
    { name: 'Todo', category: 'todo', jira: 'To Do', asana: 'To do' },
    { name: 'In Progress', category: 'in_progress', asana: 'In progress' },
    { name: 'Done', category: 'done' },
    { name: 'Canceled', category: 'canceled', jira: 'Canceled' },
  ]);
  assert.deepEqual(SANDBOX_CREDENTIALS, {
    LOCKSTEP_SANDBOX_LINEAR_API_KEY: 'lin_api_emulator_lockstep_bot',
    LOCKSTEP_SANDBOX_LINEAR_WEBHOOK_SECRET: 'sandbox-linear-webhook-secret',
    LOCKSTEP_SANDBOX_JIRA_API_TOKEN: 'sandbox-jira-token-lockstep-bot',
    LOCKSTEP_SANDBOX_JIRA_WEBHOOK_SECRET: 'sandbox-jira-webhook-secret',
    LOCKSTEP_SANDBOX_ASANA_ACCESS_TOKEN: 'asana-sandbox-bot-token',
    LOCKSTEP_SANDBOX_SLACK_BOT_TOKEN: 'xoxb-sandbox-lockstep-bot',
    LOCKSTEP_SANDBOX_SLACK_USER_TOKEN: 'xoxp-sandbox-alice',
    LOCKSTEP_SANDBOX_SLACK_SIGNING_SECRET: 'sandbox-slack-signing-secret',
  });
  assert.equal(SANDBOX_CREDENTIALS['LOCKSTEP_SANDBOX_SLACK_BOT_TOKEN'], SLACK_DEMO_TOKENS.bot);
  assert.equal(SANDBOX_CREDENTIALS['LOCKSTEP_SANDBOX_SLACK_USER_TOKEN'], SLACK_DEMO_TOKENS.alice);
  assert.equal(
    SANDBOX_CREDENTIALS['LOCKSTEP_SANDBOX_SLACK_SIGNING_SECRET'],
    slackDemoSeed().app?.signingSecret,
  );
  // The facts copy the emulators' demo tokens (the CLI must not load test code): they must agree.
  assert.equal(SANDBOX_CREDENTIALS['LOCKSTEP_SANDBOX_ASANA_ACCESS_TOKEN'], ASANA_DEMO_TOKENS.bot);
  assert.equal(SANDBOX_CREDENTIALS['LOCKSTEP_SANDBOX_JIRA_API_TOKEN'], JIRA_DEMO_BOT_TOKEN);
  const stack = {
    kafka: { bootstrap: 'k:1' },
    registry: { url: 'http://r' },
    postgres: { url: 'postgres://p/db' },
    jaeger: { otlpHttp: 'http://j/' },
  } as Parameters<typeof sandboxConfig>[0];
  const doc = sandboxConfig(stack, {
    linear: { apiUrl: 'http://l/graphql' },
    jira: { baseUrl: 'http://j' },
    asana: { baseUrl: 'http://a' },
    slack: { apiUrl: 'http://s' },
  });
  assert.deepEqual(doc['connectors'], {
    linear: {
      apiKey: { env: 'LOCKSTEP_SANDBOX_LINEAR_API_KEY' },
      webhookSecret: { env: 'LOCKSTEP_SANDBOX_LINEAR_WEBHOOK_SECRET' },
      apiUrl: 'http://l/graphql',
      teams: ['ENG'],
    },
    jira: {
      host: 'http://j',
      email: 'lockstep-bot@example.com',
      apiToken: { env: 'LOCKSTEP_SANDBOX_JIRA_API_TOKEN' },
      webhookSecret: { env: 'LOCKSTEP_SANDBOX_JIRA_WEBHOOK_SECRET' },
      projects: ['ENG'],
    },
    asana: {
      accessToken: { env: 'LOCKSTEP_SANDBOX_ASANA_ACCESS_TOKEN' },
      baseUrl: 'http://a',
      projects: ['1100000000000100'],
    },
    slack: {
      botToken: { env: 'LOCKSTEP_SANDBOX_SLACK_BOT_TOKEN' },
      userToken: { env: 'LOCKSTEP_SANDBOX_SLACK_USER_TOKEN' },
      signingSecret: { env: 'LOCKSTEP_SANDBOX_SLACK_SIGNING_SECRET' },
      apiUrl: 'http://s',
      channels: ['C0ENGSYNC1'],
      botUserId: 'U0LOCKBOT1',
    },
  });
  assert.deepEqual((doc['flows'] as { sides: unknown }[])[0]?.sides, [
    { platform: 'linear', workspace: 'ENG' },
    { platform: 'jira', workspace: 'ENG' },
    { platform: 'asana', workspace: ASANA_DEMO_PROJECT },
    { platform: 'slack', workspace: 'C0ENGSYNC1', entityType: 'message' },
  ]);
  // The card channel is the emulator's #eng-sync.
  assert.equal(slackDemoSeed().channels?.find((c) => c.id === 'C0ENGSYNC1')?.name, 'eng-sync');
});

test("capabilities: every field a connector's normalize reports of its official fixtures is one it says it can hold", () => {
  const sections = {
    linear: { apiKey: 'k', webhookSecret: 's' },
    jira: {
      host: 'https://acme.atlassian.net',
      email: 'bot@example.com',
      apiToken: 't',
      webhookSecret: 's',
      projects: ['PROJ'],
    },
    asana: { accessToken: 't', projects: ['1100000000000100'] },
    slack: { botToken: 't', userToken: 't', signingSecret: 's', channels: ['C0ENGSYNC1'] },
  };
  let checked = 0;
  for (const p of PLATFORMS) {
    const connector = CONNECTORS[p];
    const bound = connector.bind(connector.configSchema.parse(sections[p]) as never);
    const dir = join(import.meta.dirname, p, 'fixtures');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      const payload: unknown = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      for (const e of bound.normalize(payload, {
        via: 'webhook',
        deliveryId: null,
        nowMs: 0,
        botUserId: null,
      })) {
        const holds: readonly string[] = connector.capabilities[e.source.entityType] ?? [];
        for (const state of [e.after, e.before])
          for (const field of state?.known ?? []) {
            assert.ok(
              holds.includes(field),
              `${p}/${file}: ${e.source.entityType}.${field} is not in its capabilities`,
            );
            checked++;
          }
      }
    }
  }
  assert.ok(checked > 20, `expected the fixtures to report fields, checked ${checked}`);
});

test("the Helm chart's egress port order (a template cannot read the registry) is the registry's", () => {
  const tpl = readFileSync(join(ROOT, 'deploy', 'helm', 'lockstep', 'templates', '_helpers.tpl'), 'utf8');
  const order = /\$order := dict ((?:"[a-z]+" \d+ ?)+)/.exec(tpl)?.[1];
  assert.ok(order, 'the egress port order in deploy/helm/lockstep/templates/_helpers.tpl');
  const pairs = [...order.matchAll(/"([a-z]+)" (\d+)/g)].map((m) => [m[1], Number(m[2])]);
  assert.deepEqual(
    pairs,
    KNOWN_PLATFORMS.map((f, i) => [f.platform, i]),
  );
});

test('every registered connector runs the conformance suite (its conformance.test.ts calls conformanceSuite)', () => {
  for (const platform of PLATFORMS) {
    const file = new URL(`./${platform}/conformance.test.ts`, import.meta.url);
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      assert.fail(
        `services/connectors/${platform}/conformance.test.ts is missing: a connector lands with the conformance suite`,
      );
    }
    assert.match(
      text,
      /conformanceSuite\(/,
      `services/connectors/${platform}/conformance.test.ts does not run conformanceSuite`,
    );
  }
});
