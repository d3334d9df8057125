/**
 * A Priority enum custom field (Urgent / High / Medium / Low, and a disabled "Someday") to add to
 * a seed: the demo seed has none, as a workspace without Premium would not.
 */
import type { AsanaSeed, AsanaSeedCustomField } from './model.ts';

export const PRIORITY_FIELD = {
  gid: '1100000000000200',
  options: {
    Urgent: '1100000000000201',
    High: '1100000000000202',
    Medium: '1100000000000203',
    Low: '1100000000000204',
    Someday: '1100000000000205',
  },
} as const;

/**
 * `seed` with the Priority field attached to its first project. `locked`: locked by another user
 * (writes answer 403); `premium: false`: the workspace has no Premium (custom fields answer 402).
 */
export function withPriorityField<S extends AsanaSeed>(
  seed: S,
  opts: { locked?: boolean; premium?: boolean } = {},
): S {
  const field: AsanaSeedCustomField = {
    gid: PRIORITY_FIELD.gid,
    name: 'Priority',
    type: 'enum',
    enum_options: Object.entries(PRIORITY_FIELD.options).map(([name, gid]) => ({
      gid,
      name,
      enabled: name !== 'Someday',
    })),
    ...(opts.locked && { locked: true }),
  };
  return {
    ...seed,
    workspaces: (seed.workspaces ?? []).map((w, i) =>
      i === 0 && opts.premium === false ? { ...w, premium: false } : w,
    ),
    customFields: [...(seed.customFields ?? []), field],
    projects: (seed.projects ?? []).map((p, i) =>
      i === 0 ? { ...p, custom_field_settings: [...(p.custom_field_settings ?? []), field.gid] } : p,
    ),
  };
}
