import assert from 'node:assert/strict';
import { test } from 'node:test';
import { richTextProblem } from '../../../test/emulators/asana/rich-text.ts';
import { htmlToMarkdown, markdownToHtml } from './richtext.ts';

/** Tags on Asana's rich-text whitelist (developers.asana.com/docs/rich-text; h1/h2/hr per Asana's forum post). */
const WHITELIST = new Set([
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
  'h1',
  'h2',
  'hr',
  'pre',
  'blockquote',
]);

/** Well-formed XML with one <body> root, whitelisted tags, only `href` on <a>, and no bare & < >. */
function assertAsanaBody(html: string): void {
  assert.match(html, /^<body>[\s\S]*<\/body>$/, html);
  const stack: string[] = [];
  let roots = 0;
  const rest = html.replace(
    /<(\/?)([a-z0-9]+)((?:\s+[a-z-]+="[^"<>]*")*)\s*(\/?)>/g,
    (_w, close: string, tag: string, attrs: string, self: string) => {
      assert.ok(WHITELIST.has(tag), `tag <${tag}> is not on Asana's whitelist: ${html}`);
      if (attrs)
        assert.ok(tag === 'a' && /^\s+href="[^"]*"$/.test(attrs), `attributes on <${tag}>: ${attrs}`);
      if (self) return '';
      if (close) assert.equal(stack.pop(), tag, `unbalanced </${tag}> in ${html}`);
      else {
        if (stack.length === 0) roots++;
        stack.push(tag);
      }
      return '';
    },
  );
  assert.equal(stack.length, 0, `unclosed tags in ${html}`);
  assert.equal(roots, 1, html);
  assert.doesNotMatch(rest, /[<>]/, `bare < or > in text of ${html}`);
  assert.doesNotMatch(rest, /&(?!(?:amp|lt|gt|quot|#39);)/, `bare & in ${html}`);
}

// markdown → the Asana body it becomes; htmlToMarkdown gives the markdown back exactly.
const CASES: [string, string][] = [
  ['', '<body></body>'],
  ['Plain text', '<body>Plain text</body>'],
  ['a **b** _c_ ~~d~~ `e`', '<body>a <strong>b</strong> <em>c</em> <s>d</s> <code>e</code></body>'],
  ['[site](https://x.test/?a=1&b=2)', '<body><a href="https://x.test/?a=1&amp;b=2">site</a></body>'],
  ['line one\nline two', '<body>line one\nline two</body>'],
  ['para one\n\npara two', '<body>para one\n\npara two</body>'],
  ['# Title\n\n## Sub\n\nText', '<body><h1>Title</h1><h2>Sub</h2>Text</body>'],
  [
    '- a\n- **b**\n  - nested',
    '<body><ul><li>a</li><li><strong>b</strong><ul><li>nested</li></ul></li></ul></body>',
  ],
  ['1. one\n2. two', '<body><ol><li>one</li><li>two</li></ol></body>'],
  ['Intro\n\n- a\n\nOutro', '<body>Intro<ul><li>a</li></ul>Outro</body>'],
  ['```\nif (a < b && c) {}\n```', '<body><pre>if (a &lt; b &amp;&amp; c) {}</pre></body>'],
  ['> quoted\n> twice', '<body><blockquote>quoted\ntwice</blockquote></body>'],
  ['above\n\n---\n\nbelow', '<body>above<hr/>below</body>'],
  ['<b>not html</b> & <script>', '<body>&lt;b&gt;not html&lt;/b&gt; &amp; &lt;script&gt;</body>'],
  ['snake_case and 2 * 3', '<body>snake_case and 2 * 3</body>'],
  ['\\*not em\\* and \\_not em\\_', '<body>*not em* and _not em_</body>'],
  [
    '\\- not a list\n\\# not a heading\n1\\. not ordered',
    '<body>- not a list\n# not a heading\n1. not ordered</body>',
  ],
  ['foo*bar*baz', '<body>foo<em>bar</em>baz</body>'],
  ['``a`b``', '<body><code>a`b</code></body>'],
  ['`` `tick` ``', '<body><code>`tick`</code></body>'],
  ['**[bold link](https://x.test)**', '<body><strong><a href="https://x.test">bold link</a></strong></body>'],
];

test('markdown → a valid Asana body, and back to the same markdown', () => {
  for (const [md, html] of CASES) {
    const out = markdownToHtml(md);
    assert.equal(out, html, JSON.stringify(md));
    assertAsanaBody(out);
    assert.equal(htmlToMarkdown(out), md, html);
  }
});

test('html → markdown → html is stable for what markdownToHtml produces', () => {
  for (const [, html] of CASES) assert.equal(markdownToHtml(htmlToMarkdown(html)), html);
});

test('Asana html as people write it: entities, <u>, <br>, mentions and unknown tags read as text', () => {
  assert.equal(
    htmlToMarkdown('<body>Tom &amp; Jerry &lt;3 &quot;quotes&quot; &#39;single&#39;</body>'),
    'Tom & Jerry <3 "quotes" \'single\'',
  );
  assert.equal(htmlToMarkdown('<body><u>under</u>lined<br/>next</body>'), 'underlined\nnext');
  assert.equal(
    htmlToMarkdown(
      '<body>Hi <a data-asana-gid="4168112" href="https://app.asana.com/0/4168112">@Ann</a></body>',
    ),
    'Hi [@Ann](https://app.asana.com/0/4168112)',
  );
  assert.equal(htmlToMarkdown('<body>see <a data-asana-gid="5732985"/> now</body>'), 'see  now');
  assert.equal(htmlToMarkdown('<body><table><tr><td>cell</td></tr></table>after</body>'), 'cell\n\nafter');
  // Text that looks like markdown is escaped, so it stays text on the way back.
  const md = htmlToMarkdown('<body>*stars* [x](y) # hash\n- dash</body>');
  assert.equal(md, '\\*stars\\* \\[x\\](y) # hash\n\\- dash');
  assert.equal(markdownToHtml(md), '<body>*stars* [x](y) # hash\n- dash</body>');
});

test('Asana example rich text (developers.asana.com/docs/rich-text) reads without its mention tags', () => {
  const example =
    '<body>All these new tasks are <em>really</em> getting disorganized, so <a data-asana-gid="4168112"/> just made the new <a data-asana-gid="5732985"/> project to help keep them organized. <strong>Everyone</strong> should start using the <a data-asana-gid="6489418" data-asana-project="5732985"/> when adding new tasks there.</body>';
  assert.equal(
    htmlToMarkdown(example),
    'All these new tasks are _really_ getting disorganized, so  just made the new  project to help keep them organized. **Everyone** should start using the  when adding new tasks there.',
  );
});

test('malformed html never throws', () => {
  for (const bad of [
    '<body><strong>open',
    '</em>stray</body>',
    '<body>a < b</body>',
    '<<<>>>',
    '&bogus; &#xZZ;',
  ]) {
    assert.equal(typeof htmlToMarkdown(bad), 'string');
  }
  assert.equal(htmlToMarkdown('<body>a < b</body>'), 'a < b');
});

test('a story gets headings as strong lines (no h1/h2 in comments)', () => {
  const html = markdownToHtml('# Title\n\nText', { target: 'story' });
  assert.equal(html, '<body><strong>Title</strong>\n\nText</body>');
  assertAsanaBody(html);
});

test('characters XML forbids are dropped and an empty link is its text: Asana would refuse both', () => {
  assert.equal(
    markdownToHtml('bell\u0007 nul\u0000 lone\uD800 emoji 😀'),
    '<body>bell nul lone emoji 😀</body>',
  );
  assert.equal(markdownToHtml('[just text]()'), '<body>just text</body>');
  assert.equal(markdownToHtml('[spaces]( )'), '<body>spaces</body>');
});

test('whatever markdown comes, the body passes the emulator’s check of Asana’s documented rules', () => {
  // Every sequence of three fragments, for a task (html_notes) and a story (html_text).
  const fragments = [
    '# ',
    '- ',
    '1. ',
    '> ',
    '```\n',
    '---',
    '\n',
    '\n\n',
    '**',
    '_',
    '`',
    '[x](',
    ')',
    '[y]()',
  ];
  fragments.push('a & b', '<i>', '\u0001', '\uDC00', '😀', ' ');
  let checked = 0;
  for (const a of fragments)
    for (const b of fragments)
      for (const c of fragments) {
        const md = a + b + c;
        for (const [target, field] of [
          ['task', 'html_notes'],
          ['story', 'html_text'],
        ] as const) {
          const html = markdownToHtml(md, { target });
          assert.equal(richTextProblem(html, field), null, `${JSON.stringify(md)} → ${html}`);
          checked++;
        }
      }
  assert.equal(checked, fragments.length ** 3 * 2);
});
