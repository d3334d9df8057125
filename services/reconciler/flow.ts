/**
 * A flow ties two or more sides (a platform + workspace each) and says how their records stay in
 * step: one link holds the item on every side (a hub, not a mesh of pairs), and a change on any
 * side is commanded to every other side the flow writes to. This is the schema of one entry of
 * lockstep.yaml's `flows:` list.
 *
 * ```yaml
 * flows:
 *   - id: eng
 *     sides:                       # order matters: it is the last-write-wins tie-break
 *       - { platform: linear, workspace: ENG }
 *       - { platform: jira, workspace: ENG }
 *     direction: both              # or one-way: from the first side to every other side
 *     fields:
 *       default: last-write-wins
 *       labels: merge
 *       description: merge         # line three-way merge, manual on overlapping edits
 *       status: { prefer: [jira, linear] }
 *       title: manual
 *     statusMap:
 *       - { name: Todo, category: todo, jira: 'To Do' }
 *       - { name: In Progress, category: in_progress }
 *     priorityMap:                 # optional; canonical priority passes through by default
 *       - { name: urgent, jira: high }
 *     onDelete: unlink             # or propagate
 * ```
 */
import { z } from 'zod';

export const SYNCED_FIELDS = [
  'title',
  'description',
  'status',
  'priority',
  'assignee',
  'labels',
  'dueDate',
  'body',
] as const;
export type SyncedField = (typeof SYNCED_FIELDS)[number];

/** Fields a `merge` policy knows how to merge: labels as a set, the rest line by line. */
export const MERGEABLE_FIELDS: ReadonlySet<SyncedField> = new Set(['labels', 'title', 'description', 'body']);

const statusCategory = z.enum(['backlog', 'todo', 'in_progress', 'done', 'canceled']);
const priority = z.enum(['none', 'low', 'medium', 'high', 'urgent']);

export const policySchema = z.union([
  z.literal('last-write-wins'),
  z.literal('merge'),
  z.literal('manual'),
  z.object({ prefer: z.array(z.string().min(1)).min(1) }).strict(),
]);
export type Policy = z.infer<typeof policySchema>;

export const sideSchema = z
  .object({
    platform: z.string().min(1),
    workspace: z.string().min(1),
    entityType: z.enum(['issue', 'message']).default('issue'),
  })
  .strict();
export type FlowSide = z.infer<typeof sideSchema>;

const fieldPolicies = Object.fromEntries(SYNCED_FIELDS.map((f) => [f, policySchema.optional()])) as Record<
  SyncedField,
  z.ZodOptional<typeof policySchema>
>;

/** `{ name, category, <platform>: <status name there> }`; a platform without a key uses `name`. */
export const statusMapEntrySchema = z
  .object({ name: z.string().min(1), category: statusCategory })
  .catchall(z.string().min(1));
export type StatusMapEntry = z.infer<typeof statusMapEntrySchema>;

/** `{ name: <flow priority>, <platform>: <canonical priority there> }`. */
export const priorityMapEntrySchema = z.object({ name: priority }).catchall(priority);
export type PriorityMapEntry = z.infer<typeof priorityMapEntrySchema>;

export const flowSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'must be letters, digits, - or _'),
    sides: z.array(sideSchema).min(2, 'a flow needs at least two sides'),
    direction: z.enum(['both', 'one-way']).default('both'),
    fields: z
      .object({ default: policySchema.default('last-write-wins'), ...fieldPolicies })
      .strict()
      .prefault({}),
    statusMap: z.array(statusMapEntrySchema).default([]),
    priorityMap: z.array(priorityMapEntrySchema).default([]),
    onDelete: z.enum(['unlink', 'propagate']).default('unlink'),
    /**
     * When a write cannot carry a field (a person, status or priority with no counterpart on the
     * target), `comment`: Lockstep says so once in a comment on the item (egress/notes.ts);
     * `none`: only the audit log and `lockstep_egress_unresolved_fields_total` record it.
     */
    notes: z.enum(['comment', 'none']).default('comment'),
  })
  .strict()
  .superRefine((flow, ctx) => {
    const platforms = flow.sides.map((s) => s.platform);
    // Sides are told apart by platform (status maps and `prefer` name platforms), so a flow
    // between two workspaces of one platform is not expressible yet.
    for (const [i, p] of platforms.entries()) {
      if (platforms.indexOf(p) !== i) {
        ctx.addIssue({
          code: 'custom',
          path: ['sides', i, 'platform'],
          message: `${p} is already side ${platforms.indexOf(p) + 1} of this flow: each side must be on a different platform`,
        });
      }
    }
    const checkPolicy = (policy: Policy | undefined, field: SyncedField | 'default') => {
      if (policy === undefined) return;
      if (policy === 'merge' && (field === 'default' || !MERGEABLE_FIELDS.has(field))) {
        ctx.addIssue({
          code: 'custom',
          path: ['fields', field],
          message: `merge applies to ${[...MERGEABLE_FIELDS].join(', ')} only; set it per field`,
        });
      }
      if (typeof policy === 'object') {
        for (const [i, p] of policy.prefer.entries()) {
          if (!platforms.includes(p)) {
            ctx.addIssue({
              code: 'custom',
              path: ['fields', field, 'prefer', i],
              message: `${p} is not a side of this flow (${platforms.join(', ')})`,
            });
          }
        }
      }
    };
    checkPolicy(flow.fields.default, 'default');
    for (const f of SYNCED_FIELDS) checkPolicy(flow.fields[f], f);

    const names = new Set<string>();
    const perPlatform = new Map<string, Set<string>>();
    for (const [i, entry] of flow.statusMap.entries()) {
      if (names.has(entry.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['statusMap', i, 'name'],
          message: `duplicate status ${entry.name}`,
        });
      }
      names.add(entry.name);
      for (const key of Object.keys(entry)) {
        if (key !== 'name' && key !== 'category' && !platforms.includes(key)) {
          ctx.addIssue({
            code: 'custom',
            path: ['statusMap', i, key],
            message: `${key} is not a side of this flow (${platforms.join(', ')})`,
          });
        }
      }
      for (const p of platforms) {
        const onPlatform = statusNameOn(entry, p).toLowerCase();
        const seen = perPlatform.get(p) ?? new Set<string>();
        if (seen.has(onPlatform)) {
          ctx.addIssue({
            code: 'custom',
            path: ['statusMap', i, p],
            message: `status ${onPlatform} on ${p} is mapped twice`,
          });
        }
        seen.add(onPlatform);
        perPlatform.set(p, seen);
      }
    }
    // Each platform's translation must be one-to-one, or a value would read back as another.
    for (const p of platforms) {
      const onPlatform = new Map<string, string>();
      for (const name of priority.options) {
        const entry = flow.priorityMap.find((e) => e.name === name);
        const there = entry?.[p] ?? name;
        const clash = onPlatform.get(there);
        if (clash !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['priorityMap'],
            message: `priorities ${clash} and ${name} would both be ${there} on ${p}; map every priority you move`,
          });
        }
        onPlatform.set(there, name);
      }
    }
    for (const [i, entry] of flow.priorityMap.entries()) {
      for (const key of Object.keys(entry)) {
        if (key !== 'name' && !platforms.includes(key)) {
          ctx.addIssue({
            code: 'custom',
            path: ['priorityMap', i, key],
            message: `${key} is not a side of this flow (${platforms.join(', ')})`,
          });
        }
      }
    }
  });

export type Flow = z.infer<typeof flowSchema>;
/** What a flow looks like in lockstep.yaml, before defaults. */
export type FlowInput = z.input<typeof flowSchema>;

export function statusNameOn(entry: StatusMapEntry, platform: string): string {
  const name = entry[platform];
  return typeof name === 'string' ? name : entry.name;
}

export function policyFor(flow: Flow, field: SyncedField): Policy {
  return flow.fields[field] ?? flow.fields.default;
}

export function policyName(policy: Policy): string {
  return typeof policy === 'string' ? policy : `prefer:${policy.prefer.join('>')}`;
}

/** May a change on `from` be written to `to`? One-way flows write from the first side to all others. */
export function flows(flow: Flow, from: string, to: string): boolean {
  if (from === to) return false;
  if (!flow.sides.some((s) => s.platform === to)) return false;
  if (flow.direction === 'both') return true;
  return flow.sides[0]!.platform === from;
}
