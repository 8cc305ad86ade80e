/**
 * remap_ids checked with the independent codec (test/helpers/sr-codec.ts: avsc, protobufjs, ajv,
 * none of our code): Avro, Protobuf (with a referenced .proto and nested message indexes) and JSON
 * Schema records under TopicRecordNameStrategy subjects, produced by Kafka's Java producer, backed
 * up with the default subject selection, restored into the empty target registry and into one
 * pre-filled with unrelated schemas under the same ids. Every restored record, read by Kafka's
 * Java consumer and decoded with the schemas the TARGET registry holds under its new ids, equals
 * what was produced.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cli, jsonOut, writeConfig } from '../../helpers/cli.ts';
import { KAFKA_BOOTSTRAP } from '../../helpers/kafka.ts';
import { ensureSchemaRegistries, resetRegistry, SR_TARGET_URL } from '../../helpers/schema-registry.ts';
import { decodeTopicWithRegistry, registerUnrelatedSchemas } from '../../helpers/sr-codec.ts';
import { backedUpCodecLine, type CodecLine, views } from './codec-line.ts';

const PER_FORMAT = 40;
let line: CodecLine;

before(async () => {
  await ensureSchemaRegistries();
  line = await backedUpCodecLine('sr-decode', {
    targets: [SR_TARGET_URL],
    partitions: 3,
    perFormat: PER_FORMAT,
    configs: { 'compression.type': 'lz4' },
  });
});

after(async () => {
  await line?.close();
});

async function restoreAndDecode(
  name: string,
): Promise<{ ids: number[]; changed: { source: number; target: number }[] }> {
  const target = `${line.topic}-${name}`;
  line.created.push(target);
  const config = writeConfig(line.dir, `${name}.yaml`, {
    backup_id: line.backupId,
    target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
    storage: line.storage,
    restore: { restore_id: name, topic_mapping: { [line.topic]: target }, schema_registry: { url: SR_TARGET_URL } },
  });
  const r = await cli(['restore', '-c', config, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const out = jsonOut<{ schema_registry: { changed: { source: number; target: number }[]; unknown_total: number } }>(r);
  assert.equal(out.schema_registry.unknown_total, 0);
  const decoded = await decodeTopicWithRegistry(KAFKA_BOOTSTRAP, target, SR_TARGET_URL);
  assert.deepEqual(decoded.failures, [], 'every restored record decodes with the target registry');
  assert.equal(decoded.count, 3 * PER_FORMAT);
  assert.deepEqual(views(decoded.records), views(line.expected), 'every record decodes to what was produced');
  return { ids: decoded.ids, changed: out.schema_registry.changed };
}

test('the default selection captures the TopicRecordNameStrategy subjects and the referenced .proto', async () => {
  const d = await cli(['describe', '--path', line.storage.path, '--backup-id', line.backupId, '--format', 'json']);
  assert.equal(d.code, 0, d.stderr);
  const subjects = jsonOut<{ schema_registry: { subjects: { subject: string }[] } }>(d).schema_registry.subjects.map(
    (s) => s.subject,
  );
  assert.deepEqual([...subjects].sort(), Object.values(line.schemas.subjects).sort());
});

test('into the empty target registry: every record decodes on the target to the source value', async () => {
  await restoreAndDecode('empty');
});

test('into a target holding unrelated schemas under the same ids: ids differ, every record still decodes', async () => {
  await resetRegistry(SR_TARGET_URL);
  const taken = await registerUnrelatedSchemas(SR_TARGET_URL, 6);
  const sourceIds = Object.values(line.schemas.ids);
  for (const id of sourceIds) assert.ok(taken.includes(id), `id ${id} names an unrelated schema on the target`);
  const { ids, changed } = await restoreAndDecode('prefilled');
  for (const id of ids) assert.ok(!taken.includes(id), `record id ${id} is not one of the unrelated schemas`);
  assert.deepEqual(
    changed.map((c) => c.source).sort((a, b) => a - b),
    [...sourceIds].sort((a, b) => a - b),
    'the id map lists every source id as changed',
  );
});
