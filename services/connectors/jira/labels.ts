/**
 * Jira labels cannot contain spaces (Jira refuses them), while Linear's can. Lockstep writes a
 * label with whitespace as Jira's spelling of it, each run of whitespace an underscore:
 * `needs review` → `needs_review`. The mapping is not reversible on its own (`needs_review` may be
 * a Jira label in its own right), so the connector declares it as `canonicalLabel` and the
 * reconciler reads Jira's labels back through it against the labels the link already knows
 * (README.md, "Labels").
 */
export function jiraLabel(label: string): string {
  return label.replace(/\s+/g, '_');
}

/** Labels as Jira holds them: Jira's spelling, each once (two labels may share one spelling). */
export function jiraLabels(labels: readonly string[]): string[] {
  return [...new Set(labels.map(jiraLabel))];
}
