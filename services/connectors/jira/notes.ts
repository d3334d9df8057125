/**
 * Lockstep's visible notes (egress/notes.ts) as a Jira comment body: Jira Cloud's REST v3 takes
 * comment bodies as Atlassian Document Format only. One paragraph per note paragraph; `strong`
 * and `code` are text marks. Per the ADF spec a text node is never empty and the `code` mark
 * combines with no mark but `link`, so each run is its own text node with one mark at most.
 */
import type { NoteRun } from '../types.ts';

type AdfText = { type: 'text'; text: string; marks?: { type: 'strong' | 'code' }[] };

export function noteAdf(paragraphs: NoteRun[][]): {
  type: 'doc';
  version: 1;
  content: { type: 'paragraph'; content: AdfText[] }[];
} {
  return {
    type: 'doc',
    version: 1,
    content: paragraphs
      .map((runs) => ({
        type: 'paragraph' as const,
        content: runs
          .filter((r) => r.text.length > 0)
          .map((r): AdfText =>
            r.style
              ? { type: 'text', text: r.text, marks: [{ type: r.style }] }
              : { type: 'text', text: r.text },
          ),
      }))
      .filter((p) => p.content.length > 0),
  };
}
