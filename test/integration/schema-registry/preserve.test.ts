/**
 * restore.schema_registry strategy preserve_ids against the IMPORT-capable test registry
 * (AxonOps Schema Registry, scripts/services: schema-registry-import): the captured schemas are
 * registered under their original ids and versions, the records restored byte for byte, and
 * every restored record decodes with the independent codec against that registry to what was
 * produced. A target that holds another schema under one of the ids refuses the restore before
 * anything is written (exit 2), and the registry's mode is set back after the import.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cli, jsonOut } from '../../helpers/cli.ts';
import { KAFKA_BOOTSTRAP } from '../../helpers/kafka.ts';
import { dumpTopic } from '../../helpers/peers.ts';
import {
  ensureImportRegistry,
  ensureSchemaRegistries,
  registryRequest,
  resetRegistry,
  SR_IMPORT_URL,
} from '../../helpers/schema-registry.ts';
import { decodeTopicWithRegistry, type TestSchemas } from '../../helpers/sr-codec.ts';
import { backedUpCodecLine, type CodecLine, restoreConfig as restoreConfigOf, views } from './codec-line.ts';

let line: CodecLine;

before(async () => {
  await ensureSchemaRegistries();
  await ensureImportRegistry();
  line = await backedUpCodecLine('sr-preserve', { targets: [SR_IMPORT_URL], partitions: 2, perFormat: 20 });
});

after(async () => {
  await resetRegistry(SR_IMPORT_URL).catch(() => {});
  await line?.close();
});

const restoreConfig = (name: string) => restoreConfigOf(line, name, { url: SR_IMPORT_URL, strategy: 'preserve_ids' });

test('preserve_ids: same ids and versions on the target, records unchanged, every record decodes there', async () => {
  const before = await registryRequest<{ mode: string }>(SR_IMPORT_URL, 'GET', '/mode');
  const r = await cli(['restore', '-c', restoreConfig('kept'), '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const out = jsonOut<{
    schema_registry: { strategy: string; registered: number; changed: unknown[]; rewritten: number };
  }>(r);
  assert.equal(out.schema_registry.strategy, 'preserve_ids');
  assert.equal(out.schema_registry.registered, 5);
  assert.deepEqual(out.schema_registry.changed, []);
  assert.equal(out.schema_registry.rewritten, 0);
  assert.deepEqual(await registryRequest(SR_IMPORT_URL, 'GET', '/mode'), before, 'the mode is set back');
  for (const [k, subject] of Object.entries(line.schemas.subjects)) {
    const v = await registryRequest<{ id: number; version: number }>(
      SR_IMPORT_URL,
      'GET',
      `/subjects/${encodeURIComponent(subject)}/versions/1`,
    );
    assert.equal(v.id, line.schemas.ids[k as keyof TestSchemas['ids']], `${subject} keeps its id`);
  }
  const source = await dumpTopic(line.topic);
  const restored = await dumpTopic(`${line.topic}-kept`);
  assert.deepEqual(
    restored.map((x) => [x.partition, x.offset, x.key, x.value]),
    source.map((x) => [x.partition, x.offset, x.key, x.value]),
    'records byte for byte',
  );
  const decoded = await decodeTopicWithRegistry(KAFKA_BOOTSTRAP, `${line.topic}-kept`, SR_IMPORT_URL);
  assert.deepEqual(decoded.failures, []);
  assert.deepEqual(views(decoded.records), views(line.expected));
});

test('preserve_ids: a target holding another schema under one of the ids is refused before anything is written (exit 2)', async () => {
  await resetRegistry(SR_IMPORT_URL);
  await registryRequest(SR_IMPORT_URL, 'POST', '/subjects/squatter-value/versions', { schema: '"bytes"' });
  const r = await cli(['restore', '-c', restoreConfig('refused')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /the target registry already holds other schemas under ids of the backup: id 1 /);
  assert.deepEqual(await registryRequest<string[]>(SR_IMPORT_URL, 'GET', '/subjects'), ['squatter-value']);
  const topics = await dumpTopic(`${line.topic}-refused`, { timeoutMs: 5000 }).catch(() => []);
  assert.equal(topics.length, 0, 'no record was produced');
});
