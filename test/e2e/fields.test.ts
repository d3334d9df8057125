/**
 * Two-way sync end to end, field by field: every synced field and comments (create and edit)
 * propagate Linear → Jira and Jira → Linear, each edit costs exactly one write on the other side and
 * none back on its own side (no loops), the pipeline goes quiet after each step, and a burst of
 * edits to one item coalesces into fewer writes that end on the last value. One world for all.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LedgerEntry } from '../emulators/common/ledger.ts';
import { routeName } from '../emulators/common/ledger.ts';
import { eventually, settled, startE2E, type E2E } from './harness.ts';
import {
  botCalls,
  jiraAccountId,
  jiraIssue as jiraIssueByKey,
  jiraIssues,
  lastSeq,
  linearIds,
  linearIssues,
  writes,
} from './helpers.ts';

type Platform = 'linear' | 'jira';
type Adf = {
  type: string;
  text?: string;
  attrs?: Record<string, unknown>;
  content?: Adf[];
  marks?: { type: string }[];
};

const other = (p: Platform): Platform => (p === 'linear' ? 'jira' : 'linear');

/**
 * Bot writes on a platform. Jira's POST /rest/api/3/comment/list ("Get comments by IDs") is a read
 * that uses POST for its id list (the connector's comment-marker lookup), so it is not a write.
 */
function botWrites(e: E2E, platform: Platform, since: number): LedgerEntry[] {
  return writes(botCalls(e, platform, since), platform).filter((x) => !x.path.endsWith('/comment/list'));
}

/** Every node of an ADF tree, depth first. */
function adfNodes(n: Adf): Adf[] {
  return [n, ...(n.content ?? []).flatMap(adfNodes)];
}
const adfText = (n: Adf) =>
  adfNodes(n)
    .map((x) => x.text ?? '')
    .join('');
const paragraph = (...content: Adf[]): Adf => ({ type: 'paragraph', content });
const text = (t: string, ...marks: string[]): Adf => ({
  type: 'text',
  text: t,
  ...(marks.length ? { marks: marks.map((type) => ({ type })) } : {}),
});
const doc = (...content: Adf[]) => ({ type: 'doc' as const, version: 1 as const, content });

describe('every field and comments sync both ways (end to end)', { timeout: 600_000 }, () => {
  let e: E2E;
  let linearId = '';
  let jiraKey = '';

  before(async () => {
    e = await startE2E();
    const bob = e.linearAs('bob');
    const ids = await linearIds(bob);
    const created = await bob.createIssue({
      teamId: ids.teamId,
      title: 'Fields: the starting point',
      description: 'First version.',
      priority: 3,
      stateId: ids.state('Todo'),
      assigneeId: await ids.user('bob@example.com'),
      labelIds: [ids.label('bug')],
    });
    const issue = await created.issue;
    assert.ok(issue, 'Linear returned the created issue');
    linearId = issue.id;
    const jira = e.jiraAs('carol');
    const mirrored = await eventually('the issue in Jira', async () =>
      (await jiraIssues(jira)).find((i) => i.fields.summary === 'Fields: the starting point'),
    );
    jiraKey = mirrored.key;
    await settled(e);
  });
  after(async () => {
    await e?.stop();
  });

  const linearIssue = async () => {
    const found = (await linearIssues(e.linearAs('alice'))).find((i) => i.id === linearId);
    assert.ok(found, `Linear issue ${linearId} exists`);
    return found;
  };
  const jiraIssue = async () => {
    return jiraIssueByKey(e.jiraAs('alice'), jiraKey);
  };

  /**
   * One person's edit on `from`: waits until `probe` sees it on the other platform, for the pipeline
   * to settle, then checks that no bot call at all happens for 3 s more. Returns the bot's writes on
   * both platforms during the step.
   */
  async function step<T>(
    what: string,
    from: Platform,
    act: () => Promise<unknown>,
    probe: () => Promise<T | undefined | false>,
  ): Promise<{ value: T; there: LedgerEntry[]; here: LedgerEntry[] }> {
    const since = { linear: lastSeq(e, 'linear'), jira: lastSeq(e, 'jira') };
    await act();
    const value = await eventually(what, probe);
    await settled(e);
    const there = botWrites(e, other(from), since[other(from)]);
    const here = botWrites(e, from, since[from]);
    const quiet = { linear: lastSeq(e, 'linear'), jira: lastSeq(e, 'jira') };
    await settled(e); // a loop would keep work pending or make calls here
    assert.deepEqual(botCalls(e, 'linear', quiet.linear).map(routeName), [], 'no Linear calls once settled');
    assert.deepEqual(botCalls(e, 'jira', quiet.jira).map(routeName), [], 'no Jira calls once settled');
    return { value, there, here };
  }

  /** Exactly one write on the other side, of the expected route, and none back on the edited side. */
  function oneWrite(r: { there: LedgerEntry[]; here: LedgerEntry[] }, route: RegExp) {
    const there = r.there.map(routeName);
    assert.equal(there.length, 1, `one write on the other side, got ${JSON.stringify(there)}`);
    assert.match(there[0]!, route);
    assert.deepEqual(r.here.map(routeName), [], 'no write back on the edited side');
  }
  const JIRA_EDIT = /^PUT \/rest\/api\/3\/issue\/\d+ editIssue$/;
  const JIRA_TRANSITION = /^POST \/rest\/api\/3\/issue\/\d+\/transitions doTransition$/;
  const LINEAR_UPDATE = /^POST \/graphql issueUpdate$/;

  async function jiraTransition(to: string) {
    const jira = e.jiraAs('carol');
    const t = await jira.issues.getTransitions({ issueIdOrKey: jiraKey });
    const pick = t.transitions?.find((x) => x.to?.name === to);
    assert.ok(pick?.id, `Jira offers a transition to ${to}`);
    await jira.issues.doTransition({ issueIdOrKey: jiraKey, transition: { id: pick.id } });
  }

  describe('title', () => {
    it('Linear → Jira', async () => {
      const r = await step(
        'the Linear title in Jira',
        'linear',
        () => e.linearAs('bob').updateIssue(linearId, { title: 'Fields: title from Linear' }),
        async () => (await jiraIssue()).fields.summary === 'Fields: title from Linear',
      );
      oneWrite(r, JIRA_EDIT);
    });
    it('Jira → Linear', async () => {
      const r = await step(
        'the Jira title in Linear',
        'jira',
        () =>
          e
            .jiraAs('carol')
            .issues.editIssue({ issueIdOrKey: jiraKey, fields: { summary: 'Fields: title from Jira' } }),
        async () => (await linearIssue()).title === 'Fields: title from Jira',
      );
      oneWrite(r, LINEAR_UPDATE);
    });
  });

  describe('description (markdown ↔ ADF)', () => {
    it('Linear → Jira: heading, list and bold become ADF nodes and marks', async () => {
      const md = '## Repro\n\n- open the cart\n- press **Pay**\n\nExpected: a receipt.';
      const r = await step(
        'the Linear description in Jira',
        'linear',
        () => e.linearAs('bob').updateIssue(linearId, { description: md }),
        async () => {
          const d = (await jiraIssue()).fields.description as Adf | null;
          return d && adfText(d).includes('Expected: a receipt.') ? d : undefined;
        },
      );
      oneWrite(r, JIRA_EDIT);
      const nodes = adfNodes(r.value);
      const heading = nodes.find((n) => n.type === 'heading');
      assert.equal(heading?.attrs?.level, 2);
      assert.equal(adfText(heading!), 'Repro');
      const list = nodes.find((n) => n.type === 'bulletList');
      assert.ok(list, 'a bulletList node');
      assert.equal(list.content?.length, 2);
      assert.deepEqual(list.content!.map(adfText), ['open the cart', 'press Pay']);
      const bold = nodes.find((n) => n.marks?.some((m) => m.type === 'strong'));
      assert.equal(bold?.text, 'Pay');
    });
    it('Jira → Linear: ADF paragraphs, list and marks become markdown', async () => {
      const adf = doc(paragraph(text('Finance needs '), text('monthly', 'strong'), text(' exports.')), {
        type: 'bulletList',
        content: [
          { type: 'listItem', content: [paragraph(text('CSV'))] },
          { type: 'listItem', content: [paragraph(text('XLSX'))] },
        ],
      });
      const r = await step(
        'the Jira description in Linear',
        'jira',
        () => e.jiraAs('carol').issues.editIssue({ issueIdOrKey: jiraKey, fields: { description: adf } }),
        async () => {
          const d = (await linearIssue()).description ?? '';
          return d.includes('XLSX') ? d : undefined;
        },
      );
      oneWrite(r, LINEAR_UPDATE);
      assert.equal(r.value, 'Finance needs **monthly** exports.\n\n- CSV\n- XLSX');
    });
  });

  describe('status (Linear workflow state ↔ Jira transitions)', () => {
    it('Linear → Jira: In Progress', async () => {
      const ids = await linearIds(e.linearAs('bob'));
      const r = await step(
        'In Progress in Jira',
        'linear',
        () => e.linearAs('bob').updateIssue(linearId, { stateId: ids.state('In Progress') }),
        async () => (await jiraIssue()).fields.status?.name === 'In Progress',
      );
      oneWrite(r, JIRA_TRANSITION);
    });
    it('Jira → Linear: Done', async () => {
      const r = await step(
        'Done in Linear',
        'jira',
        () => jiraTransition('Done'),
        async () => (await linearIssue()).state.name === 'Done',
      );
      oneWrite(r, LINEAR_UPDATE);
    });
    it('Linear → Jira: Canceled', async () => {
      const ids = await linearIds(e.linearAs('bob'));
      const r = await step(
        'Canceled in Jira',
        'linear',
        () => e.linearAs('bob').updateIssue(linearId, { stateId: ids.state('Canceled') }),
        async () => (await jiraIssue()).fields.status?.name === 'Canceled',
      );
      oneWrite(r, JIRA_TRANSITION);
    });
    it('Jira → Linear: To Do becomes Todo', async () => {
      const r = await step(
        'Todo in Linear',
        'jira',
        () => jiraTransition('To Do'),
        async () => (await linearIssue()).state.name === 'Todo',
      );
      oneWrite(r, LINEAR_UPDATE);
    });
  });

  describe('priority (Linear 0–4 ↔ Jira Highest..Lowest)', () => {
    it('Linear → Jira: Urgent (1) becomes Highest', async () => {
      const r = await step(
        'Highest in Jira',
        'linear',
        () => e.linearAs('bob').updateIssue(linearId, { priority: 1 }),
        async () => (await jiraIssue()).fields.priority?.name === 'Highest',
      );
      oneWrite(r, JIRA_EDIT);
    });
    it('Jira → Linear: Low becomes 4', async () => {
      const r = await step(
        'priority 4 in Linear',
        'jira',
        () =>
          e
            .jiraAs('carol')
            .issues.editIssue({ issueIdOrKey: jiraKey, fields: { priority: { name: 'Low' } } }),
        async () => (await linearIssue()).priority === 4,
      );
      oneWrite(r, LINEAR_UPDATE);
    });
  });

  describe('assignee (matched by email)', () => {
    it('Linear → Jira: Carol', async () => {
      const bob = e.linearAs('bob');
      const carolLinear = await (await linearIds(bob)).user('carol@example.com');
      const carolJira = await jiraAccountId(e.jiraAs('alice'), 'carol@example.com');
      const r = await step(
        'Carol assigned in Jira',
        'linear',
        () => bob.updateIssue(linearId, { assigneeId: carolLinear }),
        async () => (await jiraIssue()).fields.assignee?.accountId === carolJira,
      );
      oneWrite(r, JIRA_EDIT);
    });
    it('Jira → Linear: Alice', async () => {
      const jira = e.jiraAs('carol');
      const aliceJira = await jiraAccountId(jira, 'alice@example.com');
      const r = await step(
        'Alice assigned in Linear',
        'jira',
        () =>
          jira.issues.editIssue({ issueIdOrKey: jiraKey, fields: { assignee: { accountId: aliceJira } } }),
        async () => (await linearIssue()).assignee?.email === 'alice@example.com',
      );
      oneWrite(r, LINEAR_UPDATE);
    });
  });

  describe('labels (as a set)', () => {
    it('Linear → Jira: bug + improvement', async () => {
      const bob = e.linearAs('bob');
      const ids = await linearIds(bob);
      const r = await step(
        'two labels in Jira',
        'linear',
        () => bob.updateIssue(linearId, { labelIds: [ids.label('bug'), ids.label('improvement')] }),
        async () => {
          const labels = [...((await jiraIssue()).fields.labels ?? [])].sort();
          return labels.length === 2 ? labels : undefined;
        },
      );
      oneWrite(r, JIRA_EDIT);
      assert.deepEqual(r.value, ['bug', 'improvement']);
    });
    it('Jira → Linear: only feature', async () => {
      const r = await step(
        'the Jira labels in Linear',
        'jira',
        () => e.jiraAs('carol').issues.editIssue({ issueIdOrKey: jiraKey, fields: { labels: ['feature'] } }),
        async () => {
          const names = (await linearIssue()).labels.nodes.map((l) => l.name);
          return names.includes('feature') ? names : undefined;
        },
      );
      oneWrite(r, LINEAR_UPDATE);
      assert.deepEqual(r.value, ['feature']);
    });
  });

  it('after all field edits both sides hold the same values', async () => {
    const l = await linearIssue();
    const j = await jiraIssue();
    assert.equal(l.title, 'Fields: title from Jira');
    assert.equal(j.fields.summary, 'Fields: title from Jira');
    assert.equal(l.state.name, 'Todo');
    assert.equal(j.fields.status?.name, 'To Do');
    assert.equal(l.priority, 4);
    assert.equal(j.fields.priority?.name, 'Low');
    assert.equal(l.assignee?.email, 'alice@example.com');
    assert.equal(j.fields.assignee?.accountId, await jiraAccountId(e.jiraAs('alice'), 'alice@example.com'));
    assert.deepEqual(
      l.labels.nodes.map((x) => x.name),
      ['feature'],
    );
    assert.deepEqual(j.fields.labels, ['feature']);
  });

  describe('comments', () => {
    const linearComments = async () => {
      const issue = await e.linearAs('alice').issue(linearId);
      return (await issue.comments()).nodes;
    };
    const jiraComments = async () =>
      (await e.jiraAs('alice').issueComments.getComments({ issueIdOrKey: jiraKey })).comments ?? [];
    let fromLinear = ''; // Linear comment id
    let fromJira = ''; // Jira comment id

    it('a comment made in Linear appears in Jira (ADF body)', async () => {
      const r = await step(
        'the Linear comment in Jira',
        'linear',
        async () => {
          const c = await e
            .linearAs('bob')
            .createComment({ issueId: linearId, body: 'Seen on **Safari 17** too.' });
          fromLinear = (await c.comment)!.id;
        },
        async () => {
          const cs = await jiraComments();
          return cs.length === 1 ? cs[0] : undefined;
        },
      );
      oneWrite(r, /^POST \/rest\/api\/3\/issue\/\d+\/comment addComment$/);
      const body = r.value.body as Adf;
      assert.equal(adfText(body), 'Seen on Safari 17 too.');
      assert.equal(adfNodes(body).find((n) => n.marks?.some((m) => m.type === 'strong'))?.text, 'Safari 17');
    });

    it('editing that comment in Linear edits it in Jira', async () => {
      const r = await step(
        'the Linear comment edit in Jira',
        'linear',
        () => e.linearAs('bob').updateComment(fromLinear, { body: 'Seen on **Safari 17** and 16.' }),
        async () => {
          const cs = await jiraComments();
          return cs.length === 1 && adfText(cs[0]!.body as Adf) === 'Seen on Safari 17 and 16.'
            ? cs
            : undefined;
        },
      );
      oneWrite(r, /^PUT \/rest\/api\/3\/issue\/\d+\/comment\/\d+ updateComment$/);
      assert.equal(
        adfNodes(r.value[0]!.body as Adf).find((n) => n.marks?.some((m) => m.type === 'strong'))?.text,
        'Safari 17',
      );
    });

    it('a comment made in Jira appears in Linear (markdown body)', async () => {
      const r = await step(
        'the Jira comment in Linear',
        'jira',
        async () => {
          const c = await e.jiraAs('carol').issueComments.addComment({
            issueIdOrKey: jiraKey,
            comment: doc(paragraph(text('Fixed in '), text('build 42', 'strong'), text('.'))),
          });
          assert.ok(c.id);
          fromJira = c.id;
        },
        async () => {
          const cs = await linearComments();
          return cs.length === 2 ? cs.find((c) => c.id !== fromLinear) : undefined;
        },
      );
      oneWrite(r, /^POST \/graphql commentCreate$/);
      assert.equal(r.value.body, 'Fixed in **build 42**.');
    });

    it('editing that comment in Jira edits it in Linear', async () => {
      const r = await step(
        'the Jira comment edit in Linear',
        'jira',
        () =>
          e.jiraAs('carol').issueComments.updateComment({
            issueIdOrKey: jiraKey,
            id: fromJira,
            body: doc(paragraph(text('Fixed in '), text('build 43', 'strong'), text('.'))),
          }),
        async () => {
          const cs = await linearComments();
          return cs.find((c) => c.body.includes('build 43'));
        },
      );
      oneWrite(r, /^POST \/graphql commentUpdate$/);
      assert.equal(r.value.body, 'Fixed in **build 43**.');
      const cs = await linearComments();
      assert.equal(cs.length, 2, 'no comment duplicated');
      assert.equal(cs.find((c) => c.id === fromLinear)?.body, 'Seen on **Safari 17** and 16.');
      assert.equal((await jiraComments()).length, 2, 'no comment duplicated in Jira');
    });
  });

  it('a burst of 5 title edits in Linear coalesces into fewer Jira writes and ends on the last', async () => {
    const bob = e.linearAs('bob');
    const titles = [1, 2, 3, 4, 5].map((n) => `Fields: burst ${n}`);
    const r = await step(
      'the last burst title in Jira',
      'linear',
      async () => {
        for (const t of titles) await bob.updateIssue(linearId, { title: t });
      },
      async () => (await jiraIssue()).fields.summary === titles.at(-1),
    );
    const there = r.there.map(routeName);
    console.log(
      `burst of ${titles.length} Linear title edits → ${there.length} Jira write(s): ${JSON.stringify(there)}`,
    );
    assert.ok(there.length >= 1 && there.length < titles.length, `fewer than 5 writes, got ${there.length}`);
    for (const w of there) assert.match(w, JIRA_EDIT);
    assert.deepEqual(r.here.map(routeName), [], 'no write back to Linear');
    assert.equal((await jiraIssue()).fields.summary, 'Fields: burst 5');
    assert.equal((await linearIssue()).title, 'Fields: burst 5');
  });
});
