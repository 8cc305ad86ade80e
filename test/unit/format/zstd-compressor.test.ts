/**
 * zstdCompressFrame: each block is one zstd frame, byte for byte a one-shot compression of it,
 * also when its output spans two of the stream's output buffers (several pieces) and when many
 * blocks are compressed at once through the pooled streams.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { zstdCompressFrame } from '../../../src/format/zstd-compressor.ts';

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

test('blocks compressed one after the other are one-shot frames, some in two pieces', async () => {
  let split = 0;
  for (let i = 0; i < 12; i++) {
    const raw = i % 4 === 3 ? randomBytes(700_000) : block(1 << 20);
    const pieces = await zstdCompressFrame(raw, 1);
    if (pieces.length > 1) split++;
    const frame = Buffer.concat(pieces);
    assert.deepEqual(zlib.zstdDecompressSync(frame), raw);
    assert.ok(frame.equals(oneShot(raw, 1)), `block ${i}: the bytes of a one-shot compression`);
  }
  assert.ok(split > 0, 'some frame crossed the end of an output buffer');
});

test('concurrent blocks at two levels, and an empty block, each decompress to their own bytes', async () => {
  const raws = Array.from({ length: 20 }, (_, i) => block(50_000 + i * 30_000));
  raws.push(Buffer.alloc(0));
  const out = await Promise.all(raws.map((r, i) => zstdCompressFrame(r, i % 2 ? 3 : 1)));
  out.forEach((pieces, i) => {
    const frame = Buffer.concat(pieces);
    assert.deepEqual(zlib.zstdDecompressSync(frame), raws[i]);
    assert.ok(frame.equals(oneShot(raws[i]!, i % 2 ? 3 : 1)));
  });
});
