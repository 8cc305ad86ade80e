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
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cli, jsonOut, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, deleteTopics, KAFKA_BOOTSTRAP, uniqueTopic } from '../../helpers/kafka.ts';
import {
  ensureSchemaRegistries,
  lockRegistries,
  resetRegistry,
  SR_SOURCE_URL,
  SR_TARGET_URL,
} from '../../helpers/schema-registry.ts';
import {
  comparable,
  decodeTopicWithRegistry,
  type ExpectedSchemaRecord,
  produceSchemaRecords,
  registerTestSchemas,
  registerUnrelatedSchemas,
  type SchemaRecordView,
  type TestSchemas,
} from '../../helpers/sr-codec.ts';

const PER_FORMAT = 40;
let release: () => Promise<void>;
let topic: string;
let schemas: TestSchemas;
let expected: Map<string, ExpectedSchemaRecord>;
const created: string[] = [];
const dir = tempDir('sr-decode');
const storage = { backend: 'filesystem', path: join(dir, 'backups') };

const views = (m: Map<string, SchemaRecordView>) => Object.fromEntries([...m].map(([k, v]) => [k, comparable(v)]));

before(async () => {
  await ensureSchemaRegistries();
  release = await lockRegistries();
  await resetRegistry(SR_SOURCE_URL);
  await resetRegistry(SR_TARGET_URL);
  topic = await createTopic(uniqueTopic('sr-decode'), { partitions: 3, configs: { 'compression.type': 'lz4' } });
  created.push(topic);
  schemas = await registerTestSchemas(SR_SOURCE_URL, topic);
  expected = await produceSchemaRecords(topic, schemas, { perFormat: PER_FORMAT, partitions: 3 });
  const backup = writeConfig(dir, 'backup.yaml', {
    backup_id: 'dec',
    source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
    storage,
    backup: { schema_registry: { url: SR_SOURCE_URL } },
  });
  const r = await cli(['backup', '-c', backup]);
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await deleteTopics(created).catch(() => {});
  await release?.();
});

async function restoreAndDecode(
  name: string,
): Promise<{ ids: number[]; changed: { source: number; target: number }[] }> {
  const target = `${topic}-${name}`;
  created.push(target);
  const config = writeConfig(dir, `${name}.yaml`, {
    backup_id: 'dec',
    target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
    storage,
    restore: { restore_id: name, topic_mapping: { [topic]: target }, schema_registry: { url: SR_TARGET_URL } },
  });
  const r = await cli(['restore', '-c', config, '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const out = jsonOut<{ schema_registry: { changed: { source: number; target: number }[]; unknown_total: number } }>(r);
  assert.equal(out.schema_registry.unknown_total, 0);
  const decoded = await decodeTopicWithRegistry(KAFKA_BOOTSTRAP, target, SR_TARGET_URL);
  assert.deepEqual(decoded.failures, [], 'every restored record decodes with the target registry');
  assert.equal(decoded.count, 3 * PER_FORMAT);
  assert.deepEqual(views(decoded.records), views(expected), 'every record decodes to what was produced');
  return { ids: decoded.ids, changed: out.schema_registry.changed };
}

test('the default selection captures the TopicRecordNameStrategy subjects and the referenced .proto', async () => {
  const d = await cli(['describe', '--path', storage.path, '--backup-id', 'dec', '--format', 'json']);
  assert.equal(d.code, 0, d.stderr);
  const subjects = jsonOut<{ schema_registry: { subjects: { subject: string }[] } }>(d).schema_registry.subjects.map(
    (s) => s.subject,
  );
  assert.deepEqual([...subjects].sort(), Object.values(schemas.subjects).sort());
});

test('into the empty target registry: every record decodes on the target to the source value', async () => {
  await restoreAndDecode('empty');
});

test('into a target holding unrelated schemas under the same ids: ids differ, every record still decodes', async () => {
  await resetRegistry(SR_TARGET_URL);
  const taken = await registerUnrelatedSchemas(SR_TARGET_URL, 6);
  const sourceIds = Object.values(schemas.ids);
  for (const id of sourceIds) assert.ok(taken.includes(id), `id ${id} names an unrelated schema on the target`);
  const { ids, changed } = await restoreAndDecode('prefilled');
  for (const id of ids) assert.ok(!taken.includes(id), `record id ${id} is not one of the unrelated schemas`);
  assert.deepEqual(
    changed.map((c) => c.source).sort((a, b) => a - b),
    [...sourceIds].sort((a, b) => a - b),
    'the id map lists every source id as changed',
  );
});
