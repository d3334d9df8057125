import assert from 'node:assert/strict';
import { test } from 'node:test';
import { markerIn, markerLine, stripMarker, withMarkerLine } from './marker.ts';
import { htmlToMarkdown, markdownToHtml } from './richtext.ts';

test('markerLine encodes the marker; markerIn reads it back from text and from html', () => {
  const marker = 'link:42/a b&c';
  assert.equal(markerLine(marker), 'lockstep-link:link%3A42%2Fa%20b%26c');
  assert.equal(markerIn(`Some text\n${markerLine(marker)}`), marker);
  assert.equal(markerIn(`<body>Some <em>text</em>\n${markerLine(marker)}</body>`), marker);
  assert.equal(markerIn(`<body>${markerLine(marker)}</body>`), marker);
  assert.equal(markerIn(markerLine("it's")), "it's");
  // Asana may write the apostrophe encodeURIComponent leaves bare as an entity.
  assert.equal(markerIn('<body>x\nlockstep-link:it&#39;s</body>'), "it's");
});

test('markerIn: null for no marker, a malformed escape, an empty one, or one quoted mid-text', () => {
  assert.equal(markerIn(null), null);
  assert.equal(markerIn(''), null);
  assert.equal(markerIn('<body>nothing here</body>'), null);
  assert.equal(markerIn('x\nlockstep-link:%E0%A4%A'), null);
  assert.equal(markerIn('x\nlockstep-link:'), null);
  assert.equal(markerIn('see lockstep-link:abc for details\nand more'), null);
  assert.equal(markerIn('inline lockstep-link:abc'), null);
});

test('stripMarker removes the trailing marker line and the line break(s) before it', () => {
  assert.equal(stripMarker('Hello\nlockstep-link:abc'), 'Hello');
  assert.equal(stripMarker('Hello\n\n- a\n\nlockstep-link:abc'), 'Hello\n\n- a');
  assert.equal(stripMarker('lockstep-link:abc'), '');
  assert.equal(stripMarker('Hello\nlockstep-link:abc\n'), 'Hello');
  assert.equal(stripMarker('no marker'), 'no marker');
  assert.equal(stripMarker('lockstep-link:abc\nthen text'), 'lockstep-link:abc\nthen text');
});

test('a body written with withMarkerLine reads back as the markdown, with the marker', () => {
  for (const md of ['', 'Plain', '# Title\n\nText **bold**', 'Intro\n\n- a\n- b', '```\ncode\n```']) {
    const html = withMarkerLine(markdownToHtml(md), 'L-1');
    assert.match(html, /^<body>[\s\S]*<\/body>$/);
    assert.equal(markerIn(html), 'L-1', html);
    assert.equal(stripMarker(htmlToMarkdown(html)), md, html);
  }
});

test('a marker with characters markdown escapes is still stripped after htmlToMarkdown', () => {
  const html = withMarkerLine(markdownToHtml('Text'), "_a*b~(c)'");
  assert.equal(markerIn(html), "_a*b~(c)'");
  assert.equal(stripMarker(htmlToMarkdown(html)), 'Text');
});
