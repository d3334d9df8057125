import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PROJECT, SECTIONS, USERS, WS, startSeeded, pageMeta } from './helpers.ts';

const FIELDS =
  'name,notes,html_notes,completed,completed_at,assignee,assignee.email,assignee.name,memberships.section,memberships.section.name,tags,due_on,modified_at,created_at,permalink_url,external';

describe('asana emulator: tasks, users, projects through the official SDK', () => {
  let t: Awaited<ReturnType<typeof startSeeded>>;
  before(async () => {
    t = await startSeeded();
  });
  after(() => t.emu.close());

  it('creates a task with the external marker and finds it again by external:<gid>', async () => {
    const created = (await t.bot.tasks.createTask(
      {
        data: {
          name: 'Mirror of ENG-12',
          notes: 'From Linear',
          projects: [PROJECT],
          assignee: 'alice@example.com',
          due_on: '2030-02-01',
          external: { gid: 'lockstep:link-1', data: '{"link":"1"}' },
        },
      },
      { opt_fields: FIELDS },
    )) as { data: Record<string, unknown> };
    const task = created.data;
    assert.match(String(task['gid']), /^\d+$/);
    assert.equal(task['name'], 'Mirror of ENG-12');
    assert.equal(task['notes'], 'From Linear');
    assert.equal(task['html_notes'], '<body>From Linear</body>');
    assert.deepEqual(task['assignee'], {
      gid: USERS['alice'],
      email: 'alice@example.com',
      name: 'Alice Example',
    });
    assert.deepEqual(task['external'], { gid: 'lockstep:link-1', data: '{"link":"1"}' });
    assert.deepEqual(task['memberships'], [{ section: { gid: SECTIONS['Backlog'], name: 'Backlog' } }]);
    assert.equal(task['due_on'], '2030-02-01');
    assert.equal(task['completed'], false);
    assert.equal(task['modified_at'], task['created_at']);

    const found = (await t.bot.tasks.getTask('external:lockstep:link-1', {
      opt_fields: 'name,external',
    })) as {
      data: Record<string, unknown>;
    };
    assert.deepEqual(found.data, {
      gid: task['gid'],
      name: 'Mirror of ENG-12',
      external: { gid: 'lockstep:link-1', data: '{"link":"1"}' },
    });
    const ledger = await t.control.ledger();
    const byOp = ledger.entries.map((e) => `${e.operation} ${e.status}`);
    assert.deepEqual(byOp.slice(-2), ['createTask 201', 'getTask 200']);
  });

  it('gets the full default record without opt_fields (opt-in html_notes absent)', async () => {
    const r = (await t.bot.tasks.getTask('1100000000001001', {})) as { data: Record<string, unknown> };
    assert.equal(r.data['resource_type'], 'task');
    assert.equal(r.data['name'], 'Write the onboarding guide');
    assert.equal('html_notes' in r.data, false);
    assert.equal('external' in r.data, false);
    assert.deepEqual(r.data['assignee'], {
      gid: USERS['alice'],
      resource_type: 'user',
      name: 'Alice Example',
    });
    assert.equal(typeof r.data['modified_at'], 'string');
    assert.match(String(r.data['permalink_url']), /^https:\/\/app\.asana\.com\/0\//);
  });

  it('updates name, notes and completion; modified_at advances on every change', async () => {
    const gid = '1100000000001001';
    const before = (await t.alice.tasks.getTask(gid, { opt_fields: 'modified_at' })) as {
      data: { modified_at: string };
    };
    const u1 = (await t.alice.tasks.updateTask({ data: { name: 'Onboarding guide v2' } }, gid, {
      opt_fields: 'name,modified_at',
    })) as { data: { name: string; modified_at: string } };
    assert.equal(u1.data.name, 'Onboarding guide v2');
    assert.ok(u1.data.modified_at > before.data.modified_at);
    const u2 = (await t.alice.tasks.updateTask(
      { data: { html_notes: '<body>Now with <strong>bold</strong></body>', completed: true } },
      gid,
      {
        opt_fields: 'notes,html_notes,completed,completed_at,modified_at',
      },
    )) as { data: Record<string, string | boolean> };
    assert.equal(u2.data['notes'], 'Now with bold');
    assert.equal(u2.data['html_notes'], '<body>Now with <strong>bold</strong></body>');
    assert.equal(u2.data['completed'], true);
    assert.equal(typeof u2.data['completed_at'], 'string');
    assert.ok(String(u2.data['modified_at']) > u1.data.modified_at);
    const u3 = (await t.alice.tasks.updateTask({ data: { completed: false, assignee: null } }, gid, {
      opt_fields: 'completed,completed_at,assignee',
    })) as { data: Record<string, unknown> };
    assert.deepEqual(u3.data, { gid, completed: false, completed_at: null, assignee: null });
  });

  it('changes status by moving the task between sections (addTask)', async () => {
    const gid = '1100000000001002';
    const r = (await t.bob.sections.addTaskForSection(SECTIONS['Done']!, {
      body: { data: { task: gid } },
    })) as { data: unknown };
    assert.deepEqual(r.data, {});
    const task = (await t.bob.tasks.getTask(gid, {
      opt_fields: 'memberships.section.name,memberships.project',
    })) as {
      data: { memberships: unknown[] };
    };
    assert.deepEqual(task.data.memberships, [
      {
        project: { gid: PROJECT, resource_type: 'project' },
        section: { gid: SECTIONS['Done'], name: 'Done' },
      },
    ]);
  });

  it('polls GET /tasks?project=&modified_since=&limit= page by page with next_page.offset', async () => {
    // Later than every change so far by the emulator's own clock, which runs ahead of the wall
    // clock after a burst of changes (a wall-clock `since` flaked under load in CI).
    const before = (await t.bot.tasks.getTasks({
      project: PROJECT,
      limit: 100,
      opt_fields: 'modified_at',
    })) as {
      data: { modified_at: string }[];
    };
    // Inclusive filter: `since` must be after every existing change and no later than the next
    // one; the emulator stamps the next change at max(wall clock, last stamp + 1).
    const since = new Date(
      Math.max(Date.now(), ...before.data.map((x) => Date.parse(x.modified_at) + 1)),
    ).toISOString();
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      const c = (await t.bot.tasks.createTask({ data: { name: `poll ${i}`, projects: [PROJECT] } }, {})) as {
        data: { gid: string };
      };
      made.push(c.data.gid);
    }
    const seen: string[] = [];
    let page = await t.bot.tasks.getTasks({
      project: PROJECT,
      modified_since: since,
      limit: 2,
      opt_fields: 'name,modified_at',
    });
    let pages = 0;
    while (page && page.data) {
      pages++;
      for (const x of page.data as { gid: string; modified_at: string }[]) {
        assert.ok(x.modified_at >= since);
        seen.push(x.gid);
      }
      page = await page.nextPage();
    }
    assert.deepEqual(seen, made);
    assert.equal(pages, 3);
    const first = await t.bot.tasks.getTasks({ project: PROJECT, modified_since: since, limit: 2 });
    assert.equal(typeof pageMeta(first).next_page?.offset, 'string');
    const last = await t.bot.tasks.getTasks({
      project: PROJECT,
      modified_since: new Date(Date.now() + 60_000).toISOString(),
      limit: 2,
    });
    assert.deepEqual(last.data, []);
    assert.equal(pageMeta(last).next_page, null);
  });

  it('answers users (me, by gid, by workspace with email), workspaces, projects, sections, memberships', async () => {
    const me = (await t.bot.users.getUser('me', {})) as { data: Record<string, unknown> };
    assert.equal(me.data['gid'], USERS['lockstep']);
    assert.equal(me.data['email'], 'lockstep-bot@example.com');
    const carol = (await t.bot.users.getUser(USERS['carol']!, { opt_fields: 'email,name' })) as {
      data: unknown;
    };
    assert.deepEqual(carol.data, { gid: USERS['carol'], email: 'carol@example.com', name: 'Carol Example' });
    const users = await t.bot.users.getUsers({ workspace: WS, opt_fields: 'email,name' });
    const emails = (users.data as { email: string }[]).map((u) => u.email).sort();
    assert.deepEqual(emails, [
      'alice@example.com',
      'bob@example.com',
      'carol@example.com',
      'lockstep-bot@example.com',
    ]);
    const ws = await t.bot.workspaces.getWorkspaces({});
    assert.deepEqual(ws.data, [{ gid: WS, resource_type: 'workspace', name: 'Example Workspace (sandbox)' }]);
    const project = (await t.bot.projects.getProject(PROJECT, { opt_fields: 'name,workspace' })) as {
      data: unknown;
    };
    assert.deepEqual(project.data, {
      gid: PROJECT,
      name: 'Engineering (sandbox)',
      workspace: { gid: WS, resource_type: 'workspace' },
    });
    const projects = await t.bot.projects.getProjects({ workspace: WS });
    assert.equal(projects.data.length, 1);
    const sections = await t.bot.sections.getSectionsForProject(PROJECT, {});
    assert.deepEqual(
      (sections.data as { name: string }[]).map((s) => s.name),
      ['Backlog', 'To do', 'In progress', 'Done'],
    );
    const members = await t.bot.memberships.getMemberships({ parent: PROJECT, opt_fields: 'member.email' });
    assert.equal(members.data.length, 4);
    assert.ok(
      (members.data as { member: { email: string } }[]).some((m) => m.member.email === 'alice@example.com'),
    );
  });

  it('a token Asana never issued is refused: 401 Not Authorized', async () => {
    const res = await fetch(`${t.emu.apiUrl}/users/me`, {
      headers: { authorization: 'Bearer some-other-pat' },
    });
    assert.equal(res.status, 401);
    assert.deepEqual(
      ((await res.json()) as { errors: { message: string }[] }).errors[0]?.message,
      'Not Authorized',
    );
    const me = (await t.bot.users.getUser('me', {})) as { data: { gid: string } };
    assert.equal(me.data.gid, USERS['lockstep'], 'the seeded bot token still works');
  });
});
