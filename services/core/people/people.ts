/**
 * People across platforms: the `people:` section of lockstep.yaml and the directory built from it.
 *
 * The base of an assignee holds a **person key**: the person's lower-cased email, or, for a person
 * the configuration lists without an email, `<platform>:<id>` of their first id in registry order.
 * A platform's person becomes a key by an override first (the platform's user id listed under a
 * person), then by email; with neither, the field cannot be carried and the reconciler says so.
 * A key becomes the target platform's person by the override first (the person's id there), then
 * by email (the connector looks the email up); egress applies the same directory to every command,
 * so a command computed before an override was added still gets it.
 *
 * ```yaml
 * people:
 *   - email: dana@example.com      # Jira hides her email: her account id carries her both ways
 *     jira: 712020:5b10ac8d82e05b22cc7d4ef5
 *   - name: Sam (contractor)       # no email anywhere: ids on two or more platforms
 *     jira: 712020:0c7f...
 *     linear: 2f1a4c1e-...
 * ```
 *
 * Pure, and never names a platform: the platforms (registry order) are given by the caller.
 */
import { z } from 'zod';
import type { EntityState, Person, WriteCommand } from '../../../schemas/generated/types.ts';

/** One `people:` entry as parsed: `email`, `name`, and an id per platform (the platform's name as the key). */
export type PersonEntry = { email?: string | undefined; name?: string | undefined } & {
  [platform: string]: string | undefined;
};

function entryIds(entry: Record<string, unknown>, platforms: readonly string[]): [string, string][] {
  return platforms.flatMap((p) => {
    const id = entry[p];
    return typeof id === 'string' && id.length > 0 ? [[p, id] as [string, string]] : [];
  });
}

function describe(entry: Record<string, unknown>, i: number): string {
  const email = typeof entry['email'] === 'string' ? entry['email'] : null;
  const name = typeof entry['name'] === 'string' ? entry['name'] : null;
  return `people.${i}${email ? ` (${email})` : name ? ` (${name})` : ''}`;
}

/**
 * The `people:` list, for the platforms that have a connector (registry order). Every problem is
 * reported with its path: unknown keys (a platform without a connector, a typo), an entry that
 * maps nobody, the same email twice, one platform id given to two people.
 */
export function peopleSchema(platforms: readonly string[]) {
  const ids = Object.fromEntries(
    platforms.map((p) => [
      p,
      z
        .string()
        .trim()
        .min(1, `must be the person's user id on ${p}`)
        .optional()
        .describe(`the person's user id on ${p}`),
    ]),
  );
  const entry = z.strictObject(
    {
      email: z.email().optional().describe('matched case-insensitively against the email a platform shows'),
      name: z.string().min(1).optional().describe('how notes and logs name the person'),
      ...ids,
    },
    {
      error: (iss) =>
        iss.code === 'unrecognized_keys'
          ? `unknown key${iss.keys.length > 1 ? 's' : ''} ${iss.keys.join(', ')}: a person has email, name and an id per platform with a connector (${platforms.join(', ')})`
          : undefined,
    },
  );
  return z
    .array(entry)
    .default([])
    .superRefine(
      (list, ctx) => {
        // Runs even when an entry is malformed (`when` below), so every problem is reported at
        // once: any entry may be anything here.
        const emails = new Map<string, number>();
        const owners = new Map<string, number>();
        (Array.isArray(list) ? (list as unknown[]) : []).forEach((raw, i) => {
          if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return;
          const e = raw as Record<string, unknown>;
          const held = entryIds(e, platforms);
          const email = typeof e['email'] === 'string' ? e['email'].trim().toLowerCase() : null;
          if (held.length === 0) {
            ctx.addIssue({
              code: 'custom',
              path: [i],
              message: `a person needs their user id on at least one of ${platforms.join(', ')} (people with the same email everywhere need no entry)`,
            });
          } else if (email === null && held.length < 2) {
            ctx.addIssue({
              code: 'custom',
              path: [i],
              message: `a person without an email needs ids on two or more platforms: with only ${held[0]![0]}, nothing matches them elsewhere`,
            });
          }
          if (email !== null) {
            const first = emails.get(email);
            if (first !== undefined)
              ctx.addIssue({
                code: 'custom',
                path: [i, 'email'],
                message: `${email} is already ${describe(list[first] as Record<string, unknown>, first)}: one entry per person`,
              });
            else emails.set(email, i);
          }
          for (const [p, id] of held) {
            const k = `${p}\u0000${id.trim()}`;
            const first = owners.get(k);
            if (first !== undefined)
              ctx.addIssue({
                code: 'custom',
                path: [i, p],
                message: `${p} id ${id.trim()} is already ${describe(list[first] as Record<string, unknown>, first)}'s: one id cannot be two people`,
              });
            else owners.set(k, i);
          }
        });
      },
      { when: () => true },
    );
}

/** How a platform's person became a key, or why they could not. */
export type KeyResult = { key: string; via: 'override' | 'email' } | { key: null; why: string };

export interface PeopleDirectory {
  /** The person key of `person` as `platform` shows them: override first, then email. */
  keyOf(platform: string, person: Person): KeyResult;
  /**
   * The person a command to `platform` carries for `key`: the override's id there (when the
   * person has one) and the email (for the connector's email look-up otherwise).
   */
  personOn(platform: string, key: string): Person;
  /**
   * `person` (as a command to `platform` carries it) with the override's id filled in when the
   * command names the person by email only. Egress applies it before the connector's look-up.
   */
  resolveOn(platform: string, person: Person): Person;
  /** The number of configured entries (0: matching is by email only). */
  readonly size: number;
}

interface Known {
  key: string;
  email: string | null;
  name: string | null;
  ids: ReadonlyMap<string, string>;
}

const isEmailKey = (key: string) => key.includes('@');

/**
 * The directory of `entries` (a parsed `people:` list), for `platforms` in registry order (the
 * order gives an email-less person their key: their first id in it). `noEmail(platform)` says, in
 * words, why that platform may show a person without an email (the connector's fact, e.g. a
 * privacy setting); it goes into the reason a person cannot be matched.
 */
export function createPeopleDirectory(
  entries: readonly PersonEntry[],
  platforms: readonly string[],
  opts: { noEmail?: (platform: string) => string | undefined } = {},
): PeopleDirectory {
  const byKey = new Map<string, Known>();
  const byId = new Map<string, Known>();
  for (const entry of entries) {
    const held = entryIds(entry, platforms).map(([p, id]): [string, string] => [p, id.trim()]);
    const email = entry.email?.trim().toLowerCase() || null;
    const first = held[0];
    const key = email ?? (first ? `${first[0]}:${first[1]}` : null);
    if (key === null) continue; // the schema refuses such an entry; a directory built by hand skips it
    const known: Known = { key, email, name: entry.name ?? null, ids: new Map(held) };
    byKey.set(key, known);
    for (const [p, id] of held) byId.set(`${p}\u0000${id}`, known);
  }
  const label = (p: Person) => p.displayName ?? p.platformUserId ?? 'unknown person';
  return {
    size: byKey.size,
    keyOf(platform, person) {
      if (person.platformUserId) {
        const known = byId.get(`${platform}\u0000${person.platformUserId}`);
        if (known) return { key: known.key, via: 'override' };
      }
      const email = person.email?.trim().toLowerCase();
      if (email) return { key: email, via: 'email' };
      const hint = opts.noEmail?.(platform);
      return {
        key: null,
        why: `${label(person)} on ${platform} has no email to match across platforms${hint ? ` (${hint})` : ''} and no \`people\` entry for ${platform} id ${person.platformUserId ?? '(none)'}`,
      };
    },
    personOn(platform, key) {
      const known = byKey.get(key);
      if (known)
        return {
          email: known.email,
          platformUserId: known.ids.get(platform) ?? null,
          displayName: known.name,
        };
      // A key the configuration no longer lists and that is no email (its entry was removed):
      // nothing can find it; the connector reports the field as unresolvable.
      return isEmailKey(key)
        ? { email: key, platformUserId: null, displayName: null }
        : { email: null, platformUserId: null, displayName: key };
    },
    resolveOn(platform, person) {
      if (person.platformUserId || !person.email) return person;
      const id = byKey.get(person.email.trim().toLowerCase())?.ids.get(platform);
      return id ? { ...person, platformUserId: id } : person;
    },
  };
}

/** A directory with no entries: people are matched by email only. */
export const EMAIL_ONLY: PeopleDirectory = createPeopleDirectory([], []);

/** `cmd` with its assignee (and the base's) resolved through `people` for `platform` (egress). */
export function resolveCommandPeople(
  cmd: WriteCommand,
  people: PeopleDirectory,
  platform: string,
): WriteCommand {
  if (people.size === 0) return cmd;
  const resolve = (state: EntityState): EntityState => {
    if (!state.assignee) return state;
    const assignee = people.resolveOn(platform, state.assignee);
    return assignee === state.assignee ? state : { ...state, assignee };
  };
  const fields = resolve(cmd.fields);
  const base = cmd.base ? resolve(cmd.base) : null;
  return fields === cmd.fields && base === cmd.base ? cmd : { ...cmd, fields, base };
}
