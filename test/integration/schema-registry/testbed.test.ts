/**
 * The Schema Registry test bed itself: the two srfake registries (scripts/services.sh start
 * schema-registry) and the independent codec (test/helpers/sr-codec.ts) that the registry
 * backup/restore tests rely on. Records are produced and read with Kafka's Java client; values
 * are compared with values written out in the helper, never re-derived from the encoded bytes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTopic, deleteTopics, KAFKA_BOOTSTRAP, uniqueTopic } from '../../helpers/kafka.ts';
import { dumpTopic, produceSpec, type SpecRecord } from '../../helpers/peers.ts';
import {
  ensureImportRegistry,
  ensureSchemaRegistries,
  lockRegistries,
  registryRequest,
  resetRegistry,
  SR_IMPORT_URL,
  SR_SOURCE_URL,
  SR_TARGET_URL,
} from '../../helpers/schema-registry.ts';
import {
  COMMON_PROTO_IMPORT,
  COMMON_PROTO_SUBJECT,
  comparable,
  decodeTopicWithRegistry,
  type ExpectedSchemaRecord,
  encodeConfluent,
  parseConfluent,
  produceSchemaRecords,
  readMessageIndexes,
  registerTestSchemas,
  registerUnrelatedSchemas,
  type SchemaRecordView,
  type TestSchemas,
} from '../../helpers/sr-codec.ts';

const PER_FORMAT = 6;
let release: () => Promise<void>;
const topics: string[] = [];
let topic: string;
let schemas: TestSchemas;
let expected: Map<string, ExpectedSchemaRecord>;

interface SchemaById {
  schema: string;
  schemaType?: string;
  references?: { name: string; subject: string; version: number }[];
}

function views(m: Map<string, SchemaRecordView>): Record<string, SchemaRecordView> {
  return Object.fromEntries([...m].map(([k, v]) => [k, comparable(v)]));
}

before(async () => {
  await ensureSchemaRegistries();
  await ensureImportRegistry();
  release = await lockRegistries();
  await resetRegistry(SR_SOURCE_URL);
  await resetRegistry(SR_TARGET_URL);
  topic = await createTopic(uniqueTopic('sr-testbed'), { partitions: 3 });
  topics.push(topic);
  schemas = await registerTestSchemas(SR_SOURCE_URL, topic);
  expected = await produceSchemaRecords(topic, schemas, { perFormat: PER_FORMAT, partitions: 3 });
});

after(async () => {
  await deleteTopics(topics).catch(() => {});
  await release?.();
});

test('on an empty source the test schemas get ids 1..5 in registration order, and registering again changes nothing', async () => {
  assert.deepEqual(schemas.ids, { key: 1, avro: 2, protobufCommon: 3, protobuf: 4, json: 5 });
  const again = await registerTestSchemas(SR_SOURCE_URL, topic);
  assert.deepEqual(again.ids, schemas.ids);
  const subjects = await registryRequest<string[]>(SR_SOURCE_URL, 'GET', '/subjects');
  assert.deepEqual(
    [...subjects].sort(),
    [
      COMMON_PROTO_SUBJECT,
      `${topic}-kb.test.Order`,
      `${topic}-kb.test.Payment`,
      `${topic}-kb.test.Shipment`,
      `${topic}-key`,
    ].sort(),
  );
});

test('records produced with the Java producer decode with the source registry to the expected values', async () => {
  const decoded = await decodeTopicWithRegistry(KAFKA_BOOTSTRAP, topic, SR_SOURCE_URL);
  assert.deepEqual(decoded.failures, []);
  assert.equal(decoded.count, 3 * PER_FORMAT);
  assert.equal(expected.size, 3 * PER_FORMAT);
  assert.deepEqual(views(decoded.records), views(expected));
  // the referenced common.proto (id 3) is never a record's id
  assert.deepEqual(decoded.ids, [1, 2, 4, 5]);
  for (const r of decoded.records.values()) {
    assert.equal(r.keySchemaId, 1);
    assert.equal(r.valueSchemaId, { AVRO: 2, PROTOBUF: 4, JSON: 5 }[r.format]);
  }
  // spot checks written out by hand, against mistakes shared by encoder and decoder
  assert.deepEqual(decoded.records.get('avro-0001')?.value, {
    amount: { $bytes: 'cfc0' }, // unscaled -(1 * 12345 + 7) = -12352: two's complement 0xcfc0
    attempts: { first: 1, second: -1 },
    customer: { name: 'customer 1 ü', tier: 'SILVER' },
    id: 1_000_000_000_001,
    note: 'note 1',
    ratio: 0.125,
    tags: ['tag0'],
  });
  assert.deepEqual(decoded.records.get('json-0002')?.value, {
    carrier: 'post',
    dims: { h: 4, w: 2.5 },
    express: false,
    id: 'shipment-2',
    notes: null,
    weightGrams: 500,
  });
});

test('Protobuf records carry the Confluent message indexes of the second message type and of a nested one', async () => {
  const dumped = await dumpTopic(topic);
  const byKind = new Map<string, Buffer>();
  for (const r of dumped) {
    const value = Buffer.from(r.value ?? '', 'base64');
    const wire = parseConfluent(value);
    assert.ok(wire, `offset ${r.offset} is in the wire format`);
    if (wire.schemaId !== schemas.ids.protobuf) continue;
    const { indexes } = readMessageIndexes(wire.body);
    byKind.set(
      indexes.join(','),
      value.subarray(0, 5 + (indexes.length === 1 && indexes[0] === 0 ? 1 : 1 + indexes.length)),
    );
  }
  // magic 0, id 4, then: [1] = count 1, index 1 (zigzag 2, 2); [1,0] = 4, 2, 0; [0] = the single byte 0
  assert.deepEqual(byKind.get('1'), Buffer.from([0, 0, 0, 0, 4, 2, 2]));
  assert.deepEqual(byKind.get('1,0'), Buffer.from([0, 0, 0, 0, 4, 4, 2, 0]));
  assert.deepEqual(byKind.get('0'), Buffer.from([0, 0, 0, 0, 4, 0]));
  assert.deepEqual(encodeConfluent(300, Buffer.from([9]), [1, 0]), Buffer.from([0, 0, 0, 1, 44, 4, 2, 0, 9]));
});

test('the Protobuf schema with a reference is served with it, and its records decode through it', async () => {
  const order = await registryRequest<SchemaById>(SR_SOURCE_URL, 'GET', `/schemas/ids/${schemas.ids.protobuf}`);
  assert.equal(order.schemaType, 'PROTOBUF');
  assert.deepEqual(order.references, [{ name: COMMON_PROTO_IMPORT, subject: COMMON_PROTO_SUBJECT, version: 1 }]);
  assert.match(order.schema, /import "kb\/common.proto";/);
  const decoded = await decodeTopicWithRegistry(KAFKA_BOOTSTRAP, topic, SR_SOURCE_URL);
  const o = decoded.records.get('protobuf-0003');
  assert.ok(o);
  assert.equal(o.messageType, 'kb.test.Order');
  assert.deepEqual(o.messageIndexes, [1]);
  // total and status are kb.common types, known only through the reference
  const value = o.value as Record<string, unknown>;
  assert.deepEqual(value['total'], { currency: 'USD', nanos: 3000, units: '1000000000003' });
  assert.equal(value['status'], 'STATUS_SHIPPED');
  assert.equal(decoded.records.get('protobuf-0004')?.messageType, 'kb.test.Order.Audit');
  assert.equal(decoded.records.get('protobuf-0005')?.messageType, 'kb.test.OrderLine');
});

test('a target pre-filled with unrelated schemas has other schemas under the source ids; records decode there only with remapped ids', async () => {
  const unrelated = await registerUnrelatedSchemas(SR_TARGET_URL, 5);
  assert.deepEqual(unrelated, [1, 2, 3, 4, 5]);
  for (const id of unrelated) {
    const onSource = await registryRequest<SchemaById>(SR_SOURCE_URL, 'GET', `/schemas/ids/${id}`);
    const onTarget = await registryRequest<SchemaById>(SR_TARGET_URL, 'GET', `/schemas/ids/${id}`);
    assert.notEqual(onTarget.schema, onSource.schema, `id ${id} names another schema on the target`);
  }

  // the bytes as they are, read with the target's schemas: no record comes out as on the source
  const wrong = await decodeTopicWithRegistry(KAFKA_BOOTSTRAP, topic, SR_TARGET_URL);
  for (const [k, e] of expected) {
    const got = wrong.records.get(k);
    if (got !== undefined) assert.notDeepEqual(comparable(got), comparable(e), `${k} must not decode on the target`);
  }
  assert.ok(wrong.failures.length > 0);

  // the same schemas registered on the target get new ids; ids rewritten by that map decode there
  const onTarget = await registerTestSchemas(SR_TARGET_URL, topic);
  assert.deepEqual(onTarget.ids, { key: 6, avro: 7, protobufCommon: 8, protobuf: 9, json: 10 });
  const map = new Map(
    (Object.keys(schemas.ids) as (keyof TestSchemas['ids'])[]).map((k) => [schemas.ids[k], onTarget.ids[k]]),
  );
  const rewrite = (b64: string | null): Buffer | null => {
    if (b64 === null) return null;
    const bytes = Buffer.from(b64, 'base64');
    const id = map.get(bytes.readUInt32BE(1));
    assert.ok(id !== undefined);
    const out = Buffer.from(bytes);
    out.writeUInt32BE(id, 1);
    return out;
  };
  const copy = await createTopic(uniqueTopic('sr-testbed-remapped'), { partitions: 3 });
  topics.push(copy);
  const spec: SpecRecord[] = (await dumpTopic(topic)).map((r) => ({
    partition: r.partition,
    key: rewrite(r.key),
    value: rewrite(r.value),
  }));
  await produceSpec(copy, spec);
  const decoded = await decodeTopicWithRegistry(KAFKA_BOOTSTRAP, copy, SR_TARGET_URL);
  assert.deepEqual(decoded.failures, []);
  assert.deepEqual(decoded.ids, [6, 7, 9, 10]);
  assert.deepEqual(views(decoded.records), views(expected));
});

test('srfake refuses an explicit id at registration, even in IMPORT mode (why preserve_ids needs another registry)', async () => {
  await resetRegistry(SR_TARGET_URL);
  await registryRequest(SR_TARGET_URL, 'PUT', '/mode', { mode: 'IMPORT' });
  const res = await fetch(`${SR_TARGET_URL}/subjects/import-probe-value/versions`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema: '"string"', id: 100, version: 1 }),
  });
  const body = (await res.json()) as { error_code?: number; message?: string };
  assert.equal(res.status, 422);
  assert.equal(body.error_code, 42201);
  assert.match(body.message ?? '', /unknown field "id"/);
  await resetRegistry(SR_TARGET_URL);
  assert.deepEqual(await registryRequest(SR_TARGET_URL, 'GET', '/mode'), { mode: 'READWRITE' });
});

test('the IMPORT-capable registry takes the source schemas with their ids and versions; records decode there unchanged; a taken id is refused for another schema', async () => {
  await resetRegistry(SR_IMPORT_URL);
  assert.deepEqual(await registryRequest(SR_IMPORT_URL, 'PUT', '/mode', { mode: 'IMPORT' }), { mode: 'IMPORT' });
  // references first: kb/common.proto before the Order schema that imports it
  for (const subject of ['key', 'avro', 'protobufCommon', 'protobuf', 'json'] as const) {
    const name = schemas.subjects[subject];
    const v = await registryRequest<SchemaById & { id: number; version: number }>(
      SR_SOURCE_URL,
      'GET',
      `/subjects/${encodeURIComponent(name)}/versions/latest`,
    );
    const res = await registryRequest<{ id: number }>(
      SR_IMPORT_URL,
      'POST',
      `/subjects/${encodeURIComponent(name)}/versions`,
      {
        schema: v.schema,
        ...(v.schemaType === undefined ? {} : { schemaType: v.schemaType }),
        ...(v.references === undefined ? {} : { references: v.references }),
        id: v.id,
        version: v.version,
      },
    );
    assert.equal(res.id, schemas.ids[subject], `${name} keeps id ${schemas.ids[subject]}`);
  }
  await registryRequest(SR_IMPORT_URL, 'PUT', '/mode', { mode: 'READWRITE' });

  const decoded = await decodeTopicWithRegistry(KAFKA_BOOTSTRAP, topic, SR_IMPORT_URL);
  assert.deepEqual(decoded.failures, []);
  assert.deepEqual(decoded.ids, [1, 2, 4, 5]);
  assert.deepEqual(views(decoded.records), views(expected));

  // as Confluent's: IMPORT over existing subjects needs force=true
  await assert.rejects(
    registryRequest(SR_IMPORT_URL, 'PUT', '/mode', { mode: 'IMPORT' }),
    /42205.*Cannot import since found existing subjects/,
  );
  await registryRequest(SR_IMPORT_URL, 'PUT', '/mode?force=true', { mode: 'IMPORT' });
  const res = await fetch(`${SR_IMPORT_URL}/subjects/import-conflict-value/versions`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema: '"bytes"', id: schemas.ids.avro, version: 1 }),
  });
  const body = (await res.json()) as { error_code?: number; message?: string };
  assert.equal(res.status, 422);
  assert.equal(body.error_code, 42205);
  assert.match(body.message ?? '', new RegExp(`id ${schemas.ids.avro} is not permitted`));
  await resetRegistry(SR_IMPORT_URL);
});

test('plain keys are kept as bytes, tombstones decode to null, and an unknown id is reported as a failure', async () => {
  const mixed = await createTopic(uniqueTopic('sr-testbed-mixed'));
  topics.push(mixed);
  const avroRecord = (await dumpTopic(topic)).find(
    (r) => parseConfluent(Buffer.from(r.value ?? '', 'base64'))?.schemaId === schemas.ids.avro,
  );
  assert.ok(avroRecord);
  const keyBytes = Buffer.from(avroRecord.key ?? '', 'base64');
  const valueBytes = Buffer.from(avroRecord.value ?? '', 'base64');
  const unknown = Buffer.from(valueBytes);
  unknown.writeUInt32BE(999_999, 1);
  await produceSpec(mixed, [
    { partition: 0, key: 'plain-key', value: valueBytes },
    { partition: 0, key: keyBytes, value: null },
    { partition: 0, key: 'unknown-id', value: unknown },
  ]);
  const decoded = await decodeTopicWithRegistry(KAFKA_BOOTSTRAP, mixed, SR_SOURCE_URL);
  assert.equal(decoded.count, 3);
  const plain = decoded.records.get(`raw:${Buffer.from('plain-key').toString('base64')}`);
  assert.ok(plain, [...decoded.records.keys()].join(', '));
  assert.deepEqual(plain.key, { $bytes: Buffer.from('plain-key').toString('hex') });
  assert.equal(plain.keySchemaId, null);
  assert.equal(plain.valueSchemaId, schemas.ids.avro);
  const tombstone = [...decoded.records.values()].find((r) => r.value === null);
  assert.ok(tombstone);
  assert.equal(tombstone.keySchemaId, schemas.ids.key);
  assert.equal(tombstone.valueSchemaId, null);
  // the plain-keyed record carries the value of the record whose (Avro) key the tombstone has
  const source = expected.get((tombstone.key as { id: string }).id);
  assert.ok(source);
  assert.equal(source.format, 'AVRO');
  assert.deepEqual(plain.value, source.value);
  assert.deepEqual(
    decoded.failures.map((f) => ({ part: f.part, schemaId: f.schemaId, offset: f.offset })),
    [{ part: 'value', schemaId: 999_999, offset: 2 }],
  );
  assert.deepEqual(decoded.ids, [schemas.ids.key, schemas.ids.avro, 999_999]);
});
