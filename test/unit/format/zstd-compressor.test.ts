/**
 * withZstdFrame: each block is one zstd frame, byte for byte a one-shot compression of it, also
 * when it does not fit the stream's output buffer (several pieces), when many blocks are
 * compressed at once through the pooled streams, and when a stream's reused buffer is
 * overwritten by its next frame (each frame is used before the stream is reused).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { withZstdFrame } from '../../../src/format/zstd-compressor.ts';

const oneShot = (raw: Buffer, level: number) =>
  zlib.zstdCompressSync(raw, {
    params: { [zlib.constants.ZSTD_c_compressionLevel]: level, [zlib.constants.ZSTD_c_checksumFlag]: 0 },
  });

/** Compressible, not trivially: random runs of 16 bytes every 64. */
function block(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 64) randomBytes(16).copy(b, i);
  return b;
}

/** The frame as `use` sees it, copied out (the pieces are the stream's reused buffer). */
const frameOf = (raw: Buffer, level: number) =>
  withZstdFrame(raw, level, async (pieces) => ({ frame: Buffer.concat(pieces), pieces: pieces.length }));

test('blocks compressed one after the other are one-shot frames; one that overflows the output buffer comes in pieces', async () => {
  let split = 0;
  for (let i = 0; i < 12; i++) {
    const raw = i === 5 ? randomBytes(3 << 20) : i % 4 === 3 ? randomBytes(700_000) : block(1 << 20);
    const { frame, pieces } = await frameOf(raw, 1);
    if (pieces > 1) split++;
    assert.deepEqual(zlib.zstdDecompressSync(frame), raw);
    assert.ok(frame.equals(oneShot(raw, 1)), `block ${i}: the bytes of a one-shot compression`);
  }
  assert.equal(split, 1, 'only the 3 MiB random block spans output buffers');
});

test('the next frame reuses the output buffer of the last one, once that one was used', async () => {
  const seen: ArrayBufferLike[] = [];
  for (let i = 0; i < 3; i++)
    await withZstdFrame(block(1 << 20), 7, async (pieces) => {
      seen.push(pieces[0]!.buffer);
      assert.equal(pieces[0]!.byteOffset, 0, 'written from the start of the buffer');
    });
  assert.equal(seen[1], seen[0]);
  assert.equal(seen[2], seen[0]);
});

test('concurrent blocks at two levels, and an empty block, each decompress to their own bytes', async () => {
  const raws = Array.from({ length: 20 }, (_, i) => block(50_000 + i * 30_000));
  raws.push(Buffer.alloc(0));
  const out = await Promise.all(raws.map((r, i) => frameOf(r, i % 2 ? 3 : 1)));
  out.forEach(({ frame }, i) => {
    assert.deepEqual(zlib.zstdDecompressSync(frame), raws[i]);
    assert.ok(frame.equals(oneShot(raws[i]!, i % 2 ? 3 : 1)));
  });
});

test('a frame whose use failed is not overwritten by a later one', async () => {
  let kept: Buffer | undefined;
  let copy: Buffer | undefined;
  await assert.rejects(
    withZstdFrame(block(1 << 20), 9, async (pieces) => {
      kept = pieces[0]!;
      copy = Buffer.from(kept);
      throw new Error('write failed');
    }),
    /write failed/,
  );
  for (let i = 0; i < 3; i++) await frameOf(block(1 << 20), 9);
  assert.ok(kept!.equals(copy!), 'the failed frame is intact');
});
