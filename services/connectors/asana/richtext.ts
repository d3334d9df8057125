/**
 * Asana rich text (`html_notes`, `html_text`) ↔ Lockstep's markdown.
 *
 * Asana's dialect (developers.asana.com/docs/rich-text, and Asana's forum post "Changes are coming
 * to Rich Text" that finalized h1/h2/hr): one `<body>` root, well-formed XML, a tag whitelist
 * (strong, em, u, s, code, ol, ul, li, a; h1, h2, hr, pre, blockquote), `href` the only attribute
 * written here, and newlines inside body instead of `<p>`. Block elements (lists, headings, code
 * blocks, quotes, rules) delimit themselves; two newlines separate paragraphs.
 *
 * The markdown is the subset that maps onto that whitelist: `**strong**`, `_em_` (`*em*` is read
 * too), `~~strike~~`, `` `code` ``, `[text](url)`, `-`/`1.` lists (nested by indentation), `#`/`##`,
 * fenced code, `>` quotes, `---`, paragraphs separated by blank lines. Inline HTML is not markdown
 * here: `<b>` in markdown stays the text `<b>` (escaped on the way to Asana), and Asana text that
 * looks like markdown is backslash-escaped on the way back, so both directions round-trip.
 * `<u>` has no markdown form and reads as plain text; tags off the whitelist (img, table, …) read as
 * their text, so a future Asana tag degrades instead of failing.
 *
 * No maintained converter exists for Asana's dialect (marked/turndown speak browser HTML with
 * `<p>`), so this is a small parser with an exact round trip, tested by a table of cases.
 */

// ---------------------------------------------------------------- html → markdown

interface El {
  tag: string;
  attrs: Record<string, string>;
  children: Node[];
}
type Node = El | string;

const VOID = new Set(['hr', 'br', 'img']);
const ENTITY: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, name: string) => {
    if (name.startsWith('#x')) return safeCodePoint(parseInt(name.slice(2), 16)) ?? whole;
    if (name.startsWith('#')) return safeCodePoint(parseInt(name.slice(1), 10)) ?? whole;
    return ENTITY[name] ?? whole;
  });
}

function safeCodePoint(n: number): string | null {
  return Number.isInteger(n) && n >= 0 && n <= 0x10ffff ? String.fromCodePoint(n) : null;
}

const TOKEN =
  /<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s=/>]+(?:\s*=\s*(?:"[^"]*"|'[^']*'))?)*)\s*(\/?)>|<!--[\s\S]*?-->|[^<]+|</g;
const ATTR = /([^\s=/>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'))?/g;

/** A tolerant parse: a stray closer is dropped, an unclosed element closes at the end. */
function parseHtml(html: string): El {
  const root: El = { tag: '#root', attrs: {}, children: [] };
  const stack: El[] = [root];
  for (const m of html.matchAll(TOKEN)) {
    const top = stack[stack.length - 1]!;
    const [whole, close, rawName, rawAttrs, selfClose] = m;
    if (rawName === undefined) {
      if (!whole.startsWith('<!--')) top.children.push(decodeEntities(whole));
      continue;
    }
    const tag = rawName.toLowerCase();
    if (close) {
      const at = stack.map((e) => e.tag).lastIndexOf(tag);
      if (at > 0) stack.length = at;
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of (rawAttrs ?? '').matchAll(ATTR))
      attrs[a[1]!.toLowerCase()] = decodeEntities(a[2] ?? a[3] ?? '');
    const el: El = { tag, attrs, children: [] };
    top.children.push(el);
    if (!selfClose && !VOID.has(tag)) stack.push(el);
  }
  return root;
}

function textOf(n: Node): string {
  if (typeof n === 'string') return n;
  if (n.tag === 'br') return '\n';
  return n.children.map(textOf).join('');
}

const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);
const isAlnum = (c: string | undefined): boolean => c !== undefined && /[\p{L}\p{N}]/u.test(c);

/** Escapes what the markdown parser below would read as syntax inside a run of text. */
function escapeText(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' || c === '`' || c === '[' || c === ']') out += `\\${c}`;
    // A star with space on both sides can neither open nor close emphasis (`2 * 3`).
    else if (c === '*' && !(isSpace(s[i - 1]) && isSpace(s[i + 1]))) out += '\\*';
    else if (c === '~' && (s[i + 1] === '~' || s[i - 1] === '~' || i === 0 || i === s.length - 1))
      out += '\\~';
    // An underscore inside a word is never emphasis; one at a word's edge could be.
    else if (c === '_' && !(isAlnum(s[i - 1]) && isAlnum(s[i + 1]))) out += '\\_';
    else out += c;
  }
  return out;
}

/** Escapes what would start a block at the start of a line. */
function escapeLineStarts(md: string): string {
  return md
    .split('\n')
    .map((line) =>
      line
        .replace(/^(\s*)([-+>])(?=\s|$)/, '$1\\$2')
        .replace(/^(\s*)(#{1,6})(?=\s|$)/, '$1\\$2')
        .replace(/^(\s*)(\d+)\.(?=\s|$)/, '$1$2\\.')
        .replace(/^(\s*)(---+|___+)\s*$/, (_w, sp: string, rule: string) => `${sp}\\${rule}`),
    )
    .join('\n');
}

function codeSpan(content: string): string {
  const longest = Math.max(0, ...[...content.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = content.trim() !== '' && /^[ `]|[ `]$/.test(content) ? ' ' : '';
  return `${fence}${pad}${content}${pad}${fence}`;
}

/** Moves whitespace at the edges of a span outside its delimiters (`** a **` is not strong). */
function wrap(inner: string, open: string, close = open): string {
  const m = /^(\s*)([\s\S]*?)(\s*)$/.exec(inner)!;
  return m[2] === '' ? inner : `${m[1]}${open}${m[2]}${close}${m[3]}`;
}

function inlineMd(nodes: Node[]): string {
  const parts = nodes.map((n) => inlineNode(n));
  // `_em_` needs a non-word character on each side; inside a word, `*em*` reads the same.
  return parts
    .map((p, i) => {
      const n = nodes[i]!;
      if (typeof n === 'string' || n.tag !== 'em' || p.trim() === '') return p;
      const before = parts.slice(0, i).join('').slice(-1);
      const after = parts.slice(i + 1).join('')[0];
      return wrap(p, isAlnum(before) || isAlnum(after) ? '*' : '_');
    })
    .join('');
}

function inlineNode(n: Node): string {
  if (typeof n === 'string') return escapeText(n);
  switch (n.tag) {
    case 'strong':
    case 'b':
      return wrap(inlineMd(n.children), '**');
    case 'em':
    case 'i':
      return inlineMd(n.children); // delimiters chosen by inlineMd, which sees the neighbours
    case 's':
    case 'del':
    case 'strike':
      return wrap(inlineMd(n.children), '~~');
    case 'code':
      return codeSpan(textOf(n));
    case 'br':
      return '\n';
    case 'a': {
      const href = n.attrs['href'];
      const text = inlineMd(n.children);
      if (!href) return text;
      return `[${text || escapeText(href)}](${href.replace(/[\\()]/g, '\\$&')})`;
    }
    default:
      return inlineMd(n.children);
  }
}

const BLOCK = new Set([
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'ul',
  'ol',
  'pre',
  'blockquote',
  'hr',
  'p',
  'div',
  'table',
  'tr',
]);

function indent(md: string, by: string): string {
  return md
    .split('\n')
    .map((l, i) => (i === 0 || l === '' ? l : by + l))
    .join('\n');
}

function listMd(el: El): string {
  const items = el.children.filter((c): c is El => typeof c !== 'string' && c.tag === 'li');
  return items
    .map((li, i) => {
      const marker = el.tag === 'ol' ? `${i + 1}. ` : '- ';
      const pad = ' '.repeat(marker.length);
      const inline: Node[] = [];
      const nested: string[] = [];
      for (const c of li.children) {
        if (typeof c !== 'string' && (c.tag === 'ul' || c.tag === 'ol')) nested.push(listMd(c));
        else inline.push(c);
      }
      const head = escapeLineStarts(inlineMd(inline).replace(/^\s+|\s+$/g, ''));
      const body = [head, ...nested].filter((s) => s !== '').join('\n');
      return marker + indent(body, pad);
    })
    .join('\n');
}

function blockMd(el: El): string {
  switch (el.tag) {
    case 'h1':
    case 'h2':
    case 'h3':
    case 'h4':
    case 'h5':
    case 'h6':
      return `${el.tag === 'h1' ? '#' : '##'} ${inlineMd(el.children).replace(/\s+/g, ' ').trim()}`;
    case 'ul':
    case 'ol':
      return listMd(el);
    case 'pre': {
      const code = textOf(el).replace(/\n$/, '');
      const longest = Math.max(2, ...[...code.matchAll(/^`{3,}/gm)].map((m) => m[0].length));
      const fence = '`'.repeat(longest + 1);
      return `${fence}\n${code}\n${fence}`;
    }
    case 'blockquote':
      return blocksMd(el.children)
        .split('\n')
        .map((l) => (l === '' ? '>' : `> ${l}`))
        .join('\n');
    case 'hr':
      return '---';
    default:
      return blocksMd(el.children);
  }
}

function blocksMd(nodes: Node[]): string {
  const blocks: string[] = [];
  let run: Node[] = [];
  const flush = (): void => {
    const md = inlineMd(run).replace(/^\n+|\n+$/g, '');
    run = [];
    for (const para of md.split(/\n[ \t]*\n+/)) if (para.trim() !== '') blocks.push(escapeLineStarts(para));
  };
  for (const n of nodes) {
    if (typeof n !== 'string' && BLOCK.has(n.tag)) {
      flush();
      const md = blockMd(n);
      if (md.trim() !== '') blocks.push(md);
    } else run.push(n);
  }
  flush();
  return blocks.join('\n\n');
}

/** Asana rich text (`<body>…</body>`) → markdown. Never throws: malformed html reads as best it can. */
export function htmlToMarkdown(html: string): string {
  const root = parseHtml(html);
  const body = root.children.find((c): c is El => typeof c !== 'string' && c.tag === 'body');
  return blocksMd(body ? body.children : root.children);
}

// ---------------------------------------------------------------- markdown → html

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const isXmlChar = (n: number): boolean =>
  n === 0x9 ||
  n === 0xa ||
  n === 0xd ||
  (n >= 0x20 && n <= 0xd7ff) ||
  (n >= 0xe000 && n <= 0xfffd) ||
  (n >= 0x10000 && n <= 0x10ffff);

/**
 * `s` without the characters XML 1.0 forbids (C0 controls but tab, newline and return, U+FFFE,
 * U+FFFF, lone surrogates): a body holding one is not XML, and Asana refuses the whole write.
 */
export function xmlChars(s: string): string {
  let out = '';
  // for…of walks code points: a surrogate pair is one, a lone surrogate is itself.
  for (const c of s) if (isXmlChar(c.codePointAt(0)!)) out += c;
  return out;
}
const escapeAttr = (s: string): string => escapeXml(s).replace(/"/g, '&quot;');
const PUNCT = /[!-/:-@[-`{-~]/;

/** Index of the closing delimiter `d` at or after `from`, skipping escapes and code spans; -1 when none. */
function findCloser(s: string, from: number, d: string, ok: (i: number) => boolean): number {
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

/** The index just past the `]` matching the `[` at `at`, or -1. */
function matchBracket(s: string, at: number, open: string, close: string): number {
  let depth = 0;
  for (let i = at; i < s.length; i++) {
    if (s[i] === '\\') {
      i++;
      continue;
    }
    if (s[i] === open) depth++;
    else if (s[i] === close && --depth === 0) return i + 1;
  }
  return -1;
}

function unescapeMd(s: string): string {
  return s.replace(/\\([!-/:-@[-`{-~])/g, '$1');
}

function inlineHtml(s: string): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    const next = s[i + 1];
    if (c === '\\' && next !== undefined && PUNCT.test(next)) {
      out += escapeXml(next);
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
        out += `<code>${escapeXml(code)}</code>`;
        i = end + run.length;
        continue;
      }
      out += escapeXml(run);
      i += run.length;
      continue;
    }
    if (c === '[') {
      const textEnd = matchBracket(s, i, '[', ']');
      if (textEnd > 0 && s[textEnd] === '(') {
        const urlEnd = matchBracket(s, textEnd, '(', ')');
        if (urlEnd > 0) {
          const href = unescapeMd(s.slice(textEnd + 1, urlEnd - 1)).trim();
          const text = inlineHtml(s.slice(i + 1, textEnd - 1));
          // Asana refuses an <a> with neither an href nor a gid: `[text]()` is just its text.
          out += href ? `<a href="${escapeAttr(href)}">${text}</a>` : text;
          i = urlEnd;
          continue;
        }
      }
    }
    const span = emphasis(s, i);
    if (span) {
      out += `<${span.tag}>${inlineHtml(s.slice(i + span.d.length, span.end))}</${span.tag}>`;
      i = span.end + span.d.length;
      continue;
    }
    out += escapeXml(c);
    i++;
  }
  return out;
}

const nonSpace = (c: string | undefined): boolean => c !== undefined && !/\s/.test(c);

function emphasis(s: string, i: number): { tag: string; d: string; end: number } | null {
  for (const [d, tag] of [
    ['**', 'strong'],
    ['~~', 's'],
    ['*', 'em'],
    ['_', 'em'],
  ] as const) {
    if (!s.startsWith(d, i) || !nonSpace(s[i + d.length])) continue;
    // `_` is emphasis only at a word's edge (snake_case stays text); `*` may sit inside a word.
    if (d === '_' && isAlnum(s[i - 1])) continue;
    if (d.length === 1 && s[i + 1] === d) continue;
    const end = findCloser(
      s,
      i + d.length + 1,
      d,
      (j) =>
        nonSpace(s[j - 1]) &&
        (d !== '_' || !isAlnum(s[j + 1])) &&
        (d.length > 1 || (s[j + 1] !== d && s[j - 1] !== d)),
    );
    if (end > 0) return { tag, d, end };
  }
  return null;
}

type Block = { html: string; inline: boolean };

const FENCE = /^(`{3,}|~{3,})(.*)$/;
const HEADING = /^(#{1,6})[ \t]+(.*?)[ \t]*$/;
const RULE = /^ {0,3}(?:-{3,}|\*{3,}|_{3,})[ \t]*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const ITEM = /^( *)([-*+]|\d+\.)[ \t]+(.*)$/;

export interface MarkdownToHtmlOptions {
  /**
   * `task` (html_notes) or `story` (html_text). Headings are rendered as `<strong>` lines in a
   * story: third-party validators say Asana refuses h1/h2 in comments (not confirmed in Asana's docs).
   */
  target?: 'task' | 'story';
}

function blocksHtml(lines: string[], opts: MarkdownToHtmlOptions): Block[] {
  const blocks: Block[] = [];
  let i = 0;
  const startsBlock = (l: string): boolean =>
    FENCE.test(l) || HEADING.test(l) || RULE.test(l) || QUOTE.test(l) || /^([-*+]|\d+\.)[ \t]+/.test(l);
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '') {
      i++;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const mark = fence[1]!;
      const body: string[] = [];
      i++;
      const closes = (l: string): boolean => new RegExp(`^\\${mark[0]}{${mark.length},}[ \\t]*$`).test(l);
      while (i < lines.length && !closes(lines[i]!)) {
        body.push(lines[i]!);
        i++;
      }
      i++; // the closing fence
      blocks.push({ html: `<pre>${escapeXml(body.join('\n'))}</pre>`, inline: false });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      const text = inlineHtml(heading[2]!.replace(/[ \t]+#+$/, ''));
      if (opts.target === 'story') blocks.push({ html: `<strong>${text}</strong>`, inline: true });
      else
        blocks.push({
          html: heading[1]!.length === 1 ? `<h1>${text}</h1>` : `<h2>${text}</h2>`,
          inline: false,
        });
      i++;
      continue;
    }
    if (RULE.test(line)) {
      blocks.push({ html: '<hr/>', inline: false });
      i++;
      continue;
    }
    if (QUOTE.test(line)) {
      const body: string[] = [];
      while (i < lines.length && QUOTE.test(lines[i]!)) body.push(QUOTE.exec(lines[i++]!)![1]!);
      blocks.push({ html: `<blockquote>${inlineHtml(body.join('\n'))}</blockquote>`, inline: false });
      continue;
    }
    if (ITEM.test(line)) {
      const { html, next } = listHtml(lines, i, opts);
      blocks.push({ html, inline: false });
      i = next;
      continue;
    }
    const para: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== '' && (para.length === 0 || !startsBlock(lines[i]!)))
      para.push(lines[i++]!);
    blocks.push({ html: inlineHtml(para.join('\n')), inline: true });
  }
  return blocks;
}

/** One list starting at `lines[start]` (its items at that line's indentation). */
function listHtml(
  lines: string[],
  start: number,
  opts: MarkdownToHtmlOptions,
): { html: string; next: number } {
  const first = ITEM.exec(lines[start]!)!;
  const base = first[1]!.length;
  const ordered = /\d/.test(first[2]!);
  const items: string[] = [];
  let i = start;
  while (i < lines.length) {
    const m = ITEM.exec(lines[i]!);
    if (!m || m[1]!.length !== base || /\d/.test(m[2]!) !== ordered) break;
    const content = [m[3]!];
    i++;
    // Lines indented past the marker belong to the item: continuation text or a nested list.
    while (i < lines.length && lines[i]!.trim() !== '' && /^ */.exec(lines[i]!)![0].length > base)
      content.push(lines[i++]!);
    const nestedAt = content.findIndex((l, k) => k > 0 && ITEM.test(l));
    const text = (nestedAt < 0 ? content : content.slice(0, nestedAt)).map((l) => l.trim()).join('\n');
    let nested = '';
    if (nestedAt > 0) {
      const rest = content.slice(nestedAt);
      let k = 0;
      while (k < rest.length) {
        if (!ITEM.test(rest[k]!)) {
          k++;
          continue;
        }
        const sub = listHtml(rest, k, opts);
        nested += sub.html;
        k = sub.next;
      }
    }
    items.push(`<li>${inlineHtml(text)}${nested}</li>`);
  }
  const tag = ordered ? 'ol' : 'ul';
  return { html: `<${tag}>${items.join('')}</${tag}>`, next: i };
}

/**
 * Markdown → an Asana body: one `<body>` element, well-formed XML, whitelisted tags only, every
 * `&`, `<`, `>` of the text escaped, characters XML forbids dropped.
 */
export function markdownToHtml(md: string, opts: MarkdownToHtmlOptions = {}): string {
  const blocks = blocksHtml(xmlChars(md).replace(/\r\n?/g, '\n').split('\n'), opts);
  let out = '';
  blocks.forEach((b, k) => {
    const prev = blocks[k - 1];
    // Paragraphs are separated by a blank line; block elements delimit themselves.
    if (prev && prev.inline && b.inline) out += '\n\n';
    out += b.html;
  });
  return `<body>${out}</body>`;
}
