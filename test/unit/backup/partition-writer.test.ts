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

describe('batch CRC-32C on ingest', () => {
  const flipped = (b: Buffer, at: number) => {
    const c = Buffer.from(b);
    c[at] = c[at]! ^ 0x01;
    return c;
  };

  test('a batch with a flipped byte is not stored; fetched again, it is taken when it arrives intact', () => {
    const w = writer();
    const good = [dataBatch(0, 3), dataBatch(3, 3), dataBatch(6, 3)];
    // byte 70: inside the first record of the second batch (header is 61 bytes)
    const kept = w.ingest(fetched([good[0]!, flipped(good[1]!, 70), good[2]!]));
    assert.equal(kept, 3, 'only the batch before the corrupt one');
    assert.equal(w.position, 3, 'the position stops at the corrupt batch, so the next fetch reads it again');
    assert.equal(w.error, null);
    assert.equal(w.ingest(fetched([good[1]!, good[2]!])), 6, 'the re-fetched intact copy is taken');
    assert.equal(w.position, 9);
  });

  test('the same batch corrupt twice in a row fails the partition, naming topic, partition and offset', () => {
    const w = writer();
    const bad = flipped(dataBatch(5, 2), 40); // a header byte under the CRC (producer id)
    w.skipTo(5, 'retention');
    assert.equal(w.ingest(fetched([bad])), 0);
    assert.throws(
      () => w.ingest(fetched([bad])),
      (e: Error & { code?: string; exitCode?: number }) => {
        assert.match(e.message, /record batch at offset 5 of t-0 .* failed its CRC-32C check .* twice/);
        assert.equal(e.code, 'CORRUPT_BATCH');
        assert.equal(e.exitCode, 1);
        return true;
      },
    );
    assert.ok(w.error, 'the writer keeps the failure (the engine ends the run with it)');
    assert.equal(w.position, 5);
  });

  test('a corrupt aborted or control batch is caught too (checked before the read-committed filter)', () => {
    const P = 3n;
    const w = writer();
    const aborted = { aborted: [{ producerId: P, firstOffset: 0n }] };
    const batches = [dataBatch(0, 2, P), flipped(markerBatch(2, P, 'abort'), 65), dataBatch(3, 1)];
    assert.equal(w.ingest(fetched(batches, aborted)), 0);
    assert.equal(w.position, 2);
    assert.throws(() => w.ingest(fetched(batches.slice(1), aborted)), /offset 2 of t-0/);
  });
});
