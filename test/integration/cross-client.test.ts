/**
 * Another language's Confluent-compatible client (Python confluent-kafka + fastavro) reads what
 * Lockstep writes, and writes what `lockstep topics tail` reads. The Python environment lives in
 * .lockstep/pyenv and is created from python/requirements.txt on first use (pip, PyPI).
 */
import { lockstepTopicSpecs } from '../../services/app/topics.ts';
import assert from 'node:assert/strict';
import { execFile, type ExecFileOptions } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import {
  createKafka,
  createProducer,
  createRegistry,
  createSerde,
  ensureTopics,
  type LockstepProducer,
} from '../../services/core/kafka/index.ts';
import { rand, sampleChangeEvent, testConfig } from './core-helpers.ts';

const root = join(import.meta.dirname, '..', '..');
const venv = join(root, '.lockstep', 'pyenv');
const python = join(venv, 'bin', 'python');
const script = join(import.meta.dirname, 'python', 'cross_client.py');

/** What each Python run wrote on stderr (its step timings), printed as test diagnostics. */
const stderrs: string[] = [];

function run(cmd: string, args: string[], opts: ExecFileOptions & { input?: string } = {}): Promise<string> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: 120_000, maxBuffer: 16 << 20, encoding: 'utf8', ...opts },
      (err, stdout, stderr) => {
        const took = `${cmd === python ? args[1] : cmd} took ${Date.now() - started} ms`;
        if (err) {
          reject(
            new Error(
              `${cmd} ${args.join(' ')}: ${err.message} (${took})\nstdout:\n${stdout}\nstderr:\n${stderr}`,
            ),
          );
          return;
        }
        if (cmd === python) stderrs.push(`${took}\n${String(stderr)}`);
        resolve(String(stdout));
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

const config = testConfig();
const topic = config.kafka.topics.changes;
let producer: LockstepProducer;

before(async () => {
  if (!existsSync(python)) await run('python3', ['-m', 'venv', venv]);
  await run(
    python,
    ['-m', 'pip', 'install', '-q', '-r', join(import.meta.dirname, 'python', 'requirements.txt')],
    { timeout: 600_000 },
  );
  const kafka = createKafka(config.kafka);
  await ensureTopics(kafka, lockstepTopicSpecs(kafka.config));
  producer = createProducer(kafka, createSerde(createRegistry(config.registry.url), config.kafka.topics));
  await producer.connect();
});
after(async () => {
  await producer?.disconnect();
});

test('Python confluent-kafka reads what Lockstep writes, and lockstep topics tail decodes what Python writes', async (t) => {
  t.after(() => {
    for (const s of stderrs) t.diagnostic(s);
  });
  const event = sampleChangeEvent(rand('ev'));
  await producer.produce<'ChangeEvent'>(topic, 'linear:ENG:issue:lin-123', event, {
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  });

  const read = (
    await run(python, [script, 'read', config.kafka.brokers[0]!, config.registry.url, topic, '1'])
  )
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(read.length, 1);
  assert.equal(read[0].key, 'linear:ENG:issue:lin-123');
  assert.equal(read[0].headers.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  assert.deepEqual(read[0].value, event);

  const pyEvent = {
    ...sampleChangeEvent(rand('py')),
    source: { ...event.source, platform: 'jira', workspace: 'PROJ', entityId: '10001', entityKey: 'PROJ-7' },
  };
  await run(python, [script, 'write', config.kafka.brokers[0]!, config.registry.url, topic], {
    input: JSON.stringify(pyEvent),
  });

  const file = join(mkdtempSync(join(tmpdir(), 'lockstep-cc-')), 'lockstep.yaml');
  writeFileSync(file, stringify(config));
  const lines = (
    await run(join(root, 'node_modules/.bin/node'), [
      join(root, 'bin/lockstep.mjs'),
      'topics',
      'tail',
      topic,
      '--from-beginning',
      '--exit-at-end',
      '--config',
      file,
    ])
  )
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  const fromPython = lines.find((l) => l.key === 'jira:PROJ:issue:10001');
  assert.ok(fromPython, JSON.stringify(lines));
  assert.equal(fromPython.headers['written-by'], 'python');
  assert.deepEqual(fromPython.value, pyEvent);
  assert.deepEqual(lines.find((l) => l.key === 'linear:ENG:issue:lin-123')?.value, event);
});
