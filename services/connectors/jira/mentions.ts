/**
 * The Jira issues a text names (`lockstep backfill` pairs by them): an issue key of a configured
 * project (`ENG-12`), bare or inside a browse URL (`https://acme.atlassian.net/browse/ENG-12`),
 * as Jira's own Linear integration, Sync2Jira, Unito and people leave them in a description or a
 * link. Keys of projects outside the configuration are not Lockstep's to pair.
 */
import type { JiraConfig } from './config.ts';

export function jiraMentions(text: string, config: Pick<JiraConfig, 'projects'>): string[] {
  const projects = config.projects.join('|');
  const re = new RegExp(`(?<![A-Za-z0-9_-])(?:${projects})-[1-9]\\d*(?![A-Za-z0-9_])`, 'g');
  return [...new Set(text.match(re) ?? [])];
}
