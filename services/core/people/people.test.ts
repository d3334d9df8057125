import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import type { Person, WriteCommand } from '../../../schemas/generated/types.ts';
import { entityState } from '../../connectors/types.ts';
import {
  createPeopleDirectory,
  EMAIL_ONLY,
  peopleSchema,
  resolveCommandPeople,
  type PersonEntry,
} from './people.ts';

// Platform names are data here: the module itself never names one.
const PLATFORMS = ['linear', 'jira'];
const schema = peopleSchema(PLATFORMS);

function problems(input: unknown): string[] {
  const r = schema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).sort();
}

const who = (
  email: string | null,
  platformUserId: string | null,
  displayName: string | null = null,
): Person => ({
  email,
  platformUserId,
  displayName,
});

describe('people: schema', () => {
  it('accepts people with an email and ids, or ids on two platforms; absent is an empty list', () => {
    assert.deepEqual(schema.parse(undefined), []);
    const ok = schema.parse([
      { email: 'Dana@Example.com', jira: '712020:dana' },
      { name: 'Sam', jira: '712020:sam', linear: 'lin-sam' },
    ]);
    assert.equal(ok.length, 2);
    assert.equal((ok[1] as PersonEntry)['linear'], 'lin-sam');
  });

  it('names an unknown key (a platform without a connector, a typo) with the keys a person may have', () => {
    assert.deepEqual(problems([{ email: 'a@example.com', asana: '1', jria: 'x' }]), [
      '0: a person needs their user id on at least one of linear, jira (people with the same email everywhere need no entry)',
      '0: unknown keys asana, jria: a person has email, name and an id per platform with a connector (linear, jira)',
    ]);
  });

  it('refuses an entry that maps nobody, and an email-less one with a single id', () => {
    assert.deepEqual(problems([{ email: 'a@example.com' }, { name: 'Solo', jira: 'j-1' }]), [
      '0: a person needs their user id on at least one of linear, jira (people with the same email everywhere need no entry)',
      '1: a person without an email needs ids on two or more platforms: with only jira, nothing matches them elsewhere',
    ]);
  });

  it('refuses the same email twice (whatever the case) and one platform id given to two people', () => {
    assert.deepEqual(
      problems([
        { email: 'dana@example.com', jira: 'j-dana' },
        { email: 'DANA@example.com', linear: 'l-dana' },
        { email: 'eve@example.com', jira: 'j-dana' },
      ]),
      [
        '1.email: dana@example.com is already people.0 (dana@example.com): one entry per person',
        "2.jira: jira id j-dana is already people.0 (dana@example.com)'s: one id cannot be two people",
      ],
    );
  });

  it('reports a bad email, an empty id and the list-wide checks at once', () => {
    assert.deepEqual(
      problems([
        { email: 'not-an-email', jira: 'j-1' },
        { email: 'b@example.com', linear: '  ' },
        { email: 'c@example.com', jira: 'j-1' },
      ]),
      [
        '0.email: Invalid email address',
        "1.linear: must be the person's user id on linear",
        '1: a person needs their user id on at least one of linear, jira (people with the same email everywhere need no entry)',
        "2.jira: jira id j-1 is already people.0 (not-an-email)'s: one id cannot be two people",
      ],
    );
  });

  it('is representable as JSON Schema (the Helm chart validates values with it)', () => {
    const json = z.toJSONSchema(schema, { io: 'input', target: 'draft-7' }) as {
      items: { properties: Record<string, unknown>; additionalProperties: unknown };
    };
    assert.deepEqual(Object.keys(json.items.properties), ['email', 'name', 'linear', 'jira']);
    assert.equal(json.items.additionalProperties, false);
  });
});

describe('the people directory', () => {
  const people = createPeopleDirectory(
    schema.parse([
      { email: 'Dana@Example.com', jira: '712020:dana' },
      { name: 'Sam', jira: '712020:sam', linear: 'lin-sam' },
      { email: 'ivy@corp.example', linear: 'lin-ivy' },
    ]),
    PLATFORMS,
  );

  it('maps a platform person by the override first, then by email', () => {
    // Jira hides Dana's email: her account id is the override.
    assert.deepEqual(people.keyOf('jira', who(null, '712020:dana', 'Dana')), {
      key: 'dana@example.com',
      via: 'override',
    });
    // The override wins over an email the platform shows.
    assert.deepEqual(people.keyOf('linear', who('ivy@personal.example', 'lin-ivy')), {
      key: 'ivy@corp.example',
      via: 'override',
    });
    // Not listed: the email, lower-cased.
    assert.deepEqual(people.keyOf('jira', who(' Bob@Example.com ', '712020:bob')), {
      key: 'bob@example.com',
      via: 'email',
    });
    // An id is an override on its own platform only.
    assert.deepEqual(people.keyOf('linear', who('dana@example.com', '712020:dana')), {
      key: 'dana@example.com',
      via: 'email',
    });
  });

  it('gives a person without an email the key of their first id in registry order', () => {
    assert.deepEqual(people.keyOf('jira', who(null, '712020:sam')), {
      key: 'linear:lin-sam',
      via: 'override',
    });
    assert.deepEqual(people.keyOf('linear', who(null, 'lin-sam')), {
      key: 'linear:lin-sam',
      via: 'override',
    });
  });

  it('says why a person without email or override cannot be matched', () => {
    const r = people.keyOf('jira', who(null, '712020:eve', 'Eve'));
    assert.equal(r.key, null);
    assert.equal(
      r.key === null && r.why,
      'Eve on jira has no email to match across platforms and no `people` entry for jira id 712020:eve',
    );
  });

  it('says why that platform shows no email when the caller knows (a connector fact)', () => {
    const hinted = createPeopleDirectory([], ['linear', 'jira'], {
      noEmail: (p) => (p === 'jira' ? 'hidden by their privacy settings' : undefined),
    });
    const r = hinted.keyOf('jira', who(null, '712020:eve', 'Eve'));
    assert.equal(
      r.key === null && r.why,
      'Eve on jira has no email to match across platforms (hidden by their privacy settings) and no `people` entry for jira id 712020:eve',
    );
    const other = hinted.keyOf('linear', who(null, 'lin-eve', 'Eve'));
    assert.equal(
      other.key === null && other.why,
      'Eve on linear has no email to match across platforms and no `people` entry for linear id lin-eve',
    );
  });

  it('turns a key into the target platform’s person: the override id, else the email to look up', () => {
    assert.deepEqual(people.personOn('jira', 'dana@example.com'), who('dana@example.com', '712020:dana'));
    assert.deepEqual(people.personOn('linear', 'dana@example.com'), who('dana@example.com', null));
    assert.deepEqual(people.personOn('jira', 'linear:lin-sam'), who(null, '712020:sam', 'Sam'));
    assert.deepEqual(people.personOn('linear', 'bob@example.com'), who('bob@example.com', null));
    // A key whose entry was removed from the configuration finds nobody (the connector reports it).
    assert.deepEqual(people.personOn('jira', 'linear:gone'), who(null, null, 'linear:gone'));
  });

  it('round-trips: the key a side shows comes back as the person the other side is written', () => {
    const k = people.keyOf('jira', who(null, '712020:sam'));
    assert.ok(k.key);
    assert.equal(people.personOn('linear', k.key).platformUserId, 'lin-sam');
    assert.equal(people.personOn('jira', k.key).platformUserId, '712020:sam');
  });

  it('with no entries, matching is by email only', () => {
    assert.equal(EMAIL_ONLY.size, 0);
    assert.deepEqual(EMAIL_ONLY.keyOf('jira', who('A@Example.com', 'x')), {
      key: 'a@example.com',
      via: 'email',
    });
    assert.equal(EMAIL_ONLY.keyOf('jira', who(null, 'x')).key, null);
    assert.deepEqual(EMAIL_ONLY.personOn('jira', 'a@example.com'), who('a@example.com', null));
  });
});

describe('resolveCommandPeople (egress: override first, then the connector’s email look-up)', () => {
  const people = createPeopleDirectory(
    schema.parse([{ email: 'dana@example.com', jira: '712020:dana' }]),
    PLATFORMS,
  );
  const cmd = (assignee: Person | null, base: Person | null): WriteCommand => ({
    commandId: 'c1',
    linkId: 'l1',
    flowId: 'eng',
    platform: 'jira',
    workspace: 'ENG',
    action: 'update',
    entityType: 'issue',
    targetId: 'ENG-1',
    parentId: null,
    fields: entityState({ assignee }),
    base: entityState({ assignee: base }),
    marker: null,
    causedBy: null,
    unresolved: [],
    createdAtMs: 0,
    cause: null,
  });

  it('fills the override id into a command that names the person by email (fields and base)', () => {
    const out = resolveCommandPeople(
      cmd(who('dana@example.com', null), who('DANA@example.com', null)),
      people,
      'jira',
    );
    assert.equal(out.fields.assignee?.platformUserId, '712020:dana');
    assert.equal(out.base?.assignee?.platformUserId, '712020:dana');
  });

  it('leaves an id already given, a person not listed, another platform and an unassign alone', () => {
    const given = cmd(who('dana@example.com', 'other'), null);
    assert.equal(resolveCommandPeople(given, people, 'jira'), given);
    const bob = cmd(who('bob@example.com', null), null);
    assert.equal(resolveCommandPeople(bob, people, 'jira'), bob);
    const toLinear = cmd(who('dana@example.com', null), null);
    assert.equal(resolveCommandPeople(toLinear, people, 'linear').fields.assignee?.platformUserId, null);
    const none = cmd(null, null);
    assert.equal(resolveCommandPeople(none, people, 'jira'), none);
  });
});
