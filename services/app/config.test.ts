import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../core/config/index.ts';
import { boundConnectors, loadAppConfig, peopleDirectory } from './config.ts';

function file(text: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'lockstep-config-')), 'lockstep.yaml');
  writeFileSync(f, text);
  return f;
}

describe('lockstep.yaml', () => {
  it('reports every problem of every section at once, each with its path', () => {
    const f = file(
      [
        'kafka: { brokers: [nohostport] }',
        'connectors:',
        '  jira: { host: not-a-url, email: bot@example.com, apiToken: { env: NOPE_UNSET }, webhookSecret: s, projects: [ENG] }',
        'flows:',
        '  - id: eng',
        '    sides: [{ platform: linear, workspace: ENG }, { platform: trello, workspace: C1 }]',
        'egress: { maxAttempts: 0 }',
      ].join('\n'),
    );
    assert.throws(
      () => loadAppConfig(f, {}),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual([...err.problems].sort(), [
          'connectors.jira.apiToken: environment variable NOPE_UNSET is not set',
          'connectors.jira.host: Invalid URL',
          'egress.maxAttempts: Too small: expected number to be >=1',
          'flows.0.sides.0.platform: connectors.linear is not configured',
          'flows.0.sides.1.platform: unknown platform trello (known: linear, jira, asana, slack)',
          'kafka.brokers.0: must be host:port',
        ]);
        return true;
      },
    );
  });

  it('binds exactly the configured connectors; secrets resolve from the environment and never print', () => {
    const f = file(
      [
        'connectors:',
        '  linear: { apiKey: { env: LIN_KEY }, webhookSecret: { env: LIN_SECRET }, teams: [ENG] }',
        'flows: []',
      ].join('\n'),
    );
    const cfg = loadAppConfig(f, { LIN_KEY: 'lin_api_x', LIN_SECRET: 'whsec' });
    assert.deepEqual([...boundConnectors(cfg).keys()], ['linear']);
    assert.doesNotMatch(JSON.stringify(cfg), /lin_api_x|whsec/);
  });

  it('a flow statusMap names Jira statuses for the Jira connector (Canceled is canceled, not done)', () => {
    const f = file(
      [
        'connectors:',
        '  linear: { apiKey: k, webhookSecret: s, teams: [ENG] }',
        '  jira: { host: "https://x.atlassian.net", email: b@x.io, apiToken: t, webhookSecret: s, projects: [ENG],',
        '          statusCategories: { Parked: todo } }',
        'flows:',
        '  - id: eng',
        '    sides: [{ platform: linear, workspace: ENG }, { platform: jira, workspace: ENG }]',
        '    statusMap:',
        '      - { name: Done, category: done }',
        '      - { name: Canceled, category: canceled, jira: "Won\'t Do" }',
        '      - { name: Backlog, category: backlog, jira: Parked }',
      ].join('\n'),
    );
    const jira = boundConnectors(loadAppConfig(f, {})).get('jira');
    assert.ok(jira);
    const status = (name: string) => {
      const payload = {
        webhookEvent: 'jira:issue_created',
        issue: {
          id: '1',
          key: 'ENG-1',
          fields: {
            summary: 'x',
            project: { key: 'ENG' },
            status: { name, statusCategory: { key: name === 'Parked' ? 'indeterminate' : 'done' } },
            updated: '2026-05-01T12:00:00.000+0000',
          },
        },
      };
      const ctx = { via: 'webhook' as const, deliveryId: null, botUserId: null, nowMs: 1 };
      return jira.normalize(payload, ctx)[0]?.after?.status;
    };
    assert.deepEqual(status("Won't Do"), { category: 'canceled', name: "Won't Do" });
    assert.deepEqual(status('Done'), { category: 'done', name: 'Done' });
    // The connector's own statusCategories win over the flow's.
    assert.deepEqual(status('Parked'), { category: 'todo', name: 'Parked' });
  });

  it("people: every bad entry is reported with its path, beside the other sections' problems", () => {
    const f = file(
      [
        'egress: { maxAttempts: 0 }',
        'people:',
        '  - { email: dana@example.com, jira: "712020:dana" }',
        '  - { email: Dana@Example.com, linear: lin-dana }', // the same person twice
        '  - { email: eve@example.com, jira: "712020:dana" }', // one id, two people
        '  - { email: sam@example.com, trello: T1200 }', // a platform without a connector
        '  - { name: Solo, jira: "712020:solo" }', // no email and one id: matches nobody
        '  - { email: nobody@example.com }', // an email alone needs no entry
      ].join('\n'),
    );
    assert.throws(
      () => loadAppConfig(f, {}),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual([...err.problems].sort(), [
          'egress.maxAttempts: Too small: expected number to be >=1',
          'people.1.email: dana@example.com is already people.0 (dana@example.com): one entry per person',
          "people.2.jira: jira id 712020:dana is already people.0 (dana@example.com)'s: one id cannot be two people",
          'people.3: a person needs their user id on at least one of linear, jira, asana, slack (people with the same email everywhere need no entry)',
          'people.3: unknown key trello: a person has email, name and an id per platform with a connector (linear, jira, asana, slack)',
          'people.4: a person without an email needs ids on two or more platforms: with only jira, nothing matches them elsewhere',
          'people.5: a person needs their user id on at least one of linear, jira, asana, slack (people with the same email everywhere need no entry)',
        ]);
        return true;
      },
    );
  });

  it('people: a valid list becomes the directory the reconciler and egress use', () => {
    const f = file(
      [
        'people:',
        '  - { email: Dana@Example.com, jira: "712020:dana" }',
        '  - { name: Sam, jira: "712020:sam", linear: lin-sam }',
      ].join('\n'),
    );
    const people = peopleDirectory(loadAppConfig(f, {}));
    assert.equal(people.size, 2);
    const dana = { email: null, platformUserId: '712020:dana', displayName: 'Dana' };
    assert.deepEqual(people.keyOf('jira', dana), { key: 'dana@example.com', via: 'override' });
    assert.equal(people.personOn('linear', 'linear:lin-sam').platformUserId, 'lin-sam');
    assert.equal(peopleDirectory(loadAppConfig(file('flows: []'), {})).size, 0);
  });

  it('reconciler: the scheduled verify is off unless verifyEvery is set; its settings are checked', () => {
    const off = loadAppConfig(file('reconciler: {}'), {}).reconciler;
    assert.equal(off.verifyEvery, undefined);
    assert.deepEqual(
      { repair: off.verifyRepair, share: off.verifyShare, unlinked: off.verifyUnlinked },
      { repair: false, share: 0.25, unlinked: true },
    );
    assert.equal(loadAppConfig(file('reconciler: { verifyEvery: "off" }'), {}).reconciler.verifyEvery, null);
    const on = loadAppConfig(
      file('reconciler: { verifyEvery: 6h, verifyRepair: true, verifyShare: 0.1, verifyUnlinked: false }'),
      {},
    ).reconciler;
    assert.deepEqual(
      [on.verifyEvery, on.verifyRepair, on.verifyShare, on.verifyUnlinked],
      [6 * 3_600_000, true, 0.1, false],
    );
    assert.throws(
      () =>
        loadAppConfig(
          file('reconciler: { verifyEvery: sometimes, verifyShare: 2, verifyRepair: yes please }'),
          {},
        ),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual([...err.problems].sort(), [
          'reconciler.verifyEvery: expected a duration such as 30s, 15m, 6h, 1h30m or 1d, or off, got "sometimes"',
          'reconciler.verifyRepair: Invalid input: expected boolean, received string',
          'reconciler.verifyShare: Too big: expected number to be <=1',
        ]);
        return true;
      },
    );
  });
});
