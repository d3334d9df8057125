/**
 * Support for the conflict tests (test/e2e/conflicts.test.ts, asana-guarantees.test.ts): a recorder
 * of a world's conflicts, one platform's commands and the outcomes topics (decoded with the
 * registry, as any consumer would), and read-backs of the fields the conflict tests compare.
 */
import { randomUUID } from 'node:crypto';
import type { LinearClient } from '@linear/sdk';
import type { Version3Client } from 'jira.js';
import {
  commandsTopic,
  createConsumer,
  createKafka,
  createRegistry,
  createSerde,
  type LockstepConsumer,
} from '../../services/core/kafka/index.ts';
import type { Conflict, WriteCommand, WriteOutcome } from '../../schemas/generated/types.ts';
import type { E2E } from './harness.ts';
import type { E2EPlatform } from './helpers.ts';

export interface TopicRecorder {
  conflicts: Conflict[];
  /** The commands to the platform given to `recordTopics`. */
  commands: WriteCommand[];
  outcomes: WriteOutcome[];
  stop(): Promise<void>;
}

/**
 * Reads the world's conflicts, `platform`'s commands and outcomes topics from the beginning, in a
 * private group.
 */
export async function recordTopics(e: E2E, platform: E2EPlatform = 'jira'): Promise<TopicRecorder> {
  const topics = e.config.kafka.topics;
  const kafka = createKafka(e.config.kafka);
  const serde = createSerde(createRegistry(e.config.registry.url), topics);
  const commandTopic = commandsTopic(topics, platform);
  const rec: TopicRecorder = { conflicts: [], commands: [], outcomes: [], stop: async () => {} };
  const consumer: LockstepConsumer = createConsumer<unknown>(kafka, serde, {
    groupId: `${e.config.kafka.clientId}-conflicts-test-${randomUUID()}`,
    topics: [topics.conflicts, commandTopic, topics.outcomes],
    fromBeginning: true,
    eachMessage: async (r) => {
      if (r.value === null) return;
      if (r.topic === topics.conflicts) rec.conflicts.push(r.value as Conflict);
      else if (r.topic === commandTopic) rec.commands.push(r.value as WriteCommand);
      else rec.outcomes.push(r.value as WriteOutcome);
    },
  });
  await consumer.start();
  rec.stop = () => consumer.stop();
  return rec;
}

export interface LinearRead {
  id: string;
  title: string;
  description: string | null;
  priority: number;
  dueDate: string | null;
  labels: string[];
  /** The assignee's email, or null. */
  assignee: string | null;
}

export async function linearIssue(client: LinearClient, id: string): Promise<LinearRead> {
  type Raw = Omit<LinearRead, 'labels' | 'assignee'> & {
    labels: { nodes: { name: string }[] };
    assignee: { email: string } | null;
  };
  const r = await client.client.rawRequest<{ issue: Raw }, { id: string }>(
    `query E2EIssue($id: String!) { issue(id: $id) { id title description priority dueDate labels { nodes { name } } assignee { email } } }`,
    { id },
  );
  const i = r.data?.issue;
  if (!i) throw new Error(`reading Linear issue ${id}: not found`);
  return { ...i, labels: i.labels.nodes.map((l) => l.name).sort(), assignee: i.assignee?.email ?? null };
}

export interface JiraRead {
  id: string;
  key: string;
  summary: string;
  /** The description's paragraphs as plain text (ADF read back). */
  paragraphs: string[];
  priority: string | undefined;
  duedate: string | null;
  labels: string[];
}

type Adf = { type: string; text?: string; content?: Adf[] };

function plain(node: Adf): string {
  return node.text ?? (node.content ?? []).map(plain).join('');
}

export async function jiraIssue(client: Version3Client, key: string): Promise<JiraRead> {
  const i = await client.issues.getIssue({
    issueIdOrKey: key,
    fields: ['summary', 'description', 'priority', 'duedate', 'labels'],
  });
  const f = i.fields;
  return {
    id: i.id,
    key: i.key,
    summary: f.summary,
    paragraphs: (f.description?.content ?? []).map((n) => plain(n)),
    priority: f.priority?.name,
    duedate: f.duedate ?? null,
    labels: [...(f.labels ?? [])].sort(),
  };
}

/** An ADF document of one paragraph per string, as Jira's editor saves it. */
export function adfParagraphs(paragraphs: string[]): Adf & { version: 1 } {
  return {
    type: 'doc',
    version: 1,
    content: paragraphs.map((text) => ({ type: 'paragraph', content: [{ type: 'text', text }] })),
  };
}
