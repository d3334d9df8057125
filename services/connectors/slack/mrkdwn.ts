/**
 * Slack mrkdwn ↔ Lockstep's markdown (the subset asana/richtext.ts documents: `**strong**`, `_em_`
 * (`*em*` read too), `~~strike~~`, `` `code` ``, fenced code, `[text](url)`, `-`/`1.` lists nested
 * by indentation, `>` quotes, `---`, `#` headings, backslash escapes for literal syntax).
 *
 * Slack's dialect (docs.slack.dev/messaging/formatting-message-text): `*bold*`, `_italic_`,
 * `~strike~`, `` `code` ``, ```` ```block``` ````, `<url|text>`, `<url>`, `<@U…>` user, `<#C…|name>`
 * channel and `<!here>`-style special mentions; `>` at a line's start quotes it. Lists are plain
 * text (`• item` is what Slack's composer writes). `&`, `<`, `>` of the text are sent as `&amp;`,
 * `&lt;`, `&gt;`; only the delimiters of `<…>` are bare. Emphasis marks count only at word edges
 * (`a*b*c` is text), and there is no escape character: a literal `*word*` cannot be written.
 *
 * mrkdwnToMarkdown(markdownToMrkdwn(md)) === md for canonical markdown of that subset, except
 * (each tested in mrkdwn.test.ts): `# heading` becomes a bold line (mrkdwn has no headings), `*em*`
 * comes back as `_em_`, a fence's language tag is dropped, formatting inside a link's text is
 * dropped (Slack shows link labels plain), and escaped emphasis (`\*word\*`) comes back as emphasis.
 * Inbound, Slack's mentions become plain text (`@U123`, `#general`, `@here`): markdown has no
 * mention syntax, and writing `@U123` back does not mention anyone.
 */

type Inline =
  | { kind: 'text'; text: string }
  | { kind: 'strong' | 'em' | 'strike'; children: Inline[] }
  | { kind: 'code'; text: string }
  | { kind: 'link'; url: string; text: string };

const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);
const nonSpace = (c: string | undefined): boolean => c !== undefined && !/\s/.test(c);
const isAlnum = (c: string | undefined): boolean => c !== undefined && /[\p{L}\p{N}]/u.test(c);
const PUNCT = /[!-/:-@[-`{-~]/;

function pushText(out: Inline[], text: string): void {
  const last = out[out.length - 1];
  if (last?.kind === 'text') last.text += text;
  else if (text !== '') out.push({ kind: 'text', text });
}

function plainText(nodes: Inline[]): string {
  return nodes
    .map((n) =>
      n.kind === 'text' || n.kind === 'code' ? n.text : n.kind === 'link' ? n.text : plainText(n.children),
    )
    .join('');
}

// ---------------------------------------------------------------- markdown → inline nodes

/** The index just past the bracket matching the one at `at`, skipping escapes; -1 when none. */
function matchBracket(s: string, at: number, open: string, close: string): number {
  let depth = 0;
  for (let i = at; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === open) depth++;
    else if (s[i] === close && --depth === 0) return i + 1;
  }
  return -1;
}

const unescapeMd = (s: string): string => s.replace(/\\([!-/:-@[-`{-~])/g, '$1');

/** Index of the closing `d` at or after `from`, skipping escapes and code spans; -1 when none. */
function findMdCloser(s: string, from: number, d: string, ok: (i: number) => boolean): number {
  for (let i = from; i < s.length; i++) {
    if (s[i] === '\\' && PUNCT.test(s[i + 1] ?? '')) {
      i++;
      continue;
    }
    if (s[i] === '`') {
      const run = /^`+/.exec(s.slice(i))![0];
      const end = s.indexOf(run, i + run.length);
      if (end > 0) {
        i = end + run.length - 1;
        continue;
      }
    }
    if (s.startsWith(d, i) && ok(i)) return i;
  }
  return -1;
}

const MD_EMPHASIS = [
  ['**', 'strong'],
  ['~~', 'strike'],
  ['*', 'em'],
  ['_', 'em'],
] as const;

/** The same emphasis rules as asana/richtext.ts, so both read one markdown alike. */
function mdEmphasis(
  s: string,
  i: number,
): { kind: 'strong' | 'em' | 'strike'; d: string; end: number } | null {
  for (const [d, kind] of MD_EMPHASIS) {
    if (!s.startsWith(d, i) || !nonSpace(s[i + d.length])) continue;
    if (d === '_' && isAlnum(s[i - 1])) continue;
    if (d.length === 1 && s[i + 1] === d) continue;
    const end = findMdCloser(
      s,
      i + d.length + 1,
      d,
      (j) =>
        nonSpace(s[j - 1]) &&
        (d !== '_' || !isAlnum(s[j + 1])) &&
        (d.length > 1 || (s[j + 1] !== d && s[j - 1] !== d)),
    );
    if (end > 0) return { kind, d, end };
  }
  return null;
}

function parseMarkdownInline(s: string): Inline[] {
  const out: Inline[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '\\' && PUNCT.test(s[i + 1] ?? '')) {
      pushText(out, s[i + 1]!);
      i += 2;
      continue;
    }
    if (c === '`') {
      const run = /^`+/.exec(s.slice(i))![0];
      const end = s.indexOf(run, i + run.length);
      if (end > 0 && s[end + run.length] !== '`') {
        let code = s.slice(i + run.length, end);
        if (code.length > 1 && code.startsWith(' ') && code.endsWith(' ') && code.trim() !== '')
          code = code.slice(1, -1);
        out.push({ kind: 'code', text: code });
        i = end + run.length;
        continue;
      }
      pushText(out, run);
      i += run.length;
      continue;
    }
    if (c === '[') {
      const textEnd = matchBracket(s, i, '[', ']');
      const urlEnd = textEnd > 0 && s[textEnd] === '(' ? matchBracket(s, textEnd, '(', ')') : -1;
      if (urlEnd > 0) {
        const url = unescapeMd(s.slice(textEnd + 1, urlEnd - 1)).trim();
        const text = plainText(parseMarkdownInline(s.slice(i + 1, textEnd - 1)));
        if (url) out.push({ kind: 'link', url, text });
        else pushText(out, text);
        i = urlEnd;
        continue;
      }
    }
    const span = mdEmphasis(s, i);
    if (span) {
      out.push({ kind: span.kind, children: parseMarkdownInline(s.slice(i + span.d.length, span.end)) });
      i = span.end + span.d.length;
      continue;
    }
    pushText(out, c);
    i++;
  }
  return out;
}

// ---------------------------------------------------------------- inline nodes → mrkdwn

const escapeSlack = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const SLACK_MARK = { strong: '*', em: '_', strike: '~' } as const;

function toMrkdwn(nodes: Inline[]): string {
  return nodes
    .map((n) => {
      switch (n.kind) {
        case 'text':
          return escapeSlack(n.text);
        case 'code':
          return `\`${escapeSlack(n.text)}\``;
        case 'link':
          return n.text === '' ? `<${escapeSlack(n.url)}>` : `<${escapeSlack(n.url)}|${escapeSlack(n.text)}>`;
        default:
          return `${SLACK_MARK[n.kind]}${toMrkdwn(n.children)}${SLACK_MARK[n.kind]}`;
      }
    })
    .join('');
}

// ---------------------------------------------------------------- mrkdwn → inline nodes

const unescapeSlack = (s: string): string =>
  s.replace(/&(amp|lt|gt);/g, (_w, e: string) => (e === 'amp' ? '&' : e === 'lt' ? '<' : '>'));

/** Slack's special mentions (`<!here>`, `<!subteam^S1|@team>`, `<!date^…|fallback>`) as text. */
function specialMention(body: string, label: string | undefined): string {
  if (label !== undefined) return label;
  return `@${body.split('^')[0]}`;
}

/** A `<…>` sequence as nodes: a link, or the text a mention reads as. */
function controlSequence(content: string): Inline {
  const bar = content.indexOf('|');
  const target = bar < 0 ? content : content.slice(0, bar);
  const label = bar < 0 ? undefined : unescapeSlack(content.slice(bar + 1));
  if (target.startsWith('@')) return { kind: 'text', text: `@${target.slice(1)}` };
  if (target.startsWith('#')) return { kind: 'text', text: `#${label ?? target.slice(1)}` };
  if (target.startsWith('!')) return { kind: 'text', text: specialMention(target.slice(1), label) };
  const url = unescapeSlack(target);
  // A bare <url> is how Slack delivers a link it recognized in plain text: it reads as that text.
  return label === undefined || label === ''
    ? { kind: 'text', text: url }
    : { kind: 'link', url, text: label };
}

/** Slack's word-edge rule: a mark opens after a non-word character and closes before one. */
function slackCloser(s: string, from: number, d: string): number {
  for (let i = from; i < s.length; i++) {
    if (s[i] === '`') {
      const end = s.indexOf('`', i + 1);
      if (end > 0) i = end;
      continue;
    }
    if (s[i] === '<') {
      const end = s.indexOf('>', i + 1);
      if (end > 0) i = end;
      continue;
    }
    if (s[i] === d && nonSpace(s[i - 1]) && !isAlnum(s[i + 1])) return i;
  }
  return -1;
}

const SLACK_EMPHASIS: Readonly<Record<string, 'strong' | 'em' | 'strike'>> = {
  '*': 'strong',
  _: 'em',
  '~': 'strike',
};

function parseMrkdwnInline(s: string): Inline[] {
  const out: Inline[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '<') {
      const end = s.indexOf('>', i + 1);
      if (end > i + 1) {
        const node = controlSequence(s.slice(i + 1, end));
        if (node.kind === 'text') pushText(out, node.text);
        else out.push(node);
        i = end + 1;
        continue;
      }
    }
    if (c === '`') {
      const end = s.indexOf('`', i + 1);
      if (end > i + 1) {
        out.push({ kind: 'code', text: unescapeSlack(s.slice(i + 1, end)) });
        i = end + 1;
        continue;
      }
    }
    const kind = SLACK_EMPHASIS[c];
    if (kind && !isAlnum(s[i - 1]) && s[i - 1] !== c && nonSpace(s[i + 1]) && s[i + 1] !== c) {
      const end = slackCloser(s, i + 2, c);
      if (end > 0) {
        out.push({ kind, children: parseMrkdwnInline(s.slice(i + 1, end)) });
        i = end + 1;
        continue;
      }
    }
    const next = s.slice(i).search(/[<`*_~]/);
    const run = next < 0 ? s.slice(i) : s.slice(i, i + Math.max(next, 1));
    pushText(out, unescapeSlack(run));
    i += run.length;
  }
  return out;
}

// ---------------------------------------------------------------- inline nodes → markdown

/** Escapes what the markdown reader would take as syntax in a run of text (asana/richtext.ts's rule). */
function escapeMdText(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' || c === '`' || c === '[' || c === ']') out += `\\${c}`;
    else if (c === '*' && !(isSpace(s[i - 1]) && isSpace(s[i + 1]))) out += '\\*';
    else if (c === '~' && (s[i + 1] === '~' || s[i - 1] === '~' || i === 0 || i === s.length - 1))
      out += '\\~';
    else if (c === '_' && !(isAlnum(s[i - 1]) && isAlnum(s[i + 1]))) out += '\\_';
    else out += c;
  }
  return out;
}

function codeSpan(content: string): string {
  const longest = Math.max(0, ...[...content.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = content.trim() !== '' && /^[ `]|[ `]$/.test(content) ? ' ' : '';
  return `${fence}${pad}${content}${pad}${fence}`;
}

const MD_MARK = { strong: '**', em: '_', strike: '~~' } as const;

function toMarkdown(nodes: Inline[]): string {
  return nodes
    .map((n) => {
      switch (n.kind) {
        case 'text':
          return escapeMdText(n.text);
        case 'code':
          return codeSpan(n.text);
        case 'link':
          return `[${escapeMdText(n.text)}](${n.url.replace(/[\\()]/g, '\\$&')})`;
        default:
          return `${MD_MARK[n.kind]}${toMarkdown(n.children)}${MD_MARK[n.kind]}`;
      }
    })
    .join('');
}

/** Escapes what would start a block at the start of a plain line. */
function escapeLineStart(line: string): string {
  return line
    .replace(/^(\s*)([-+>])(?=\s|$)/, '$1\\$2')
    .replace(/^(\s*)(#{1,6})(?=\s|$)/, '$1\\$2')
    .replace(/^(\s*)(\d+)\.(?=\s|$)/, '$1$2\\.');
}

// ---------------------------------------------------------------- blocks

const MD_FENCE = /^(`{3,}|~{3,})(.*)$/;
const HEADING = /^#{1,6}[ \t]+(.*?)[ \t]*$/;
const RULE = /^ {0,3}(?:-{3,}|\*{3,}|_{3,})[ \t]*$/;
const MD_QUOTE = /^> ?(.*)$/;
const MD_BULLET = /^( *)[-*+][ \t]+(.*)$/;
const ORDERED = /^( *)(\d+)\.[ \t]+(.*)$/;

export function markdownToMrkdwn(md: string): string {
  const lines = md.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = MD_FENCE.exec(line);
    if (fence) {
      const mark = fence[1]!;
      const body: string[] = [];
      for (
        i++;
        i < lines.length && !new RegExp(`^\\${mark[0]}{${mark.length},}[ \\t]*$`).test(lines[i]!);
        i++
      )
        body.push(lines[i]!);
      // The info string (`ts` of ```ts) has no place in mrkdwn.
      out.push(`\`\`\`\n${escapeSlack(body.join('\n'))}\n\`\`\``);
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      // No headings in mrkdwn: a bold line (read back as **text**).
      const text = plainText(parseMarkdownInline(heading[1]!));
      out.push(text === '' ? '' : `*${escapeSlack(text)}*`);
      continue;
    }
    if (RULE.test(line)) {
      out.push('---');
      continue;
    }
    const quote = MD_QUOTE.exec(line);
    if (quote) {
      out.push(`> ${toMrkdwn(parseMarkdownInline(quote[1]!))}`.trimEnd());
      continue;
    }
    const bullet = MD_BULLET.exec(line);
    if (bullet) {
      out.push(`${bullet[1]}• ${toMrkdwn(parseMarkdownInline(bullet[2]!))}`);
      continue;
    }
    const ordered = ORDERED.exec(line);
    if (ordered) {
      out.push(`${ordered[1]}${ordered[2]}. ${toMrkdwn(parseMarkdownInline(ordered[3]!))}`);
      continue;
    }
    out.push(toMrkdwn(parseMarkdownInline(line)));
  }
  return out.join('\n');
}

const SLACK_QUOTE = /^(?:>|&gt;) ?(.*)$/;
const SLACK_BULLET = /^( *)[•◦▪▫‣][ \t]+(.*)$/u;

function mrkdwnLine(line: string): string {
  const quote = SLACK_QUOTE.exec(line);
  if (quote) return `> ${toMarkdown(parseMrkdwnInline(quote[1]!))}`.trimEnd();
  const bullet = SLACK_BULLET.exec(line);
  if (bullet) return `${bullet[1]}- ${toMarkdown(parseMrkdwnInline(bullet[2]!))}`;
  const ordered = ORDERED.exec(line);
  if (ordered) return `${ordered[1]}${ordered[2]}. ${toMarkdown(parseMrkdwnInline(ordered[3]!))}`;
  if (/^-{3,}[ \t]*$/.test(line)) return '---';
  return escapeLineStart(toMarkdown(parseMrkdwnInline(line)));
}

/** Slack text (an event's or a read message's `text`) as Lockstep's markdown. */
export function mrkdwnToMarkdown(text: string): string {
  // Code blocks first: inside them nothing is formatting, and they may span lines. Text beside a
  // block on the same line moves to a line of its own (markdown fences stand alone).
  const parts = text.split(/```([\s\S]*?)```/);
  const blocks: string[] = [];
  parts.forEach((part, k) => {
    if (k % 2 === 1) {
      blocks.push(`\`\`\`\n${unescapeSlack(part.replace(/^\n/, '').replace(/\n$/, ''))}\n\`\`\``);
      return;
    }
    let seg = k > 0 ? part.replace(/^\n/, '') : part;
    if (k < parts.length - 1) seg = seg.replace(/\n$/, '');
    if (seg === '' && parts.length > 1) return;
    blocks.push(seg.split('\n').map(mrkdwnLine).join('\n'));
  });
  return blocks.join('\n');
}
