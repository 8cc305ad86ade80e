/**
 * The test harness itself, against the real broker: the Java peers produce and read back exactly
 * what we ask for, and the corpus holds the facts it claims. Needs `scripts/services.sh start kafka`.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { buildCorpus, type Corpus, corpusTopics, deleteCorpus } from '../../helpers/corpus.ts';
import {
  COMPACTION_CONFIGS,
  createTopic,
  deleteRecords,
  deleteTopics,
  produceWithPerf,
  uniqueTopic,
  waitForCompaction,
} from '../../helpers/kafka.ts';
import {
  bytes,
  consumeAsGroup,
  type DumpedRecord,
  dumpTopic,
  groupOffsets,
  produceSpec,
  text,
  topicOffsets,
} from '../../helpers/peers.ts';

const created: string[] = [];
async function topic(prefix: string, partitions = 1, configs: Record<string, string> = {}): Promise<string> {
  const name = await createTopic(uniqueTopic(`harness-${prefix}`), { partitions, configs });
  created.push(name);
  return name;
}
after(() => deleteTopics(created));

/** Offsets per partition, to look for holes. */
function offsetsByPartition(records: DumpedRecord[]): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const r of records) m.set(r.partition, [...(m.get(r.partition) ?? []), r.offset]);
  return m;
}

function hasHole(offsets: number[], logStart: number): boolean {
  return offsets.some((o, i) => o !== (i === 0 ? logStart : offsets[i - 1]! + 1));
}

function counts(records: DumpedRecord[], partitions: number): number[] {
  const c = new Array<number>(partitions).fill(0);
  for (const r of records) c[r.partition]!++;
  return c;
}

describe('java peers against the real broker', () => {
  test('a spec round-trips every field exactly: null, empty, duplicate and null headers, timestamps', async () => {
    const t = await topic('fields', 2);
    const produced = await produceSpec(t, [
      { partition: 0, key: null, value: 'v0', timestamp: 1_600_000_000_000 },
      { partition: 0, key: 'tomb', value: null, timestamp: 1 },
      { partition: 0, key: '', value: '', timestamp: 2 },
      {
        partition: 1,
        key: 'h',
        value: Buffer.from([0, 255, 10]),
        headers: [
          ['d', 'a'],
          ['d', null],
          ['', ''],
          ['é', 'b'],
        ],
      },
    ]);
    assert.deepEqual(
      produced.map((p) => [p.index, p.partition, p.offset]),
      [
        [0, 0, 0],
        [1, 0, 1],
        [2, 0, 2],
        [3, 1, 0],
      ],
    );
    const dumped = await dumpTopic(t);
    assert.deepEqual(dumped, [
      {
        topic: t,
        partition: 0,
        offset: 0,
        timestamp: 1_600_000_000_000,
        timestampType: 'CreateTime',
        key: null,
        value: 'djA=',
        headers: [],
      },
      {
        topic: t,
        partition: 0,
        offset: 1,
        timestamp: 1,
        timestampType: 'CreateTime',
        key: 'dG9tYg==',
        value: null,
        headers: [],
      },
      { topic: t, partition: 0, offset: 2, timestamp: 2, timestampType: 'CreateTime', key: '', value: '', headers: [] },
      {
        topic: t,
        partition: 1,
        offset: 0,
        // No timestamp given: the producer's clock, reported back by the producer.
        timestamp: produced[3]!.timestamp,
        timestampType: 'CreateTime',
        key: 'aA==',
        value: 'AP8K',
        headers: [
          ['d', 'YQ=='],
          ['d', null],
          ['', ''],
          ['é', 'Yg=='],
        ],
      },
    ]);
    assert.ok(Math.abs(produced[3]!.timestamp - Date.now()) < 60_000);
    assert.deepEqual(bytes(dumped[3]!.value), Buffer.from([0, 255, 10]));
  });

  test('aborted records are absent read_committed and present read_uncommitted', async () => {
    const t = await topic('txn', 1);
    await produceSpec(t, [
      { partition: 0, key: 'a', value: 'commit-1', txn: 'commit', producer: 0 },
      { partition: 0, key: 'b', value: 'abort-1', txn: 'abort', producer: 1 },
      { partition: 0, key: 'c', value: 'commit-2', txn: 'commit', producer: 0 },
      { partition: 0, key: 'd', value: 'abort-2', txn: 'abort', producer: 1 },
      { end: 0 },
      { end: 1 },
      { partition: 0, key: 'e', value: 'plain' },
    ]);
    const committed = await dumpTopic(t);
    assert.deepEqual(
      committed.map((r) => text(r.value)),
      ['commit-1', 'commit-2', 'plain'],
    );
    const all = await dumpTopic(t, { isolation: 'read_uncommitted' });
    assert.deepEqual(
      all.map((r) => text(r.value)),
      ['commit-1', 'abort-1', 'commit-2', 'abort-2', 'plain'],
    );
    // Log: 4 transactional records, then 2 markers and the plain record (the coordinator writes
    // markers asynchronously, so the plain record may come before either of them).
    assert.deepEqual(
      all.slice(0, 4).map((r) => r.offset),
      [0, 1, 2, 3],
    );
    assert.ok([4, 5, 6].includes(all[4]!.offset), `plain record at ${all[4]!.offset}`);
    const [offsets] = await topicOffsets(t);
    assert.deepEqual(offsets, { topic: t, partition: 0, logStartOffset: 0, highWatermark: 7, lastStableOffset: 7 });
  });

  test('LogAppendTime topic: the broker replaces the producer timestamp', async () => {
    const t = await topic('lat', 1, { 'message.timestamp.type': 'LogAppendTime' });
    const before = Date.now();
    await produceSpec(t, [{ partition: 0, key: 'k', value: 'v', timestamp: 1_000 }]);
    const [r] = await dumpTopic(t);
    assert.equal(r?.timestampType, 'LogAppendTime');
    assert.ok(r.timestamp >= before - 1000 && r.timestamp <= Date.now() + 1000, `timestamp ${r.timestamp}`);
  });

  test('compaction really removes records: offsets have holes, latest value per key kept', async () => {
    const t = await topic('compact', 1, { ...COMPACTION_CONFIGS });
    const summary = await waitForCompaction(t, { keys: 10 });
    assert.match(summary.hole, /expected offset \d+, next record is at \d+/);
    const dumped = await dumpTopic(t, { isolation: 'read_uncommitted' });
    const [offsets] = await topicOffsets(t);
    assert.ok(dumped.length < summary.produced, `${dumped.length} of ${summary.produced} records left`);
    assert.ok(
      hasHole(
        dumped.map((r) => r.offset),
        offsets!.logStartOffset,
      ),
      'offsets are contiguous',
    );
    const latest = new Map<string, string | null>();
    for (const r of dumped) latest.set(text(r.key)!, text(r.value));
    assert.deepEqual(Object.fromEntries(latest), summary.latest);
  });

  test('deleteRecords raises the log start offset, mid-batch', async () => {
    const t = await topic('delete-records', 1);
    await produceSpec(
      t,
      Array.from({ length: 20 }, (_, i) => ({ partition: 0, key: `k${i}`, value: `v${i}` })),
    );
    assert.equal(await deleteRecords(t, 0, 7), 7);
    const [offsets] = await topicOffsets(t);
    assert.equal(offsets?.logStartOffset, 7);
    assert.equal(offsets?.highWatermark, 20);
    const dumped = await dumpTopic(t);
    assert.deepEqual(
      dumped.map((r) => r.offset),
      Array.from({ length: 13 }, (_, i) => 7 + i),
    );
  });

  test('GroupConsumer processes exactly n records and commits offset+1 per partition', async () => {
    const t = await topic('group', 2);
    await produceSpec(
      t,
      Array.from({ length: 10 }, (_, i) => ({ partition: i % 2, key: `k${i}`, value: `v${i}` })),
    );
    const group = `${t}-g`;
    const first = await consumeAsGroup(group, t, 4);
    assert.equal(first.length, 4);
    const committed = await groupOffsets(group);
    const expected = new Map<number, number>();
    for (const r of first) expected.set(r.partition, Math.max(expected.get(r.partition) ?? 0, r.offset + 1));
    assert.deepEqual(
      committed.map((c) => [c.partition, c.offset]),
      [...expected.entries()].sort((a, b) => a[0] - b[0]),
    );
    // The rest of the group's records: exactly the ones not processed yet.
    const rest = await consumeAsGroup(group, t, 6);
    const seen = [...first, ...rest].map((r) => `${r.partition}:${r.offset}`).sort();
    assert.deepEqual(seen, ['0:0', '0:1', '0:2', '0:3', '0:4', '1:0', '1:1', '1:2', '1:3', '1:4']);
    await assert.rejects(consumeAsGroup(group, t, 1, { timeoutMs: 3000 }), /timed out after 0 of 1/);
  });

  test('ProducerPerformance fills a topic', async () => {
    const t = await topic('perf', 3);
    await produceWithPerf(t, 3000, 200);
    const dumped = await dumpTopic(t);
    assert.equal(dumped.length, 3000);
    assert.ok(dumped.every((r) => r.key === null && bytes(r.value)?.length === 200));
  });

  test('RecordDump fails on a topic that does not exist', async () => {
    await assert.rejects(dumpTopic(uniqueTopic('harness-missing'), { timeoutMs: 5000 }), /not found|exit/);
  });
});

describe('backup corpus', () => {
  let corpus: Corpus | undefined;
  after(async () => {
    if (corpus) await deleteCorpus(corpus);
  });

  test('builds quickly and holds exactly the facts it declares', async (t) => {
    corpus = await buildCorpus('harness-corpus');
    t.diagnostic(`corpus built in ${corpus.buildMs} ms`);
    assert.ok(corpus.buildMs < 120_000, `corpus build took ${corpus.buildMs} ms`);
    const c = corpus;

    // One JVM per kind of read for all topics (a JVM start costs about a second).
    const names = corpusTopics(c).map((x) => x.name);
    const [committedAll, uncommittedAll, offsetsAll] = await Promise.all([
      dumpTopic(names),
      dumpTopic(names, { isolation: 'read_uncommitted' }),
      topicOffsets(names),
    ]);
    for (const topicFacts of corpusTopics(c)) {
      const name = `${topicFacts.kind} (${topicFacts.name})`;
      const committed = committedAll.filter((r) => r.topic === topicFacts.name);
      const uncommitted = uncommittedAll.filter((r) => r.topic === topicFacts.name);
      assert.ok(uncommitted.length > 0, name);
      if (topicFacts.records) assert.deepEqual(committed, topicFacts.records, name);
      if (topicFacts.committedCounts)
        assert.deepEqual(counts(committed, topicFacts.partitions), topicFacts.committedCounts, name);
      if (topicFacts.uncommittedCounts)
        assert.deepEqual(counts(uncommitted, topicFacts.partitions), topicFacts.uncommittedCounts, name);
      const offsets = offsetsAll.filter((o) => o.topic === topicFacts.name);
      assert.equal(offsets.length, topicFacts.partitions, name);
      if (topicFacts.logStartOffsets)
        assert.deepEqual(
          offsets.map((o) => o.logStartOffset),
          topicFacts.logStartOffsets,
          name,
        );
      // Every partition is fully committed: nothing left open.
      for (const o of offsets) assert.equal(o.lastStableOffset, o.highWatermark, name);

      switch (topicFacts.kind) {
        case 'fidelity': {
          const headers = committed.find((r) => text(r.key) === 'headers')?.headers.map(([k, v]) => [k, text(v)]);
          assert.deepEqual(headers?.slice(0, 6), [
            ['dup', 'first'],
            ['dup', 'second'],
            ['null-value', null],
            ['empty-value', ''],
            ['', 'empty key'],
            ['dup', 'third'],
          ]);
          assert.equal(headers?.[6]?.[0], 'ключ 🔑');
          assert.ok(committed.some((r) => r.key === null && r.value === null));
          assert.ok(committed.some((r) => r.key === '' && r.value === ''));
          assert.ok(committed.some((r) => r.timestamp === 0));
          break;
        }
        case 'large': {
          const big = committed.find((r) => text(r.key) === 'large');
          const value = bytes(big?.value ?? null);
          assert.equal(value?.length, 2 * 1024 * 1024);
          assert.equal(createHash('sha256').update(value!).digest('hex'), c.large.large.largeSha256);
          assert.equal(big?.offset, c.large.large.largeOffset);
          break;
        }
        case 'logAppendTime':
          for (const r of committed) {
            assert.equal(r.timestampType, 'LogAppendTime');
            assert.ok(r.timestamp >= c.logAppendTime.appendedFrom && r.timestamp <= c.logAppendTime.appendedTo);
          }
          break;
        case 'compacted': {
          const all = uncommitted;
          assert.ok(
            hasHole(
              all.map((r) => r.offset),
              offsets[0]!.logStartOffset,
            ),
            'compacted topic has holes',
          );
          const latest = new Map<string, string | null>();
          for (const r of all) latest.set(text(r.key)!, text(r.value));
          assert.deepEqual(Object.fromEntries(latest), c.compacted.compaction.latest);
          break;
        }
        case 'txnInterleaved':
          assert.ok(committed.every((r) => !text(r.value)!.startsWith('abort:')));
          assert.ok(c.txnInterleaved.summary.abortedPerPartition.every((n) => n > 0));
          break;
        case 'txnLargeAbort': {
          assert.ok(c.txnLargeAbort.summary.abortedBytesPartition0 >= 20 * 1024 * 1024);
          assert.deepEqual(
            committed.filter((r) => r.partition === 0).map((r) => text(r.key)),
            [...Array(10).keys()].map((i) => `c1-0-${i}`).concat([...Array(10).keys()].map((i) => `c2-0-${i}`)),
          );
          // The committed records after the abort sit beyond it in the log.
          const p0 = offsetsByPartition(committed).get(0)!;
          assert.ok(p0[10]! - p0[9]! > c.txnLargeAbort.summary.abortedPerPartition[0]!);
          break;
        }
        case 'emptyPartition':
          for (const p of c.emptyPartition.emptyPartitions) assert.equal(offsets[p]?.highWatermark, 0);
          break;
        case 'logStart': {
          const [start] = c.logStart.logStartOffsets;
          assert.ok(start !== undefined && !c.logStart.batchStarts.includes(start), 'log start is mid-batch');
          assert.equal(committed[0]?.offset, start);
          assert.equal(offsets[1]?.highWatermark, 10);
          break;
        }
        case 'manyPartitions':
          assert.equal(topicFacts.partitions, 64);
          break;
      }
    }
  });
});
