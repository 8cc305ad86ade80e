/**
 * PartitionWriter's block buffers: records handed over as views of socket chunks cut anywhere
 * (inside a batch header too) are stored exactly as fetched, and a pooled block buffer is given
 * back only once its block is compressed and written (a buffer poisoned on release never shows
 * up in a data file).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlockPool } from '../../../src/backup/block-pool.ts';
import { PartitionWriter } from '../../../src/backup/partition-writer.ts';
import type { BlockCodec } from '../../../src/format/compression.ts';
import { readSegment } from '../../../src/format/segment.ts';
import type { RawFetchPartition } from '../../../src/kafka/fetch-raw-v17.ts';
import type { ObjectWriter } from '../../../src/storage/backend.ts';
import { MemoryStorage } from '../inspect/fixtures.ts';
import { dataBatch, fetched } from './batches.ts';

/** Copies a chunk only after a delay: a block buffer released before its write ends is caught. */
class SlowStorage extends MemoryStorage {
  override async openWriter(key: string): Promise<ObjectWriter> {
    const parts: Buffer[] = [];
    let n = 0;
    return {
      write: async (chunk: Uint8Array) => {
        await sleep(2);
        parts.push(Buffer.from(chunk));
        n += chunk.length;
      },
      commit: async () => {
        this.objects.set(key, Buffer.concat(parts));
        return { key, size: n };
      },
      abort: async () => {},
      get bytesWritten() {
        return n;
      },
    };
  }
}

/** Overwrites every buffer given back, so a buffer still in use would store 0xEE bytes. */
class PoisoningPool extends BlockPool {
  given = 0;
  override give(b: Buffer): void {
    b.fill(0xee);
    this.given++;
    super.give(b);
  }
}

function writer(storage: MemoryStorage, codec: BlockCodec, blocks?: BlockPool): PartitionWriter {
  return new PartitionWriter(
    {
      backupId: 'b',
      runId: 'r',
      topic: 't',
      topicId: 'AAAAAAAAAAAAAAAAAAAAAA',
      partition: 0,
      compacted: false,
      codec,
      level: undefined,
      fileChecksum: 'crc32c',
      batchSize: 10_000,
      maxBatchBytes: 1500,
      segmentMaxBytes: 128 << 20,
      segmentMaxIntervalMs: 300_000,
      storage,
      ...(blocks ? { blocks } : {}),
    },
    0,
    Number.POSITIVE_INFINITY,
  );
}

/** The records of `p` as views of chunks cut at the given sizes, in turn. */
function chunked(p: RawFetchPartition, cuts: number[]): RawFetchPartition {
  const all = p.records!;
  const views: Buffer[] = [];
  for (let pos = 0, i = 0; pos < all.length; i++) {
    const n = cuts[i % cuts.length]!;
    // each chunk its own allocation, as socket chunks are
    views.push(Buffer.from(all.subarray(pos, pos + n)));
    pos += n;
  }
  return { ...p, records: null, recordViews: views };
}

/** Every data file's blocks, raw, joined in order, with the number of blocks. */
async function stored(storage: MemoryStorage, w: PartitionWriter): Promise<{ raw: Buffer; blocks: number }> {
  const raws: Buffer[] = [];
  for (const f of w.takeCommitted().files) {
    const it = readSegment(f.key, await storage.load(f.key), { expected: { size: f.size, crc32c: f.crc32c! } });
    for (let r = await it.next(); !r.done; r = await it.next()) raws.push(Buffer.from(r.value.raw));
  }
  return { raw: Buffer.concat(raws), blocks: raws.length };
}

const batches = Array.from({ length: 60 }, (_, i) => dataBatch(i * 5, 5));
const fetches = [batches.slice(0, 11), batches.slice(11, 12), batches.slice(12)];

describe('block buffers', () => {
  for (const cuts of [[7], [61, 3, 200], [1], [64, 65, 997]])
    test(`records in socket chunks of ${cuts.join('/')} bytes are stored as fetched, in the same blocks`, async () => {
      const whole = new MemoryStorage();
      const a = writer(whole, 'none');
      const views = new MemoryStorage();
      const b = writer(views, 'none');
      for (const f of fetches) {
        assert.equal(a.ingest(fetched(f)), f.length * 5);
        assert.equal(b.ingest(chunked(fetched(f), cuts)), f.length * 5);
      }
      assert.equal(b.position, 300);
      for (const w of [a, b]) {
        w.closeFile();
        await w.drain();
      }
      const want = await stored(whole, a);
      const got = await stored(views, b);
      assert.deepEqual(got.raw, Buffer.concat(batches), 'the batches, byte for byte');
      assert.equal(got.blocks, want.blocks, 'cut into the same blocks');
      assert.ok(got.blocks > 3, 'several blocks, one spanning two fetches');
    });

  for (const codec of ['none', 'zstd'] as const)
    test(`${codec}: a block buffer returns to the pool only after its block is written`, async () => {
      const storage = new SlowStorage();
      const pool = new PoisoningPool(2000, 4);
      const w = writer(storage, codec, pool);
      for (const f of fetches) w.ingest(chunked(fetched(f), [100]));
      assert.ok(w.pendingBlocks > 1, 'blocks wait for the slow writes');
      w.closeFile();
      await w.drain();
      assert.ok(pool.given > 3, `buffers were given back (${pool.given}) and reused`);
      assert.deepEqual((await stored(storage, w)).raw, Buffer.concat(batches));
    });

  test('a batch larger than the pooled buffers gets a buffer of its own and is stored whole', async () => {
    const storage = new MemoryStorage();
    const pool = new PoisoningPool(64, 4);
    const w = writer(storage, 'zstd', pool);
    const big = dataBatch(0, 400);
    assert.ok(big.length > pool.size);
    w.ingest(chunked(fetched([big, dataBatch(400, 2)]), [1000]));
    w.closeFile();
    await w.drain();
    assert.deepEqual((await stored(storage, w)).raw, Buffer.concat([big, dataBatch(400, 2)]));
  });
});
