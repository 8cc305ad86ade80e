import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { crc32c as referenceCrc32c } from '@node-rs/crc32';
import { BlockPool, setBlockPoisoning } from '../../../src/format/block-pool.ts';
import { crc32c } from '../../../src/format/checksum.ts';
import { BLOCK_CODECS } from '../../../src/format/compression.ts';
import { readSegment, SegmentCorruptError, type SegmentHeader, SegmentWriter } from '../../../src/format/segment.ts';
import { FilesystemBackend } from '../../../src/storage/filesystem.ts';
import { batch, recs } from '../inspect/fixtures.ts';

let dir: string;
let storage: FilesystemBackend;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kb-segment-'));
  storage = new FilesystemBackend({ path: dir });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function header(codec: (typeof BLOCK_CODECS)[number]): SegmentHeader {
  return {
    format: 'kafka-backup/segment',
    version: 1,
    backup_id: 'b',
    run_id: 'r',
    topic: 't',
    topic_id: 'AAAAAAAAAAAAAAAAAAAAAA',
    partition: 0,
    codec_chain: [{ type: 'compression', name: codec }],
    created_at: new Date(0).toISOString(),
  };
}

async function readAll(key: string, expected: { size?: number; crc32c?: string; sha256?: string }) {
  const it = readSegment(key, await storage.load(key), { expected });
  const blocks: Buffer[] = [];
  for (;;) {
    const r = await it.next();
    if (r.done) return { blocks, result: r.value };
    blocks.push(r.value.raw);
  }
}

describe('data file digests', () => {
  for (const codec of BLOCK_CODECS)
    for (const kind of ['crc32c', 'sha256'] as const) {
      it(`${codec} blocks, ${kind}: the manifest digest is the digest of the file's bytes`, async () => {
        const key = `${codec}-${kind}.kbs`;
        const raws = [Buffer.concat([batch(0, recs(50, 1000)), batch(50, recs(7, 2000))]), batch(57, recs(300, 3000))];
        const w = new SegmentWriter(await storage.openWriter(key), key, header(codec), kind);
        let first = 0;
        for (const raw of raws) {
          await w.appendBlock(raw, {
            firstOffset: first,
            lastOffset: first + 9,
            recordCount: 10,
            batchCount: 1,
            minTimestamp: 1,
            maxTimestamp: 2,
          });
          first += 10;
        }
        const s = await w.finish();
        const bytes = await readFile(join(dir, key));
        assert.equal(s.size, bytes.length);
        assert.equal(s.checksum.kind, kind);
        const reference =
          kind === 'sha256'
            ? createHash('sha256').update(bytes).digest('hex')
            : (referenceCrc32c(bytes) >>> 0).toString(16).padStart(8, '0');
        assert.equal(s.checksum.value, reference);

        const back = await readAll(key, { size: s.size, [kind]: s.checksum.value });
        assert.deepEqual(back.blocks, raws);
        assert.deepEqual(back.result.checksum, s.checksum);
      });
    }

  it('a wrong recorded digest or size is reported as corruption, naming the digest', async () => {
    const key = 'wrong.kbs';
    const w = new SegmentWriter(await storage.openWriter(key), key, header('zstd'));
    await w.appendBlock(batch(0, recs(10, 1)), {
      firstOffset: 0,
      lastOffset: 9,
      recordCount: 10,
      batchCount: 1,
      minTimestamp: 1,
      maxTimestamp: 10,
    });
    const s = await w.finish();
    const wrongCrc = s.checksum.value === '00000000' ? '00000001' : '00000000';
    await assert.rejects(readAll(key, { crc32c: wrongCrc }), (e: Error) => {
      assert.ok(e instanceof SegmentCorruptError);
      assert.match(e.message, /CRC-32C of the file differs from the manifest/);
      return true;
    });
    await assert.rejects(readAll(key, { sha256: '0'.repeat(64) }), /SHA-256 of the file differs/);
    await assert.rejects(readAll(key, { size: s.size + 1 }), /size \d+ differs/);
    // a flipped payload byte is caught by the block CRC before any decompression
    const bytes = await readFile(join(dir, key));
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 200) ^ 0x10, bytes.length - 200);
    await writeFile(join(dir, 'flipped.kbs'), bytes);
    await assert.rejects(readAll('flipped.kbs', { crc32c: s.checksum.value }), /checksum mismatch/);
  });
});

describe('readSegment with a block pool', () => {
  const meta = { firstOffset: 0, lastOffset: 9, recordCount: 10, batchCount: 1, minTimestamp: 1, maxTimestamp: 2 };
  const write = async (key: string, codec: (typeof BLOCK_CODECS)[number], raws: Buffer[]) => {
    const w = new SegmentWriter(await storage.openWriter(key), key, header(codec));
    for (const raw of raws) await w.appendBlock(raw, meta);
    return w.finish();
  };
  const raws = Array.from({ length: 6 }, (_, i) => batch(i * 1000, recs(200 + i * 150, i)));

  for (const codec of BLOCK_CODECS)
    it(`${codec}: the same blocks as without a pool; zstd blocks lent from it and reused once released`, async () => {
      const key = `pooled-${codec}.kbs`;
      const s = await write(key, codec, raws);
      const pool = new BlockPool(2);
      const seen: Buffer[] = [];
      // 16 KiB chunks: payloads span chunks, so the reused payload buffer is exercised
      for await (const b of readSegment(key, await storage.load(key, undefined, { readBytes: 16 * 1024 }), {
        expected: s,
        pool,
      })) {
        seen.push(Buffer.from(b.raw));
        assert.equal(b.lease !== undefined, codec === 'zstd');
        b.lease?.release();
      }
      assert.deepEqual(seen, raws);
      if (codec === 'zstd') {
        assert.equal(pool.stats.allocated + pool.stats.reused, raws.length);
        assert.ok(pool.stats.reused >= raws.length - 2, JSON.stringify(pool.stats));
      }
    });

  it('a held block keeps its bytes while later blocks are read (poisoned pool)', async () => {
    const key = 'held.kbs';
    const s = await write(key, 'zstd', raws);
    setBlockPoisoning(true);
    try {
      const pool = new BlockPool(1);
      const held: { raw: Buffer; release: () => void }[] = [];
      for await (const b of readSegment(key, await storage.load(key), { expected: s, pool })) {
        held.push({ raw: b.raw, release: () => b.lease!.release() });
        // release the previous block and keep this one: the next block must not land in it
        if (held.length >= 2) held.splice(held.length - 2, 1)[0]!.release();
        for (const h of held)
          assert.ok(
            raws.some((r) => r.equals(h.raw)),
            'a held block was overwritten',
          );
      }
      for (const h of held) h.release();
    } finally {
      setBlockPoisoning(false);
    }
  });

  it('a block whose header says fewer raw bytes than its frame holds is corrupt', async () => {
    const key = 'short-header.kbs';
    const s = await write(key, 'zstd', [raws[0]!]);
    const bytes = await readFile(join(dir, key));
    const at = 8 + 4 + bytes.readUInt32BE(8) + 4; // the first block header
    bytes.writeUInt32BE(bytes.readUInt32BE(at + 12) - 1, at + 12);
    bytes.writeUInt32BE(crc32c(bytes.subarray(at, at + 60)) >>> 0, at + 60);
    await writeFile(join(dir, 'bad-' + key), bytes);
    const read = async () => {
      for await (const b of readSegment('bad-' + key, await storage.load('bad-' + key), { pool: new BlockPool(1) }))
        b.lease?.release();
    };
    await assert.rejects(read, /block 0: decompressed to \d+ bytes, expected \d+/);
    assert.ok(s.size > 0);
  });
});
