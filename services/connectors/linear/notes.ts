/**
 * Lockstep's visible notes (egress/notes.ts) as a Linear comment body: Linear comments are
 * markdown. Code spans take the longest backtick run inside plus one as their fence, so a value
 * holding backticks cannot end the span early.
 */
import type { NoteRun } from '../types.ts';

function codeSpan(text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** Markdown punctuation that would change how plain text renders. */
const escapePlain = (text: string): string => text.replace(/([\\`*_[\]<>#|~])/g, '\\$1');

export function noteMarkdown(paragraphs: NoteRun[][]): string {
  return paragraphs
    .map((runs) =>
      runs
        .map((r) =>
          r.style === 'code'
            ? codeSpan(r.text)
            : r.style === 'strong'
              ? `**${escapePlain(r.text)}**`
              : escapePlain(r.text),
        )
        .join('')
        // Adjacent strong runs read as one: `**a****b**` would not render as bold in every parser.
        .replace(/\*\*\*\*/g, ''),
    )
    .join('\n\n');
}
