/** PartitionWriter.ingest: read-committed state across position jumps, and batch CRC checks. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PartitionWriter } from '../../../src/backup/partition-writer.ts';
import { MemoryStorage } from '../inspect/fixtures.ts';
import { dataBatch, fetched, markerBatch } from './batches.ts';

function writer(start = 0, end = Number.POSITIVE_INFINITY): PartitionWriter {
  return new PartitionWriter(
    {
      backupId: 'b',
      runId: 'r',
      topic: 't',
      topicId: 'AAAAAAAAAAAAAAAAAAAAAA',
      partition: 0,
      compacted: false,
      codec: 'none',
      level: undefined,
      fileChecksum: 'crc32c',
      batchSize: 10_000,
      maxBatchBytes: 1 << 20,
      segmentMaxBytes: 128 << 20,
      segmentMaxIntervalMs: 300_000,
      storage: new MemoryStorage(),
    },
    start,
    end,
  );
}

describe('read committed across a position jump', () => {
  test('an aborted transaction whose marker fell into a retention gap does not drop the producer’s later commits', () => {
    const P = 7n;
    const w = writer();
    // offsets 0-1: P's transaction (aborted later, marker at 50), listed as aborted by the broker
    assert.equal(w.ingest(fetched([dataBatch(0, 2, P)], { aborted: [{ producerId: P, firstOffset: 0n }] })), 0);
    assert.equal(w.position, 2);
    // retention removed 2..99, the ABORT marker included: the engine records a gap and jumps
    w.skipTo(100, 'retention');
    // from 100 the broker lists no aborted transaction; P commits a new transaction
    const kept = w.ingest(fetched([dataBatch(100, 3, P), markerBatch(103, P, 'commit')]));
    assert.equal(kept, 3, 'P’s committed transaction after the gap is kept');
    assert.equal(w.position, 104);
  });

  test('an aborted transaction that spans the jump is still dropped after it (the broker lists it again)', () => {
    const P = 7n;
    const w = writer();
    assert.equal(w.ingest(fetched([dataBatch(0, 2, P)], { aborted: [{ producerId: P, firstOffset: 0n }] })), 0);
    w.skipTo(100, 'retention');
    // the same transaction continues past 100; the fetch from 100 lists it (lastOffset >= 100)
    const kept = w.ingest(
      fetched([dataBatch(100, 2, P), markerBatch(102, P, 'abort'), dataBatch(103, 1)], {
        aborted: [{ producerId: P, firstOffset: 0n }],
      }),
    );
    assert.equal(kept, 1, 'only the non-transactional record after the ABORT marker');
  });
});
