import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { crc32c as referenceCrc32c } from '@node-rs/crc32';
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
