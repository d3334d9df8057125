/**
 * Lockstep's visible notes (egress/notes.ts) as an Asana comment body: `html_text` is Asana rich
 * text, one `<body>` of well-formed XML with a small tag whitelist (developers.asana.com/docs/rich-text),
 * where `<strong>` and `<code>` are allowed in comments and a newline is a line break. Paragraphs are
 * separated by a blank line; text is XML-escaped (a bare `&` is refused).
 */
import type { NoteRun } from '../types.ts';
import { xmlChars } from './richtext.ts';

const XML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
};

/** XML-escaped text, without the characters XML forbids (Asana would refuse the whole comment). */
export function escapeXml(text: string): string {
  return xmlChars(text).replace(/[&<>"]/g, (c) => XML_ESCAPES[c]!);
}

const run = (r: NoteRun): string =>
  r.style ? `<${r.style}>${escapeXml(r.text)}</${r.style}>` : escapeXml(r.text);

export function noteHtml(paragraphs: NoteRun[][]): string {
  const text = paragraphs
    .map((runs) =>
      runs
        .filter((r) => r.text.length > 0)
        .map(run)
        .join(''),
    )
    .filter((p) => p.length > 0)
    .join('\n\n');
  return `<body>${text}</body>`;
}
