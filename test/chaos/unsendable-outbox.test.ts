/**
 * An unsendable outbox row while other items sync (issue 7, finding 3). The Jira commands topic is
 * set to refuse records over 20 000 bytes (`max.message.bytes`, as a mis-sized topic would), and a
 * person pastes a 25 000-character description into L2 in Linear while the workload's edits and
 * creates flow. The reconciler's command for L2 can never be published: the relay must dead-letter
 * that one row and keep sending the others in order. Healed by restoring the topic's limit, then
 * an operator's `lockstep dlq retry` of the one dead letter: L2's description lands in Jira with
 * one write. The dead-letter topic ends holding exactly that record.
 */
import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { commandsTopic, createKafka } from '../../services/core/kafka/index.ts';
import { lockstep } from '../e2e/faults-support.ts';
import { jiraIssue, jiraIssues, linearIssues } from '../e2e/helpers.ts';
import { chaosScenario } from './scenario.ts';
import { deadLetterCount, eventually } from './workload.ts';
import type { ChaosWorld } from './world.ts';

const LIMIT = 20_000;
const DESCRIPTION = `Pasted log:\n\n${'0123456789 abcdefghij klmnopqrst uvwxyz. '.repeat(625)}`.slice(
  0,
  25_000,
);

async function setTopicLimit(w: ChaosWorld, topic: string, bytes: number | null): Promise<void> {
  const admin = createKafka({ ...w.config.kafka, brokers: [w.kafkaDirect] }).kafka.admin();
  await admin.connect();
  try {
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: kafkajs.ConfigResourceTypes.TOPIC,
          name: topic,
          // 1048588 is the broker's default (message.max.bytes): what the topic had before.
          configEntries: [{ name: 'max.message.bytes', value: String(bytes ?? 1_048_588) }],
        },
      ],
    });
  } finally {
    await admin.disconnect();
  }
}

/** The plain text of a Jira ADF document. */
function adfText(node: unknown): string {
  if (node === null || typeof node !== 'object') return '';
  const n = node as { text?: string; content?: unknown[] };
  return (n.text ?? '') + (n.content ?? []).map(adfText).join('');
}

chaosScenario({
  name: 'an unsendable outbox row while other items sync',
  fault: `Jira commands topic refuses records over ${LIMIT} bytes; a 25 000-character description pasted into L2 meanwhile`,
  expect: { deadLetters: 1, extraWrites: { 'jira PUT /rest/api/3/issue/{id}': 1 } },
  async run(w, load) {
    const topic = commandsTopic(w.config.kafka.topics, 'jira');
    await setTopicLimit(w, topic, LIMIT);
    const bob = w.linearAs('bob');
    const l2 = (await linearIssues(bob)).find((i) => i.title === 'L2 created in Linear');
    if (!l2) throw new Error('looking up L2 in Linear: not there');
    await load.runSteps(async (i) => {
      if (i === 2) await bob.updateIssue(l2.id, { description: DESCRIPTION });
    });
    // The fault bit: that command was dead-lettered by the relay (and nothing else was).
    const listed = await eventually(
      'the outbox row of the oversized command on the dead-letter topic',
      async () => {
        if ((await deadLetterCount(w)) < 1) return undefined;
        const out = await lockstep(['dlq', 'list', '--json', '-c', w.pipeline.configFile]);
        const all = out
          .split('\n')
          .filter((l) => l.trim())
          .map((l) => JSON.parse(l) as { id: string; stage: string; topic: string; reason: string });
        return all.length ? all : undefined;
      },
      120_000,
    );
    assert.equal(listed.length, 1, `one dead letter: ${JSON.stringify(listed)}`);
    assert.equal(listed[0]!.stage, 'reconciler');
    assert.equal(listed[0]!.topic, topic);
    assert.match(listed[0]!.reason, /MESSAGE_TOO_LARGE|too large/i);

    // Heal: the topic takes the record again, and the operator retries the dead letter.
    await setTopicLimit(w, topic, null);
    const healedAt = Date.now();
    await lockstep(['dlq', 'retry', listed[0]!.id, '--by', 'chaos-operator', '-c', w.pipeline.configFile]);
    const key = (await jiraIssues(w.jiraAs('carol'))).find(
      (i) => i.fields.summary === 'L2 created in Linear',
    )?.key;
    if (!key) throw new Error('looking up L2 in Jira: not there');
    await eventually(
      "L2's pasted description in Jira after the retry",
      async () => adfText((await jiraIssue(w.jiraAs('carol'), key)).fields.description).length >= 24_000,
      120_000,
    );
    return healedAt;
  },
});
