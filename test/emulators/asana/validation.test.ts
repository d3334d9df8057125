import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PROJECT, WS, rejection, startSeeded } from './helpers.ts';

/** Requests Asana would refuse get Asana's status and `{errors:[{message, help}]}` body. */
describe('asana emulator: spec-violating and refused requests', () => {
  let t: Awaited<ReturnType<typeof startSeeded>>;
  before(async () => {
    t = await startSeeded();
  });
  after(() => t.emu.close());

  const message = (e: { response: { body: { errors: { message: string }[] } } }) =>
    e.response.body.errors[0]!.message;

  it('wrong types and unknown enum values (validated against asana_oas.yaml) → 400', async () => {
    const wrongType = await rejection(
      t.bot.tasks.updateTask({ data: { completed: 'yes' } }, '1100000000001001', {}),
    );
    assert.equal(wrongType.status, 400);
    assert.match(message(wrongType), /^completed: must be boolean/);
    assert.match(String(wrongType.response.body.errors[0]!.help), /developers\.asana\.com/);
    const badEnum = await rejection(
      t.bot.tasks.createTask({ data: { name: 'x', workspace: WS, resource_subtype: 'epic' } }, {}),
    );
    assert.equal(badEnum.status, 400);
    assert.match(message(badEnum), /^resource_subtype: must be equal to one of the allowed values/);
    const badDate = await rejection(
      t.bot.tasks.updateTask({ data: { due_on: 'tomorrow' } }, '1100000000001001', {}),
    );
    assert.equal(badDate.status, 400);
    assert.match(message(badDate), /^due_on: must match format "date"/);
    // Nothing changed.
    const task = (await t.bot.tasks.getTask('1100000000001001', { opt_fields: 'completed,due_on' })) as {
      data: unknown;
    };
    assert.deepEqual(task.data, { gid: '1100000000001001', completed: false, due_on: '2030-01-15' });
  });

  it('missing required input → 400 "<field>: Missing input"', async () => {
    const noWorkspace = await rejection(t.bot.tasks.createTask({ data: { name: 'orphan' } }, {}));
    assert.equal(noWorkspace.status, 400);
    assert.equal(message(noWorkspace), 'workspace: Missing input');
    // GET /tasks with no project/tag/assignee+workspace: Asana's documented example error.
    const noFilter = await rejection(t.bot.tasks.getTasks({}));
    assert.equal(noFilter.status, 400);
    assert.equal(message(noFilter), 'workspace: Missing input');
    const noTarget = await rejection(t.bot.webhooks.createWebhook({ data: { resource: PROJECT } }, {}));
    assert.equal(noTarget.status, 400);
    assert.match(message(noTarget), /must have required property 'target'/);
    const noText = await rejection(t.bot.stories.createStoryForTask({ data: {} }, '1100000000001001', {}));
    assert.equal(noText.status, 400);
    assert.equal(message(noText), 'text: Missing input');
    const workspaceHook = await rejection(
      t.bot.webhooks.createWebhook({ data: { resource: WS, target: 'http://127.0.0.1:1/x' } }, {}),
    );
    assert.equal(workspaceHook.status, 400);
    assert.match(message(workspaceHook), /^filters:/);
  });

  it('limit outside 1..100, a forged offset, invalid rich text → 400', async () => {
    const big = await rejection(t.bot.tasks.getTasks({ project: PROJECT, limit: 101 }));
    assert.equal(big.status, 400);
    assert.match(message(big), /^limit:/);
    const forged = await rejection(
      t.bot.tasks.getTasks({ project: PROJECT, limit: 10, offset: 'not-a-token' }),
    );
    assert.equal(forged.status, 400);
    assert.match(message(forged), /^offset:/);
    const xml = await rejection(
      t.bot.tasks.updateTask({ data: { html_notes: '<body><em>unclosed</body>' } }, '1100000000001001', {}),
    );
    assert.equal(xml.status, 400);
    assert.match(message(xml), /^html_notes:/);
  });

  it('rich text Asana refuses (developers.asana.com/docs/rich-text, "Writing rich text") → 400; what it accepts is kept', async () => {
    const notes = (html: string) =>
      rejection(t.bot.tasks.updateTask({ data: { html_notes: html } }, '1100000000001001', {}));
    const comment = (html: string) =>
      rejection(t.bot.stories.createStoryForTask({ data: { html_text: html } }, '1100000000001001', {}));
    const refused: [string, RegExp][] = [
      ['plain text', /^html_notes: XML is invalid: the text must be wrapped in one <body> element/],
      ['<body>one</body><body>two</body>', /^html_notes: XML is invalid: content after <\/body>/],
      ['<body>Tom & Jerry</body>', /^html_notes: XML is invalid: an unescaped "&"/],
      ['<body>&nbsp;</body>', /^html_notes: XML is invalid: an unescaped "&"/],
      ['<body>a < b</body>', /^html_notes: XML is invalid: a bare "<"/],
      ['<body><em>x</strong></body>', /^html_notes: XML is invalid: <\/strong> closes <em>/],
      ['<body><hr></body>', /^html_notes: XML is invalid/],
      [
        '<body><a href=https://x.test>x</a></body>',
        /^html_notes: XML is invalid: attribute href on <a> is not quoted/,
      ],
      ['<body><p>para</p></body>', /^html_notes: unsupported tag <p>/],
      ['<body><h3>deep</h3></body>', /^html_notes: unsupported tag <h3>/],
      ['<body><Strong>case</Strong></body>', /^html_notes: unsupported tag <Strong>/],
      ['<body><br/></body>', /^html_notes: unsupported tag <br>/],
      ['<body><strong class="x">x</strong></body>', /^html_notes: attributes on <strong>/],
      [
        '<body><a href="https://x.test" target="_blank">x</a></body>',
        /^html_notes: unsupported attribute target on <a>/,
      ],
      ['<body><a>nowhere</a></body>', /^html_notes: <a> needs an href or a data-asana-gid/],
      ['<body><h1>a\nb</h1></body>', /^html_notes: a newline inside a heading/],
      ['<body><h1><ul><li>x</li></ul></h1></body>', /^html_notes: <ul> inside <h1>/],
      ['<body><!-- note --></body>', /^html_notes: comments, CDATA/],
    ];
    for (const [html, expected] of refused) {
      const e = await notes(html);
      assert.equal(e.status, 400, html);
      assert.match(message(e), expected, html);
    }
    const heading = await comment('<body><h1>Title</h1></body>');
    assert.equal(heading.status, 400);
    assert.equal(message(heading), 'html_text: <h1> is not supported in comments');
    const bare = await comment('<body>R&D</body>');
    assert.match(message(bare), /^html_text: XML is invalid: an unescaped "&"/);

    const accepted =
      '<body><h1>Plan</h1><strong>b</strong> <em>i</em> <u>u</u> <s>s</s> <code>c</code> &amp; &lt; &gt; &quot; &apos; &#233;' +
      '<ul><li>one<ol><li>two</li></ol></li></ul><pre>x &lt; y</pre><blockquote>q</blockquote><hr/>' +
      '<a href="https://x.test/?a=1&amp;b=2">link</a> <a data-asana-gid="1100000000000011" data-asana-dynamic="false">Alice</a></body>';
    await t.bot.tasks.updateTask({ data: { html_notes: accepted } }, '1100000000001001', {});
    const task = (await t.bot.tasks.getTask('1100000000001001', { opt_fields: 'html_notes' })) as {
      data: { html_notes: string };
    };
    assert.equal(task.data.html_notes, accepted);
    const story = (await t.bot.stories.createStoryForTask(
      { data: { html_text: '<body><strong>Title</strong>\n<hr/><pre>code</pre></body>' } },
      '1100000000001001',
      { opt_fields: 'html_text' },
    )) as { data: { html_text: string } };
    assert.equal(story.data.html_text, '<body><strong>Title</strong>\n<hr/><pre>code</pre></body>');
  });

  it('unknown objects → 404; no token → 401 "Not Authorized"', async () => {
    const missing = await rejection(t.bot.tasks.getTask('999', {}));
    assert.equal(missing.status, 404);
    assert.match(message(missing), /^task: Unknown object: 999/);
    const noExternal = await rejection(t.bot.tasks.getTask('external:nope', {}));
    assert.equal(noExternal.status, 404);
    const res = await fetch(`${t.emu.apiUrl}/users/me`);
    assert.equal(res.status, 401);
    assert.deepEqual(
      ((await res.json()) as { errors: { message: string }[] }).errors[0]!.message,
      'Not Authorized',
    );
    const ledger = await t.control.ledger();
    assert.equal(ledger.entries.at(-1)!.actor, 'anonymous');
    assert.equal(ledger.entries.at(-1)!.status, 401);
  });

  it('a second task with the same external gid is refused (emulator assumption, see README)', async () => {
    await t.bot.tasks.createTask({ data: { name: 'one', workspace: WS, external: { gid: 'dup-1' } } }, {});
    const again = await rejection(
      t.bot.tasks.createTask({ data: { name: 'two', workspace: WS, external: { gid: 'dup-1' } } }, {}),
    );
    assert.equal(again.status, 400);
    assert.match(message(again), /^external\.gid:/);
  });

  it('an Asana route the emulator does not model says so (501), instead of pretending', async () => {
    const e = await rejection(t.bot.tasks.duplicateTask({ data: { name: 'copy' } }, '1100000000001001', {}));
    assert.equal(e.status, 501);
    assert.match(message(e), /Not implemented by the Lockstep Asana emulator: duplicateTask/);
  });
});
