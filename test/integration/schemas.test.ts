/**
 * Schema evolution against the real registry: BACKWARD is enforced on `<topic>-value`, and the
 * `lockstep schemas` commands report it. (The avsc-resolver guard against schemas/released/ is
 * unit-tested in services/core/kafka/evolution.test.ts.)
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { lockstepTopicSpecs } from '../../services/app/topics.ts';
import { LockstepError } from '../../services/core/errors/index.ts';
import { createRegistry, schemaText, valueSubject } from '../../services/core/kafka/index.ts';
import { rand, testConfig } from './core-helpers.ts';

const root = join(import.meta.dirname, '..', '..');

test('the registry enforces BACKWARD: a new field without default is refused, with a default accepted', async () => {
  const registry = createRegistry(testConfig().registry.url);
  const subject = `${rand('subj')}-value`;
  const v1 = JSON.parse(schemaText('ChangeEvent'));
  const id1 = await registry.register(subject, JSON.stringify(v1));
  assert.equal(
    await registry.register(subject, JSON.stringify(v1)),
    id1,
    'registering the same schema again is idempotent',
  );

  const breaking = JSON.stringify({ ...v1, fields: [...v1.fields, { name: 'tenant', type: 'string' }] });
  const compatible = JSON.stringify({
    ...v1,
    fields: [...v1.fields, { name: 'tenant', type: ['null', 'string'], default: null }],
  });

  assert.equal((await registry.checkCompatibility(subject, breaking))?.compatible, false);
  assert.equal((await registry.checkCompatibility(subject, compatible))?.compatible, true);
  await assert.rejects(
    registry.register(subject, breaking),
    (e) => e instanceof LockstepError && e.category === 'conflict',
  );
  const id2 = await registry.register(subject, compatible);
  assert.notEqual(id2, id1);
  assert.equal((await registry.latest(subject))?.id, id2);
  assert.equal(await registry.checkCompatibility(`${rand('none')}-value`, compatible), undefined);
});

test('lockstep schemas register, then check passes; check fails once a subject holds a schema the current one cannot follow', async () => {
  const config = testConfig();
  const file = join(mkdtempSync(join(tmpdir(), 'lockstep-schemas-')), 'lockstep.yaml');
  writeFileSync(file, stringify(config));
  const cli = (args: string[]) =>
    promisify(execFile)(
      join(root, 'node_modules/.bin/node'),
      [join(root, 'bin/lockstep.mjs'), 'schemas', ...args, '--config', file],
      { timeout: 60_000 },
    );

  const before = await cli(['check']);
  assert.match(before.stdout, /^ok {3}released/m);
  assert.match(
    before.stdout,
    new RegExp(
      `^new  registry  ${valueSubject(config.kafka.topics.changes).replace(/\./g, '\\.')}: not registered yet`,
      'm',
    ),
  );

  const reg = await cli(['register']);
  assert.equal(reg.stdout.trim().split('\n').length, lockstepTopicSpecs(config.kafka).length);
  const after = await cli(['check']);
  assert.equal(
    (after.stdout.match(/^ok {3}registry/gm) ?? []).length,
    lockstepTopicSpecs(config.kafka).length,
    after.stdout,
  );

  // Someone forces in a v2 (compatibility NONE) that renamed a required field: our current schema
  // cannot read v2 data (eventId missing, no default), so check must fail for that subject.
  const v1 = JSON.parse(schemaText('ChangeEvent'));
  const registry = createRegistry(config.registry.url);
  const v2 = {
    ...v1,
    fields: v1.fields
      .filter((f: { name: string }) => f.name !== 'eventId')
      .concat([{ name: 'eventId2', type: 'string' }]),
  };
  await registry.register(valueSubject(config.kafka.topics.changes), JSON.stringify(v2), 'NONE');
  await registry.register(valueSubject(config.kafka.topics.changes), JSON.stringify(v2), 'BACKWARD');
  const failing = await cli(['check']).then(
    () => assert.fail('schemas check should exit 1'),
    (e: { code: number; stdout: string }) => e,
  );
  assert.equal(failing.code, 1);
  assert.match(failing.stdout, /^FAIL registry {2}.*changes\.v1-value: ChangeEvent is not compatible/m);
});
