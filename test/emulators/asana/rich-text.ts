/**
 * What Asana accepts as rich text written to `html_notes` / `html_text`, checked as strictly as
 * Asana documents it (developers.asana.com/docs/rich-text, "Writing rich text"): "the text must
 * be wrapped in a `<body>` tag, all tags must be closed, balanced, and match the case of supported
 * tags, and attributes must be quoted. Invalid XML, as well as unsupported tags, will be rejected
 * with a `400 Bad Request` error. Only `<a>` tags support attributes". The tags beyond the doc's
 * base list (h1, h2, hr, pre, blockquote) and the rule that a heading holds only inline tags and no
 * newline come from Asana's forum post "Changes are coming to Rich Text" (finalized tags).
 *
 * A hand-written checker (test infrastructure only): the project has no XML parser dependency, and
 * the grammar Asana accepts is small.
 */

/** Tags Asana accepts in any rich text Lockstep writes. */
const TAGS = new Set([
  'body',
  'strong',
  'em',
  'u',
  's',
  'code',
  'ol',
  'ul',
  'li',
  'a',
  'hr',
  'pre',
  'blockquote',
]);
/** Headings: task notes only (third-party validators and the connector say comments refuse them). */
const HEADINGS = new Set(['h1', 'h2']);
/** What a heading may hold (forum post: "Only strong, em, u, s, code, a allowed inside header tags"). */
const INLINE = new Set(['strong', 'em', 'u', 's', 'code', 'a']);
/**
 * The attributes of `<a>`: `href` and the `data-asana-*` ones the doc lists (those Asana returns
 * may be written back unmodified, the doc says; `data-asana-gid`, `-project`, `-tag`, `-dynamic`
 * are the ones it reads on write).
 */
const LINK_ATTRS = new Set([
  'href',
  'data-asana-gid',
  'data-asana-project',
  'data-asana-tag',
  'data-asana-dynamic',
  'data-asana-accessible',
  'data-asana-type',
]);

export type RichTextField = 'html_notes' | 'html_text';

const NAME = /^[A-Za-z_][A-Za-z0-9._-]*/;
const ENTITY = /^&(?:amp|lt|gt|quot|apos|#([0-9]+)|#x([0-9a-fA-F]+));/;
const isXmlCodePoint = (n: number): boolean =>
  n === 0x9 ||
  n === 0xa ||
  n === 0xd ||
  (n >= 0x20 && n <= 0xd7ff) ||
  (n >= 0xe000 && n <= 0xfffd) ||
  (n >= 0x10000 && n <= 0x10ffff);

/** The first character XML 1.0 forbids (its `Char` production; lone surrogates too), or null. */
function notXmlChar(s: string): number | null {
  for (const c of s) {
    const n = c.codePointAt(0)!;
    if (!isXmlCodePoint(n)) return n;
  }
  return null;
}

/** The problem with an entity or character reference at `s[i]` (an `&`), or its length. */
function reference(s: string, i: number): number | string {
  const m = ENTITY.exec(s.slice(i, i + 16));
  if (!m) return `an unescaped "&" at offset ${i} (write &amp;)`;
  const code = m[1] !== undefined ? Number(m[1]) : m[2] !== undefined ? parseInt(m[2], 16) : null;
  if (code !== null && !isXmlCodePoint(code))
    return `the character reference ${m[0]} is not an XML character`;
  return m[0].length;
}

/**
 * Why Asana would refuse `html` written to `field` (400), or null when it is accepted. The message
 * follows the emulator's `<field>: <problem>` form (Asana's exact wording is not documented).
 */
export function richTextProblem(html: string, field: RichTextField): string | null {
  const fail = (problem: string): string => `${field}: XML is invalid: ${problem}`;
  const refuse = (problem: string): string => `${field}: ${problem}`;
  const bad = notXmlChar(html);
  if (bad !== null)
    return fail(`U+${bad.toString(16).toUpperCase().padStart(4, '0')} is not an XML character`);
  if (!html.startsWith('<body')) return fail('the text must be wrapped in one <body> element');
  const stack: string[] = [];
  let closedRoot = false;
  let i = 0;
  while (i < html.length) {
    if (closedRoot) return fail('content after </body>');
    const c = html[i]!;
    if (c === '&') {
      const r = reference(html, i);
      if (typeof r === 'string') return fail(r);
      i += r;
      continue;
    }
    if (c !== '<') {
      if (html.startsWith(']]>', i)) return fail('"]]>" in text');
      if (stack.length === 0) return fail('text outside <body>');
      if (stack.at(-1) === 'hr') return refuse('<hr> must be empty');
      if (c === '\n' && stack.some((t) => HEADINGS.has(t))) return refuse('a newline inside a heading');
      i++;
      continue;
    }
    if (html.startsWith('<!--', i) || html.startsWith('<!', i) || html.startsWith('<?', i))
      return refuse(
        `comments, CDATA, declarations and processing instructions are not accepted (offset ${i})`,
      );
    if (html[i + 1] === '/') {
      const name = NAME.exec(html.slice(i + 2))?.[0];
      const end = name === undefined ? -1 : i + 2 + name.length;
      const close = end < 0 ? null : /^\s*>/.exec(html.slice(end));
      if (!name || !close) return fail(`a malformed closing tag at offset ${i}`);
      const open = stack.pop();
      if (open !== name) return fail(`</${name}> closes ${open === undefined ? 'nothing' : `<${open}>`}`);
      if (stack.length === 0) closedRoot = true;
      i = end + close[0].length;
      continue;
    }
    const name = NAME.exec(html.slice(i + 1))?.[0];
    if (!name) return fail(`a bare "<" at offset ${i} (write &lt;)`);
    let j = i + 1 + name.length;
    const attrs = new Map<string, string>();
    for (;;) {
      const ws = /^\s*/.exec(html.slice(j))![0];
      j += ws.length;
      if (html.startsWith('/>', j) || html[j] === '>') break;
      const an = ws ? NAME.exec(html.slice(j))?.[0] : undefined;
      if (!an) return fail(`a malformed <${name}> tag at offset ${i}`);
      j += an.length;
      const eq = /^\s*=\s*/.exec(html.slice(j));
      if (!eq) return fail(`attribute ${an} on <${name}> has no quoted value`);
      j += eq[0].length;
      const quote = html[j];
      if (quote !== '"' && quote !== "'") return fail(`attribute ${an} on <${name}> is not quoted`);
      const endQ = html.indexOf(quote, j + 1);
      if (endQ < 0) return fail(`attribute ${an} on <${name}> is not closed`);
      const value = html.slice(j + 1, endQ);
      if (value.includes('<')) return fail(`a "<" in attribute ${an} on <${name}>`);
      for (let k = value.indexOf('&'); k >= 0; k = value.indexOf('&', k + 1)) {
        const r = reference(value, k);
        if (typeof r === 'string') return fail(`${r} in attribute ${an} on <${name}>`);
      }
      if (attrs.has(an)) return fail(`attribute ${an} twice on <${name}>`);
      attrs.set(an, value);
      j = endQ + 1;
    }
    const selfClosing = html.startsWith('/>', j);
    i = j + (selfClosing ? 2 : 1);

    if (stack.length === 0 && name !== 'body') return fail('the text must be wrapped in one <body> element');
    if (name === 'body' && stack.length > 0) return refuse('<body> inside <body>');
    if (!TAGS.has(name) && !HEADINGS.has(name)) return refuse(`unsupported tag <${name}>`);
    if (HEADINGS.has(name) && field !== 'html_notes') return refuse(`<${name}> is not supported in comments`);
    const heading = stack.find((t) => HEADINGS.has(t));
    if (heading && !INLINE.has(name)) return refuse(`<${name}> inside <${heading}> (only inline tags)`);
    if (stack.at(-1) === 'hr') return refuse('<hr> must be empty');
    if (attrs.size > 0 && name !== 'a') return refuse(`attributes on <${name}> (only <a> takes attributes)`);
    for (const an of attrs.keys())
      if (!LINK_ATTRS.has(an)) return refuse(`unsupported attribute ${an} on <a>`);
    // The doc: neither a gid nor an href is refused.
    if (name === 'a' && !attrs.get('href') && !attrs.get('data-asana-gid'))
      return refuse('<a> needs an href or a data-asana-gid');
    if (selfClosing) {
      if (name === 'body') closedRoot = true;
      continue;
    }
    stack.push(name);
  }
  if (stack.length > 0) return fail(`<${stack.at(-1)}> is not closed`);
  if (!closedRoot) return fail('the text must be wrapped in one <body> element');
  return null;
}
