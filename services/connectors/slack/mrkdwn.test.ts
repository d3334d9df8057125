import assert from 'node:assert/strict';
import { test } from 'node:test';
import { markdownToMrkdwn, mrkdwnToMarkdown } from './mrkdwn.ts';

// markdown → the mrkdwn it becomes; mrkdwnToMarkdown gives the markdown back exactly.
const ROUND_TRIPS: [string, string][] = [
  ['', ''],
  ['Plain text', 'Plain text'],
  ['a **b** _c_ ~~d~~ `e`', 'a *b* _c_ ~d~ `e`'],
  ['**bold with _italic_ inside**', '*bold with _italic_ inside*'],
  ['Tom & Jerry: 1 < 2 > 0', 'Tom &amp; Jerry: 1 &lt; 2 &gt; 0'],
  ['already &amp; escaped', 'already &amp;amp; escaped'],
  ['[site](https://x.test/?a=1&b=2)', '<https://x.test/?a=1&amp;b=2|site>'],
  ['[a\\*b & c](https://x.test/p)', '<https://x.test/p|a*b &amp; c>'],
  ['see https://x.test/plain', 'see https://x.test/plain'],
  ['`a*b*c_d_ <tag>`', '`a*b*c_d_ &lt;tag&gt;`'],
  ['**`code` in bold**', '*`code` in bold*'],
  ['snake_case and 2 * 3 and a\\*b', 'snake_case and 2 * 3 and a*b'],
  ['line one\nline two\n\npara two', 'line one\nline two\n\npara two'],
  ['- one\n- two\n  - nested\n1. first\n2. second', '• one\n• two\n  • nested\n1. first\n2. second'],
  ['> quoted **text**\n> & more', '> quoted *text*\n> &amp; more'],
  ['```\nconst x = a*b < c && d_e;\n```', '```\nconst x = a*b &lt; c &amp;&amp; d_e;\n```'],
  ['before\n```\n*not bold*\n```\nafter', 'before\n```\n*not bold*\n```\nafter'],
  ['---', '---'],
  ['\\- not a list\n\\# not a heading', '- not a list\n# not a heading'],
  ['Status: **In Progress**', 'Status: *In Progress*'],
];

test('markdown → mrkdwn, and back to the same markdown', () => {
  for (const [md, mrkdwn] of ROUND_TRIPS) {
    assert.equal(markdownToMrkdwn(md), mrkdwn, `to mrkdwn: ${md}`);
    assert.equal(mrkdwnToMarkdown(mrkdwn), md, `back to markdown: ${mrkdwn}`);
  }
});

test('constructs mrkdwn cannot hold come back changed, as documented', () => {
  // Headings: a bold line.
  assert.equal(markdownToMrkdwn('# Title\n\nText'), '*Title*\n\nText');
  assert.equal(mrkdwnToMarkdown(markdownToMrkdwn('# Title')), '**Title**');
  assert.equal(markdownToMrkdwn('## A **b** c'), '*A b c*');
  // `*em*` is read as emphasis; the canonical spelling `_em_` comes back.
  assert.equal(mrkdwnToMarkdown(markdownToMrkdwn('*em*')), '_em_');
  // A fence's language tag is dropped.
  assert.equal(mrkdwnToMarkdown(markdownToMrkdwn('```ts\nx\n```')), '```\nx\n```');
  // Formatting inside a link's text is dropped: Slack shows labels plain.
  assert.equal(markdownToMrkdwn('[**bold** link](https://x.test)'), '<https://x.test|bold link>');
  // mrkdwn has no escape: literal marks at word edges become emphasis.
  assert.equal(markdownToMrkdwn('\\*word\\*'), '*word*');
  assert.equal(mrkdwnToMarkdown(markdownToMrkdwn('\\*word\\*')), '**word**');
});

test('Slack text: entities, links, mentions and emphasis as markdown', () => {
  const cases: [string, string][] = [
    ['a &amp; b &lt;c&gt;', 'a & b <c>'],
    ['<https://x.test/a?b=1&amp;c=2|the site>', '[the site](https://x.test/a?b=1&c=2)'],
    ['<https://x.test/a_(b)>', 'https://x.test/a\\_(b)'],
    ['<mailto:alice@example.com|alice@example.com>', '[alice@example.com](mailto:alice@example.com)'],
    ['hi <@U0ALICE001>, see <#C0SANDBOX1|lockstep-demo>', 'hi @U0ALICE001, see #lockstep-demo'],
    ['<@U0ALICE001|alice> and <#C0SANDBOX1>', '@U0ALICE001 and #C0SANDBOX1'],
    ['<!here> <!channel> <!everyone>', '@here @channel @everyone'],
    ['<!subteam^S0123|@eng> ping', '@eng ping'],
    ['<!date^1392734382^{date}|Feb 18, 2014>', 'Feb 18, 2014'],
    ['*bold* _it_ ~gone~', '**bold** _it_ ~~gone~~'],
    ['a*b*c and x_y_z', 'a\\*b\\*c and x_y_z'],
    ['* not bold *', '\\* not bold \\*'],
    ['`*literal* _too_`', '`*literal* _too_`'],
    ['*bold <https://x.test|link> here*', '**bold [link](https://x.test) here**'],
    ['&gt; a quote from Slack', '> a quote from Slack'],
    ['• item\n    ◦ nested', '- item\n    - nested'],
    ['- typed dash\n# hash', '\\- typed dash\n\\# hash'],
    ['see ```one line``` here', 'see \n```\none line\n```\n here'],
    ['```multi\nline &lt;b&gt;```', '```\nmulti\nline <b>\n```'],
  ];
  for (const [mrkdwn, md] of cases) assert.equal(mrkdwnToMarkdown(mrkdwn), md, mrkdwn);
});

test('a lone < or an unclosed mark is text, never dropped', () => {
  assert.equal(mrkdwnToMarkdown('a < b'), 'a < b');
  assert.equal(mrkdwnToMarkdown('*unclosed'), '\\*unclosed');
  assert.equal(mrkdwnToMarkdown('`unclosed'), '\\`unclosed');
  assert.equal(markdownToMrkdwn('**unclosed'), '**unclosed');
});
