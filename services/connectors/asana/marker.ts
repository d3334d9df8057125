/**
 * The create marker of a task or comment Lockstep made on Asana. Asana's `external` field would
 * hold it, but it needs an OAuth app and Lockstep may run on a personal access token, so the
 * marker is the last line of the html body instead: `lockstep-link:<encodeURIComponent(marker)>`,
 * plain text that survives Asana's rich-text whitelist and the round trip through html ↔ markdown.
 * normalize strips that line from description/body, so it never propagates, and reports it as
 * Source.marker.
 */

const PREFIX = 'lockstep-link:';
// encodeURIComponent leaves only these characters unescaped.
const ENCODED = "[A-Za-z0-9\\-_.!~*'()%]+";
/** The marker line at the very end of a text, after its line break (or alone). */
const TRAILING = new RegExp(`(?:^|\\n)${PREFIX}(${ENCODED})[ \\t]*$`);
/** The same line with any blank lines before it, as stripMarker removes it. */
// In markdown the line may carry backslash escapes (htmlToMarkdown escapes `*`, `_`, `~`, `(`…).
const TRAILING_WITH_GAP = new RegExp(`(?:^|\\n+)${PREFIX}[A-Za-z0-9\\-_.!~*'()%\\\\]+[ \\t]*\\n*$`);

/** The line Lockstep's create ends a task's html_notes (or a comment's html_text) with. */
export function markerLine(marker: string): string {
  return `${PREFIX}${encodeURIComponent(marker)}`;
}

/**
 * `html` (an Asana `<body>…</body>`) with the marker line as its last line. Asana keeps newlines
 * inside body as line breaks, so the line reads back as its own line.
 */
export function withMarkerLine(html: string, marker: string): string {
  const line = markerLine(marker);
  const m = /^([\s\S]*?)<\/body>\s*$/.exec(html);
  if (!m) return `<body>${line}</body>`;
  const inner = m[1]!;
  return inner === '<body>' || inner.trim() === '<body>'
    ? `<body>${line}</body>`
    : `${inner}\n${line}</body>`;
}

/**
 * The marker at the end of a text: plain text, markdown, or an Asana html body (its `</body>` and
 * trailing whitespace are ignored). Null when there is none, or when its escape is malformed (not
 * one Lockstep wrote). Only the last line counts: a marker quoted mid-text is not a create marker.
 */
export function markerIn(textOrHtml: string | null | undefined): string | null {
  if (!textOrHtml) return null;
  const text = textOrHtml
    .replace(/\s*<\/body>\s*$/, '')
    .replace(/^<body>/, '\n')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/\s+$/, '');
  const m = TRAILING.exec(text);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]!) || null;
  } catch {
    return null;
  }
}

/** `text` (markdown or plain) without its trailing marker line and the line break(s) before it. */
export function stripMarker(text: string): string {
  return text.replace(TRAILING_WITH_GAP, '');
}
