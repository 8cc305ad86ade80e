import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchCrcOk, splitBatches } from '../../../src/format/batch.ts';
import { decodeRecords, encodeBatch, type KafkaRecord } from '../../../src/format/records.ts';
import { patchBatchIds } from '../../../src/schema-registry/batch-patch.ts';
import { SchemaIdRewriter, UnknownSchemaIdError } from '../../../src/schema-registry/rewriter.ts';
import { schemaIdOf } from '../../../src/schema-registry/wire.ts';

const wire = (id: number, payload: string, indexes: number[] = []) => {
  const b = Buffer.alloc(5);
  b.writeUInt32BE(id, 1);
  return Buffer.concat([b, Buffer.from(indexes), Buffer.from(payload)]);
};

const records = (): KafkaRecord[] => [
  { offset: 0, timestamp: 1000, key: wire(1, 'k0'), value: wire(2, 'v0', [2, 4, 2]), headers: [] },
  {
    offset: 1,
    timestamp: 1001,
    key: Buffer.from('plain key'),
    value: wire(1, 'v1'),
    headers: [[Buffer.from('h'), wire(9, 'x')]],
  },
  { offset: 2, timestamp: 1002, key: null, value: null, headers: [] },
  { offset: 3, timestamp: 1003, key: Buffer.alloc(0), value: Buffer.from([0, 0, 0]), headers: [] },
  { offset: 4, timestamp: 1004, key: wire(3, 'k4'), value: wire(2, 'v4'), headers: [] },
];
const ident = { producerId: -1n, producerEpoch: -1, baseSequence: -1 };

for (const [name, codec] of [
  ['none', 0],
  ['gzip', 1],
  ['snappy', 2],
  ['lz4', 3],
  ['zstd', 4],
] as const) {
  test(`patchBatchIds (${name}): rewrites the ids of keys and values, keeps Protobuf indexes, headers and the rest; valid CRC`, () => {
    const batch = encodeBatch(records(), { ...ident, compression: codec });
    const [h] = splitBatches(batch);
    const rw = new SchemaIdRewriter(
      new Map([
        [1, 101],
        [2, 2],
        [3, 70000],
      ]),
      'fail',
    );
    const out = patchBatchIds(batch, h!, rw, (i) => `record ${i}`);
    assert.ok(batchCrcOk(out.buf, out.h), 'CRC of the patched batch');
    const got = decodeRecords(out.buf, out.h);
    const want = records();
    assert.equal(got.length, want.length);
    assert.deepEqual(got[0]!.key, wire(101, 'k0'));
    assert.deepEqual(got[0]!.value, wire(2, 'v0', [2, 4, 2]), 'identity id and message indexes unchanged');
    assert.deepEqual(got[1]!.key, Buffer.from('plain key'));
    assert.deepEqual(got[1]!.value, wire(101, 'v1'));
    assert.deepEqual(got[1]!.headers, want[1]!.headers, 'headers are not rewritten');
    assert.equal(got[2]!.key, null);
    assert.equal(got[2]!.value, null);
    assert.deepEqual(got[3]!.value, Buffer.from([0, 0, 0]), 'shorter than a wire header: untouched');
    assert.deepEqual(got[4]!.key, wire(70000, 'k4'));
    assert.equal(rw.take().rewritten, 3);
    for (let i = 0; i < got.length; i++) {
      assert.equal(got[i]!.offset, want[i]!.offset);
      assert.equal(got[i]!.timestamp, want[i]!.timestamp);
    }
    assert.equal(out.h.attributes & 7, codec, 'same codec');
  });
}

test('patchBatchIds: a batch that needs no change is returned as it is, bytes and CRC untouched', () => {
  for (const codec of [0, 4]) {
    const batch = encodeBatch(records(), { ...ident, compression: codec });
    const before = Buffer.from(batch);
    const [h] = splitBatches(batch);
    const rw = new SchemaIdRewriter(
      new Map([
        [1, 1],
        [2, 2],
        [3, 3],
      ]),
      'fail',
    );
    const out = patchBatchIds(batch, h!, rw, () => '');
    assert.equal(out.buf, batch);
    assert.equal(out.h, h);
    assert.deepEqual(batch, before);
    assert.equal(rw.identity, true);
    assert.equal(rw.skip, false, 'fail mode still checks for unknown ids');
  }
});

test('rewriter: an unknown id fails with the record named, or passes through and is counted', () => {
  const batch = encodeBatch(records(), { ...ident, compression: 0 });
  const [h] = splitBatches(batch);
  const failing = new SchemaIdRewriter(new Map([[1, 5]]), 'fail');
  assert.throws(
    () => patchBatchIds(Buffer.from(batch), h!, failing, (i) => `record orders-0 offset ${i}`),
    (e: unknown) => e instanceof UnknownSchemaIdError && /orders-0 offset 0 carries schema id 2/.test(e.message),
  );
  const passing = new SchemaIdRewriter(new Map([[1, 5]]), 'pass_through');
  const out = patchBatchIds(Buffer.from(batch), h!, passing, () => '');
  const got = decodeRecords(out.buf, out.h);
  assert.equal(schemaIdOf(got[0]!.key), 5);
  assert.equal(schemaIdOf(got[0]!.value), 2, 'unknown id kept');
  assert.deepEqual(passing.counts, { rewritten: 0, unknown: {} }, 'counted once the batch is acknowledged');
  const counted = passing.take();
  assert.deepEqual(counted.unknown, { '2': 2, '3': 1 });
  assert.equal(counted.rewritten, 2);
  assert.deepEqual(passing.take(), { rewritten: 0, unknown: {} }, 'taken once');
  passing.confirm(counted);
  assert.deepEqual(passing.counts, counted);
  assert.equal(new SchemaIdRewriter(new Map([[1, 1]]), 'pass_through').skip, true);
});

test('schemaIdOf: magic byte 0 and at least 5 bytes', () => {
  assert.equal(schemaIdOf(null), -1);
  assert.equal(schemaIdOf(Buffer.from([0, 0, 0, 1])), -1);
  assert.equal(schemaIdOf(Buffer.from([1, 0, 0, 0, 1])), -1);
  assert.equal(schemaIdOf(Buffer.from([0, 0xff, 0xff, 0xff, 0xff])), 0xffffffff);
  assert.equal(schemaIdOf(Buffer.from([0, 0, 1, 0, 2, 9])), 65538);
});
