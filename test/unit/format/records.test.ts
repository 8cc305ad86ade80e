import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32c, Reader, readRecordsBatch } from '@platformatic/kafka';
import { batchCrcOk, readBatchHeader, splitBatches } from '../../../src/format/batch.ts';
import { decodeRecords, encodeBatch, type KafkaRecord, restampBatch } from '../../../src/format/records.ts';

const sample: KafkaRecord[] = [
  { offset: 0, timestamp: 1_700_000_000_000, key: null, value: Buffer.from('v0'), headers: [] },
  { offset: 1, timestamp: 1_700_000_000_500, key: Buffer.alloc(0), value: Buffer.alloc(0), headers: [] },
  { offset: 2, timestamp: 1_699_999_999_000, key: Buffer.from('k'), value: null, headers: [] },
  {
    offset: 3,
    timestamp: 1_700_000_001_000,
    key: Buffer.from('dup'),
    value: Buffer.alloc(70_000, 7),
    headers: [
      [Buffer.from('h'), Buffer.from('1')],
      [Buffer.from('h'), null],
      [Buffer.from('h'), Buffer.alloc(0)],
    ],
  },
];

for (const compression of [0, 1, 2, 3, 4]) {
  test(`encodeBatch round-trips through our decoder and the client's (codec ${compression})`, () => {
    const batch = encodeBatch(sample, { compression, producerId: 42n, producerEpoch: 3, baseSequence: 17 });
    const [h] = splitBatches(batch);
    assert.ok(h);
    assert.equal(h.size, batch.length);
    assert.ok(batchCrcOk(batch, h), 'CRC-32C must verify');
    assert.equal(h.producerId, 42n);
    assert.equal(h.baseSequence, 17);
    assert.equal(h.lastOffsetDelta, sample.length - 1);
    assert.equal(Number(h.maxTimestamp), 1_700_000_001_000);
    const ours = decodeRecords(batch, h);
    assert.deepEqual(
      ours.map((r) => [r.offset, r.timestamp, r.key, r.value, r.headers]),
      sample.map((r) => [r.offset, r.timestamp, r.key, r.value, r.headers]),
    );
    // independent decoder: the Kafka client library
    const theirs = readRecordsBatch(Reader.from(batch));
    assert.equal(theirs.records.length, sample.length);
    assert.equal(theirs.records[0]!.key, null);
    assert.equal(theirs.records[2]!.value, null);
    assert.deepEqual(theirs.records[3]!.headers.length, 3);
    assert.equal(theirs.records[3]!.headers[1]![1], null);
  });
}

test('restampBatch changes producer identity, clears transactional bits, and keeps a valid CRC', () => {
  const batch = encodeBatch(sample, { compression: 0, producerId: 1n, producerEpoch: 0, baseSequence: 0 });
  batch.writeBigInt64BE(500n, 0);
  batch.writeInt16BE(batch.readInt16BE(21) | 0x10, 21);
  batch.writeUInt32BE(crc32c(batch.subarray(21)) >>> 0, 17);
  const h = readBatchHeader(batch, 0);
  const out = restampBatch(batch, h, { producerId: 99n, producerEpoch: 2, baseSequence: 1000 });
  const h2 = readBatchHeader(out, 0);
  assert.equal(h2.baseOffset, 0n);
  assert.equal(h2.producerId, 99n);
  assert.equal(h2.baseSequence, 1000);
  assert.equal(h2.attributes & 0x10, 0);
  assert.ok(batchCrcOk(out, h2));
  assert.deepEqual(
    decodeRecords(out, h2).map((r) => r.value),
    sample.map((r) => r.value),
  );
});
