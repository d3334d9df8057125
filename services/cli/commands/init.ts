/**
 * `lockstep init`: a guided setup for real accounts. Asks for the Linear and Jira credentials,
 * checks them with the connectors' own calls (the bot-user lookup), lists the teams and projects
 * the credentials can see, asks which to pair and with which field policies, writes a commented
 * lockstep.yaml with every secret by reference (`{ env: NAME }`), validates it with the real
 * config parser and says what to run next. Every prompt has a flag, so `--yes` runs it from a
 * script; `--json` prints the result as JSON.
 *
 * Only Linear ↔ Jira is offered: those are the two connectors whose teams/projects this command
 * can list. Asana and Slack sections are still written by hand (README "Configuration").
 */
import { randomBytes } from 'node:crypto';
import { existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface, type Interface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { z } from 'zod';
import { loadAppConfig } from '../../app/config.ts';
import { jiraClient } from '../../connectors/jira/client.ts';
import { jiraConfigSchema } from '../../connectors/jira/config.ts';
import { jiraConnector } from '../../connectors/jira/index.ts';
import { linearClient } from '../../connectors/linear/client.ts';
import { linearConfigSchema } from '../../connectors/linear/config.ts';
import { linearConnector } from '../../connectors/linear/index.ts';
import { policySchema, type Policy } from '../../reconciler/flow.ts';

interface InitOptions {
  linearApiKeyEnv: string;
  linearApiUrl?: string;
  linearTeam?: string;
  jiraHost?: string;
  jiraEmail?: string;
  jiraApiTokenEnv: string;
  jiraProject?: string;
  flowId?: string;
  direction?: string;
  defaultPolicy?: string;
  labels?: string;
  description?: string;
  out: string;
  yes?: boolean;
  json?: boolean;
}

export interface InitResult {
  file: string;
  flowId: string;
  linear: { team: string; botUserId: string };
  jira: { host: string; project: string; botAccountId: string };
  /** Variables lockstep.yaml refers to; `value` only for the webhook secrets init generated. */
  env: { name: string; what: string; value?: string }[];
  next: string[];
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Prompts on the terminal; with `--yes` every question takes its flag or default instead. */
class Prompter {
  private muted = false;
  private readonly rl: Interface | undefined;
  private readonly say: (line: string) => void;
  private readonly out: NodeJS.WriteStream;
  constructor(interactive: boolean, say: (line: string) => void, out: NodeJS.WriteStream) {
    this.say = say;
    this.out = out;
    if (!interactive) return;
    // A muted output lets a secret be typed without echo (readline has no password mode).
    const output = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        if (!this.muted) out.write(chunk);
        cb();
      },
    });
    this.rl = createInterface({ input: process.stdin, output, terminal: process.stdin.isTTY === true });
  }
  async ask(question: string, given: string | undefined, fallback?: string): Promise<string> {
    if (given !== undefined) return given;
    if (!this.rl) {
      if (fallback !== undefined) return fallback;
      throw new Error(
        `running lockstep init --yes: ${question.toLowerCase()} has no flag value and no default`,
      );
    }
    for (;;) {
      const a = (await this.rl.question(`${question}${fallback ? ` [${fallback}]` : ''}: `)).trim();
      if (a !== '') return a;
      if (fallback !== undefined) return fallback;
    }
  }
  async secret(question: string): Promise<string> {
    if (!this.rl) throw new Error(`running lockstep init --yes: ${question.toLowerCase()} is not set`);
    for (;;) {
      this.out.write(`${question} (not shown): `);
      this.muted = true;
      const a = await this.rl.question('').finally(() => (this.muted = false));
      this.out.write('\n');
      if (a.trim() !== '') return a.trim();
    }
  }
  async choose<T extends { key: string; name: string }>(
    what: string,
    items: T[],
    given?: string,
  ): Promise<T> {
    if (items.length === 0) throw new Error(`choosing ${what}: the credentials can see none`);
    const find = (a: string) =>
      items.find((t) => t.key.toUpperCase() === a.toUpperCase()) ??
      (/^\d+$/.test(a) ? items[Number(a) - 1] : undefined);
    if (given !== undefined || !this.rl) {
      const pick = find(given ?? (items.length === 1 ? items[0]!.key : ''));
      if (!pick)
        throw new Error(
          `choosing ${what}: ${given ? `no ${what} ${given}` : `give one with a flag`} (visible: ${items.map((t) => t.key).join(', ')})`,
        );
      return pick;
    }
    this.say(`${what[0]!.toUpperCase()}${what.slice(1)}s these credentials can see:`);
    items.forEach((t, i) => this.say(`  ${i + 1}) ${t.key}  ${t.name}`));
    for (;;) {
      const pick = find(await this.ask(`Which ${what} to pair (number or key)`, undefined, '1'));
      if (pick) return pick;
      this.say(`  not in the list; answer with a number from 1 to ${items.length} or a key`);
    }
  }
  note(line: string): void {
    this.say(line);
  }
  close(): void {
    this.rl?.close();
  }
}

/** Asks for a credential until the platform accepts it (interactive) or fails once (`--yes`). */
async function checked<T>(
  interactive: boolean,
  say: (line: string) => void,
  attempt: () => Promise<T>,
  what: string,
  classify: (err: unknown) => { category: string },
): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      // The connector's own classification says whether the platform refused the credentials.
      const cause =
        classify(err).category === 'auth'
          ? `the platform refused them (${message(err)})`
          : `${message(err)} (${classify(err).category})`;
      if (!interactive) throw new Error(`checking ${what}: ${cause}`, { cause: err });
      say(`  ✗ checking ${what}: ${cause} — try again`);
    }
  }
}

async function parsePolicy(
  p: Prompter,
  question: string,
  given: string | undefined,
  fallback: string,
): Promise<Policy> {
  for (;;) {
    const a = await p.ask(question, given, fallback);
    const r = policySchema.safeParse(a);
    if (r.success) return r.data;
    if (given !== undefined) throw new Error(`reading ${question.toLowerCase()}: ${a} is not a policy`);
    p.note(`  ${a} is not a policy: answer last-write-wins, merge or manual`);
  }
}

const yamlString = (s: string) => JSON.stringify(s); // a JSON string is a valid YAML scalar

export async function runInit(o: InitOptions, say: (line: string) => void): Promise<InitResult> {
  const interactive = !o.yes;
  // With --json, stdout carries only the result: prompts go to stderr.
  const p = new Prompter(interactive, say, o.json ? process.stderr : process.stdout);
  try {
    const env: InitResult['env'] = [];
    /** Credentials typed at the prompt (not from the environment), for validating the file. */
    const entered: Record<string, string> = {};
    let linearEnvUsable = true;
    let jiraEnvUsable = true;

    // Linear: the key from the environment variable, or typed (then the user exports it).
    say('Linear — a personal API key: Linear → Settings → Security & access → Personal API keys.');
    say(
      "  Use a key of a user kept for Lockstep: that user's own edits are taken as Lockstep's and not synced.",
    );
    const linear = await checked(
      interactive,
      say,
      async () => {
        const fromEnv = linearEnvUsable ? process.env[o.linearApiKeyEnv] : undefined;
        if (fromEnv) say(`  using the key in $${o.linearApiKeyEnv}`);
        const apiKey = fromEnv || (await p.secret('Linear API key'));
        const config = linearConfigSchema.parse({
          apiKey,
          webhookSecret: 'unused-by-init',
          ...(o.linearApiUrl && { apiUrl: o.linearApiUrl }),
        });
        try {
          const botUserId = await linearConnector.resolveBotUserId({ config, botUserId: null });
          // One page of 250 (Linear's maximum): teams past the first 250 are not offered.
          const r = await linearClient(config).client.rawRequest(
            `query LockstepInitTeams { teams(first: 250) { nodes { id key name } } }`,
          );
          const teams = z
            .object({ teams: z.object({ nodes: z.array(z.object({ key: z.string(), name: z.string() })) }) })
            .parse(r.data)
            .teams.nodes.sort((a, b) => a.key.localeCompare(b.key));
          if (!fromEnv) entered[o.linearApiKeyEnv] = apiKey;
          return { botUserId, teams };
        } catch (err) {
          linearEnvUsable = false; // a refused key from the environment: ask for one instead
          throw err;
        }
      },
      'the Linear API key',
      linearConnector.classifyError,
    );
    say(`  ✓ Linear: authenticated (user ${linear.botUserId})`);
    const team = await p.choose('Linear team', linear.teams, o.linearTeam);

    say(
      'Jira Cloud — an API token: id.atlassian.com → Security → API tokens (again of a user kept for Lockstep).',
    );
    const jira = await checked(
      interactive,
      say,
      async () => {
        const host = (await p.ask('Jira site URL (https://<site>.atlassian.net)', o.jiraHost)).replace(
          /\/+$/,
          '',
        );
        const email = await p.ask('Jira account email', o.jiraEmail);
        const fromEnv = jiraEnvUsable ? process.env[o.jiraApiTokenEnv] : undefined;
        if (fromEnv) say(`  using the token in $${o.jiraApiTokenEnv}`);
        const apiToken = fromEnv || (await p.secret('Jira API token'));
        const config = jiraConfigSchema.parse({
          host,
          email,
          apiToken,
          webhookSecret: 'unused-by-init',
          projects: ['INIT'],
        });
        try {
          const botAccountId = await jiraConnector.resolveBotUserId({ config, botUserId: null });
          const projects: { key: string; name: string }[] = [];
          for (let startAt = 0; ;) {
            const page = await jiraClient(config).projects.searchProjects({ startAt, maxResults: 50 });
            for (const v of page.values ?? []) projects.push({ key: v.key, name: v.name });
            if (page.isLast !== false || (page.values ?? []).length === 0) break;
            startAt += page.values.length;
          }
          projects.sort((a, b) => a.key.localeCompare(b.key));
          if (!fromEnv) entered[o.jiraApiTokenEnv] = apiToken;
          return { host, email, botAccountId, projects };
        } catch (err) {
          // A wrong host or email is as likely as a wrong token: ask all three again.
          jiraEnvUsable = false;
          o = { ...o, jiraHost: undefined, jiraEmail: undefined };
          throw err;
        }
      },
      'the Jira credentials',
      jiraConnector.classifyError,
    );
    say(`  ✓ Jira: authenticated (account ${jira.botAccountId})`);
    const project = await p.choose('Jira project', jira.projects, o.jiraProject);

    say(
      'How the pair stays in step (policies: last-write-wins, merge, manual; merge is for labels and text):',
    );
    const flowId = await p.ask('Flow id', o.flowId, `${team.key}-${project.key}`.toLowerCase());
    let direction = await p.ask('Direction (both, or one-way from Linear to Jira)', o.direction, 'both');
    while (direction !== 'both' && direction !== 'one-way') {
      if (!interactive) throw new Error(`reading direction: ${direction} is not both or one-way`);
      direction = await p.ask('Direction: answer both or one-way', undefined, 'both');
    }
    const defaultPolicy = await parsePolicy(p, 'Default field policy', o.defaultPolicy, 'last-write-wins');
    const labels = await parsePolicy(p, 'Labels policy', o.labels, 'merge');
    const description = await parsePolicy(p, 'Description policy', o.description, 'merge');

    const file = resolve(o.out);
    if (existsSync(file) && interactive) {
      const a = await p.ask(`${o.out} exists; overwrite it? (y/n)`, undefined, 'n');
      if (!/^y/i.test(a)) throw new Error(`writing ${o.out}: not overwritten (choose another with --out)`);
    }

    const linearWebhookSecret = randomBytes(24).toString('hex');
    const jiraWebhookSecret = randomBytes(24).toString('hex');
    env.push(
      { name: o.linearApiKeyEnv, what: 'the Linear API key' },
      {
        name: 'LINEAR_WEBHOOK_SECRET',
        what: "the Linear webhook's signing secret",
        value: linearWebhookSecret,
      },
      { name: o.jiraApiTokenEnv, what: 'the Jira API token' },
      { name: 'JIRA_WEBHOOK_SECRET', what: "the Jira webhook's secret", value: jiraWebhookSecret },
    );
    const pol = (x: Policy) => (typeof x === 'string' ? x : `{ prefer: [${x.prefer.join(', ')}] }`);
    const yaml = [
      `# lockstep.yaml — written by \`lockstep init\` on ${new Date().toISOString()}.`,
      '# Every key is described in the README ("Configuration: lockstep.yaml"). Secrets are not in',
      '# this file: each `{ env: NAME }` is read from the environment when Lockstep starts.',
      'connectors:',
      '  linear:',
      `    apiKey: { env: ${o.linearApiKeyEnv} }`,
      '    # signs the deliveries of the webhook `lockstep webhooks register` creates',
      '    webhookSecret: { env: LINEAR_WEBHOOK_SECRET }',
      ...(o.linearApiUrl ? [`    apiUrl: ${yamlString(o.linearApiUrl)}`] : []),
      '    # teams polled and given webhooks',
      `    teams: [${yamlString(team.key)}]`,
      `    botUserId: ${yamlString(linear.botUserId)} # the user of the API key; its own writes are not echoed back`,
      '  jira:',
      `    host: ${yamlString(jira.host)}`,
      `    email: ${yamlString(jira.email)}`,
      `    apiToken: { env: ${o.jiraApiTokenEnv} }`,
      '    webhookSecret: { env: JIRA_WEBHOOK_SECRET }',
      `    projects: [${yamlString(project.key)}]`,
      `    botAccountId: ${yamlString(jira.botAccountId)}`,
      '    # issueType: Task        # the type of issues Lockstep creates',
      "    # jqlTimeZone: UTC       # set to the API user's profile time zone",
      'flows:',
      `  - id: ${yamlString(flowId)}`,
      '    sides: # order matters: the first side wins a last-write-wins tie',
      `      - { platform: linear, workspace: ${yamlString(team.key)} }`,
      `      - { platform: jira, workspace: ${yamlString(project.key)} }`,
      `    direction: ${direction} # both, or one-way (from the first side to the second)`,
      '    fields: # per field: last-write-wins, merge (labels, title, description), manual, { prefer: [...] }',
      `      default: ${pol(defaultPolicy)}`,
      `      labels: ${pol(labels)}`,
      `      description: ${pol(description)}`,
      '    # statusMap: names statuses that differ between the sides, e.g.',
      "    #   - { name: Todo, category: todo, jira: 'To Do' }",
      '    onDelete: unlink # or propagate',
      '',
    ].join('\n');

    // Validate before writing, with the values the user is about to export.
    const tmp = `${file}.init-${process.pid}.tmp`;
    writeFileSync(tmp, yaml, { mode: 0o644 });
    try {
      const validateEnv = { ...process.env, ...entered };
      for (const e of env) if (e.value) validateEnv[e.name] = e.value;
      loadAppConfig(tmp, validateEnv);
    } catch (err) {
      throw new Error(`validating the written configuration: ${message(err)} (left in ${tmp})`, {
        cause: err,
      });
    }
    writeFileSync(file, yaml);
    unlinkSync(tmp);

    // doctor and npm start read ./lockstep.yaml unless LOCKSTEP_CONFIG names another file.
    const cfgEnv = file === resolve('lockstep.yaml') ? '' : `LOCKSTEP_CONFIG=${o.out} `;
    const cfgFlag = cfgEnv ? ` --config ${o.out}` : '';
    const next = [
      `export the variables above (e.g. in your shell profile or a secrets manager)`,
      `${cfgEnv}npx lockstep doctor   # checks the configuration, the credentials and the stack`,
      `npx lockstep webhooks register --platform linear --url <public ingest URL>/webhooks/linear${cfgFlag}`,
      `npx lockstep webhooks register --platform jira --url <public ingest URL>/webhooks/jira${cfgFlag}   # needs a Jira administrator`,
      `${cfgEnv}npm start   # runs the pipeline with ${o.out}`,
    ];
    return {
      file,
      flowId,
      linear: { team: team.key, botUserId: linear.botUserId },
      jira: { host: jira.host, project: project.key, botAccountId: jira.botAccountId },
      env,
      next,
    };
  } finally {
    p.close();
  }
}

export function register(program: Command): void {
  program
    .command('init')
    .description('Guided setup for real Linear and Jira accounts: checks credentials, writes lockstep.yaml')
    .option(
      '--linear-api-key-env <name>',
      'environment variable holding the Linear API key',
      'LINEAR_API_KEY',
    )
    .option('--linear-api-url <url>', 'Linear GraphQL endpoint (default: Linear’s own)')
    .option('--linear-team <key>', 'Linear team to pair')
    .option('--jira-host <url>', 'Jira site, https://<site>.atlassian.net')
    .option('--jira-email <email>', 'Jira account email')
    .option(
      '--jira-api-token-env <name>',
      'environment variable holding the Jira API token',
      'JIRA_API_TOKEN',
    )
    .option('--jira-project <key>', 'Jira project to pair')
    .option('--flow-id <id>', 'flow id (default: <team>-<project>)')
    .option('--direction <d>', 'both or one-way (default: both)')
    .option('--default-policy <p>', 'default field policy (default: last-write-wins)')
    .option('--labels <p>', 'labels policy (default: merge)')
    .option('--description <p>', 'description policy (default: merge)')
    .option('--out <file>', 'where to write the configuration', 'lockstep.yaml')
    .option(
      '--yes',
      'ask nothing: take flags and defaults, read secrets from the environment, overwrite --out',
    )
    .option('--json', 'print the result as JSON')
    .action(async (o: InitOptions) => {
      const say = o.json
        ? (line: string) => process.stderr.write(`${line}\n`)
        : (line: string) => process.stdout.write(`${line}\n`);
      const r = await runInit(o, say);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        return;
      }
      say(
        `\n✓ wrote ${r.file} (flow ${r.flowId}: Linear ${r.linear.team} ↔ Jira ${r.jira.project}); it validates.`,
      );
      say('Export these before starting Lockstep:');
      for (const e of r.env)
        say(
          `  export ${e.name}=${e.value ?? `<${e.what}>`}${e.value ? `   # ${e.what}, generated now` : ''}`,
        );
      say('Next:');
      for (const n of r.next) say(`  ${n}`);
    });
}
