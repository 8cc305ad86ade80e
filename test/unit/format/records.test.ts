import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32c, Reader, readRecordsBatch } from '@platformatic/kafka';
import { batchCrcOk, batchRange, readBatchHeader, recordRange, splitBatches } from '../../../src/format/batch.ts';
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

test('restampBatch rewrites the batch inside the block it was given, as a fresh encode would write it', () => {
  const one = encodeBatch(sample, { compression: 4, producerId: 7n, producerEpoch: 1, baseSequence: 5 });
  const two = encodeBatch(sample.slice(0, 2), { compression: 0, producerId: 7n, producerEpoch: 1, baseSequence: 9 });
  const block = Buffer.concat([one, two]);
  block.writeBigInt64BE(1000n, one.length); // the offsets a broker gave the stored batch
  const [h1, h2] = splitBatches(block);
  assert.ok(h1 && h2);
  const stamp = { producerId: 123n, producerEpoch: 4, baseSequence: 77 };
  const before = Buffer.from(block);
  const out = restampBatch(block, h2, stamp);
  assert.equal(out.buffer, block.buffer, 'a view of the block, not a copy');
  assert.deepEqual(out, encodeBatch(sample.slice(0, 2), { compression: 0, ...stamp }));
  assert.deepEqual(block.subarray(0, one.length), before.subarray(0, one.length), 'the other batch is untouched');
});

test('recordRange counts records in [from, to] and their timestamp range, with non-monotonic and far-apart timestamps', () => {
  const base = 1_700_000_000_000;
  // deltas from the first record: negative, zero, beyond 28 bits, and a 32-bit offset span
  const timestamps = [base, base - 5_000, base + 2 ** 33, base + 1, base - 2 ** 31, base + 7];
  const records: KafkaRecord[] = timestamps.map((timestamp, i) => ({
    offset: 100 + i, // encodeBatch numbers records consecutively
    timestamp,
    key: null,
    value: Buffer.alloc(i * 50, i),
    headers: [],
  }));
  const batch = encodeBatch(records, { compression: 0, producerId: -1n, producerEpoch: -1, baseSequence: -1 });
  batch.writeBigInt64BE(100n, 0); // the base offset a broker would assign (outside the batch CRC)
  const [h] = splitBatches(batch);
  assert.ok(h);
  assert.equal(h.baseOffset, 100n);
  const section = batch.subarray(h.position + 61, h.position + h.size);
  const base0 = Number(h.baseOffset);
  const expect = (from: number, to: number) => {
    const inside = records.filter((r) => r.offset >= from && r.offset <= to);
    const ts = inside.map((r) => r.timestamp);
    return inside.length
      ? { records: inside.length, minTs: Math.min(...ts), maxTs: Math.max(...ts) }
      : { records: 0, minTs: -1, maxTs: -1 };
  };
  for (const [from, to] of [
    [0, 1000],
    [100, 100],
    [101, 103],
    [102, 104],
    [105, 2000],
    [200, 300],
  ] as const)
    assert.deepEqual(
      recordRange(section, h.recordsCount, base0, Number(h.baseTimestamp), from, to),
      expect(from, to),
      `[${from}, ${to}]`,
    );
  assert.throws(
    () => recordRange(section.subarray(0, section.length - 3), h.recordsCount, base0, 0, 0, 1000),
    /out of bounds|truncated/,
  );
});

for (const compression of [0, 1, 2, 3, 4]) {
  test(`batchRange finds the exact minimum timestamp below the batch's first one (codec ${compression})`, () => {
    const batch = encodeBatch(sample, { compression, producerId: -1n, producerEpoch: -1, baseSequence: -1 });
    batch.writeBigInt64BE(10n, 0);
    const [h] = splitBatches(batch);
    assert.ok(h);
    // record 2 (offset 12) is older than the batch's base timestamp: only a walk finds it
    assert.ok(sample[2]!.timestamp < Number(h.baseTimestamp));
    assert.deepEqual(batchRange(batch, h, 0, 100), { records: 4, minTs: 1_699_999_999_000, maxTs: 1_700_000_001_000 });
    assert.deepEqual(batchRange(batch, h, 11, 12), { records: 2, minTs: 1_699_999_999_000, maxTs: 1_700_000_000_500 });
    assert.deepEqual(batchRange(batch, h, 13, 13), { records: 1, minTs: 1_700_000_001_000, maxTs: 1_700_000_001_000 });
    assert.deepEqual(batchRange(batch, h, 20, 30), { records: 0, minTs: -1, maxTs: -1 });
  });
}

test('batchRange: every record of a LogAppendTime batch carries its max timestamp', () => {
  const batch = encodeBatch(sample, { compression: 4, producerId: -1n, producerEpoch: -1, baseSequence: -1 });
  const appended = 1_800_000_000_000n;
  batch.writeInt16BE(batch.readInt16BE(21) | 0x08, 21); // timestamp type: LogAppendTime
  batch.writeBigInt64BE(appended, 35); // max timestamp, set by the broker
  batch.writeUInt32BE(crc32c(batch.subarray(21)) >>> 0, 17);
  const [h] = splitBatches(batch);
  assert.ok(h && batchCrcOk(batch, h));
  const ts = Number(appended);
  assert.deepEqual(batchRange(batch, h, 0, 3), { records: 4, minTs: ts, maxTs: ts });
  assert.deepEqual(batchRange(batch, h, 1, 2), { records: 2, minTs: ts, maxTs: ts });
  assert.deepEqual(batchRange(batch, h, 5, 9), { records: 0, minTs: -1, maxTs: -1 });
});
