import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { BlockPool, POISON_BYTE, setBlockPoisoning } from '../../../src/format/block-pool.ts';
import { ZstdDecompressor } from '../../../src/format/zstd-decompressor.ts';

function noise(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = i % 3 === 0 ? x >>> 24 : i & 0xff;
  }
  return b;
}

describe('ZstdDecompressor', () => {
  it('decompresses many frames into the caller’s buffers with one context, byte for byte', async () => {
    const d = new ZstdDecompressor();
    for (let i = 0; i < 20; i++) {
      const raw = noise(1000 + i * 37_000, i);
      const out = Buffer.alloc(raw.length + 1);
      const n = await d.decompressInto(zlib.zstdCompressSync(raw), out);
      assert.equal(n, raw.length);
      assert.ok(out.subarray(0, n).equals(raw));
    }
    d.close();
  });

  it('reads concatenated frames as one payload', async () => {
    const a = noise(70_000, 1);
    const b = noise(5, 2);
    const out = Buffer.alloc(a.length + b.length + 1);
    const n = await new ZstdDecompressor().decompressInto(
      Buffer.concat([zlib.zstdCompressSync(a), zlib.zstdCompressSync(b)]),
      out,
    );
    assert.equal(n, a.length + b.length);
    assert.ok(out.subarray(0, n).equals(Buffer.concat([a, b])));
  });

  it('fills the buffer when the data is longer, so the caller sees more than it expected', async () => {
    const raw = noise(100_000, 3);
    const out = Buffer.alloc(50_001);
    assert.equal(await new ZstdDecompressor().decompressInto(zlib.zstdCompressSync(raw), out), out.length);
  });

  it('throws on data that is not zstd, and works again afterwards', async () => {
    const d = new ZstdDecompressor();
    await assert.rejects(d.decompressInto(Buffer.from('certainly not a zstd frame'), Buffer.alloc(100)), /frame/i);
    const raw = noise(2000, 4);
    const out = Buffer.alloc(raw.length + 1);
    assert.equal(await d.decompressInto(zlib.zstdCompressSync(raw), out), raw.length);
    assert.ok(out.subarray(0, raw.length).equals(raw));
    d.close();
  });
});

describe('BlockPool', () => {
  it('lends a buffer again only after its last holder released it', () => {
    const pool = new BlockPool(4);
    const a = pool.acquire(1000);
    a.retain(); // a batch in flight
    a.release(); // the reader is done
    const b = pool.acquire(1000);
    assert.notEqual(b.buffer.buffer, a.buffer.buffer, 'still held by the batch');
    a.release(); // acknowledged
    const c = pool.acquire(900);
    assert.equal(c.buffer, a.buffer);
    assert.deepEqual(pool.stats, { allocated: 2, reused: 1 });
    assert.throws(() => a.release(), /released more often/);
    assert.throws(() => a.retain(), /after its last release/);
  });

  it('keeps at most maxFree spares, the largest, and lends the smallest that fits', () => {
    const pool = new BlockPool(2);
    const leases = [10, 200_000, 70_000].map((n) => pool.acquire(n));
    for (const l of leases) l.release();
    assert.equal(pool.acquire(150_000).buffer.length, 256 * 1024);
    assert.equal(pool.acquire(1).buffer.length, 128 * 1024);
    assert.equal(pool.stats.allocated, 3);
    // the 64 KiB spare was dropped for the larger ones: a new buffer is allocated
    assert.equal(pool.acquire(1).buffer.length, 64 * 1024);
    assert.equal(pool.stats.allocated, 4);
  });

  it('poisons a returned buffer when asked (tests)', () => {
    setBlockPoisoning(true);
    try {
      const l = new BlockPool(1).acquire(10);
      l.buffer.fill(1);
      const view = l.buffer.subarray(0, 10);
      l.release();
      assert.ok(view.every((b) => b === POISON_BYTE));
    } finally {
      setBlockPoisoning(false);
    }
  });
});
