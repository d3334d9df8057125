import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import avro from 'avsc';
import { backwardProblem, checkAgainstReleased, RELEASED_DIR, releasedVersions } from './evolution.ts';
import { SCHEMA_NAMES, schemaText } from './schemas.ts';

test('every contract has a released snapshot, and the current schemas read all of them', () => {
  const released = releasedVersions();
  for (const name of SCHEMA_NAMES)
    assert.ok(
      released.some((r) => r.name === name),
      `${name} has no file in ${RELEASED_DIR}`,
    );
  assert.deepEqual(checkAgainstReleased(), []);
});

test('the guard catches a new field without a default, and accepts one with a default', () => {
  const v1 = JSON.parse(schemaText('ChangeEvent'));
  const breaking = { ...v1, fields: [...v1.fields, { name: 'tenant', type: 'string' }] };
  const compatible = {
    ...v1,
    fields: [...v1.fields, { name: 'tenant', type: ['null', 'string'], default: null }],
  };
  assert.match(backwardProblem(JSON.stringify(breaking), JSON.stringify(v1)) ?? '', /tenant/);
  assert.equal(backwardProblem(JSON.stringify(compatible), JSON.stringify(v1)), undefined);

  // The same through checkAgainstReleased with a current-schemas dir holding the breaking change.
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-schemas-'));
  for (const name of SCHEMA_NAMES) writeFileSync(join(dir, `${name}.avsc`), schemaText(name));
  writeFileSync(join(dir, 'ChangeEvent.avsc'), JSON.stringify(breaking));
  const problems = checkAgainstReleased({ schemasDir: dir });
  assert.equal(problems.length, 1);
  assert.equal(problems[0]?.name, 'ChangeEvent');
  assert.equal(problems[0]?.version, 1);
});

test('removing an enum symbol that old data uses is caught', () => {
  const v1 = JSON.parse(schemaText('ChangeEvent'));
  const op = v1.fields.find((f: { name: string }) => f.name === 'op');
  const narrowed = {
    ...v1,
    fields: v1.fields.map((f: { name: string }) =>
      f === op ? { ...op, type: { ...op.type, symbols: ['c', 'u', 'd'] } } : f,
    ),
  };
  assert.ok(backwardProblem(JSON.stringify(narrowed), JSON.stringify(v1)));
});

test('data written with the released version decodes with the current schema', () => {
  for (const rel of releasedVersions()) {
    const writer = avro.Type.forSchema(JSON.parse(rel.schema) as avro.Schema);
    const reader = avro.Type.forSchema(JSON.parse(schemaText(rel.name)) as avro.Schema);
    const sample = writer.random();
    const decoded = reader.fromBuffer(writer.toBuffer(sample), reader.createResolver(writer));
    assert.ok(reader.isValid(decoded), rel.file);
  }
});
