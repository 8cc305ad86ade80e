/**
 * zstd block compression through long-lived compression streams, one block per frame, each
 * stream compressing into one output buffer it reuses.
 *
 * Why not `zlib.zstdCompress` per block: it creates a context per block, allocates an output
 * buffer sized for the whole uncompressed block, and (it writes, then ends) returns the frame in
 * two pieces joined by a copy: about 1.3 × the raw block allocated per block, freed only when the
 * collector gets to it (docs/performance.md, "Peak RSS: where it goes"). A stream created with
 * `flush: ZSTD_e_end` ends a frame at every write. Given the whole block in one call, zstd knows
 * the content size and compresses straight into the output buffer: the frame is byte for byte
 * what a one-shot compression of the block gives (test/unit/format/zstd-compressor.test.ts).
 *
 * Node's zlib hands its output out as slices of the stream's output buffer and allocates a new
 * one when it is full, so the old ones were garbage at the collector's pace (70 MiB of them at a
 * 1 GiB backup's peak). Here the caller uses the frame inside `use` (checksums and writes it),
 * and only then does the stream go back to the pool; its next frame is written from the start
 * of the same buffer (`_outOffset`, the stream's write position in it, is reset: Node's zlib has
 * kept that field since its first versions, and the tests fail if it stops honouring it). Streams
 * are pooled per level: a run holds about as many as blocks are being written at once.
 */
import zlib from 'node:zlib';

/** Output buffer per stream: several compressed 1 MiB blocks, or one incompressible one. */
const OUTPUT_CHUNK = 2 << 20;
/** Idle streams kept per level (each holds a zstd context, ~1 MiB, and its output buffer). */
const MAX_IDLE = 8;

class ZstdFrameStream {
  private readonly stream: zlib.ZstdCompress;
  private pieces: Buffer[] = [];
  broken = false;

  constructor(level: number) {
    this.stream = zlib.createZstdCompress({
      flush: zlib.constants.ZSTD_e_end,
      chunkSize: OUTPUT_CHUNK,
      params: frameParams(level),
    });
    this.stream.on('data', (d: Buffer) => this.pieces.push(d));
    this.stream.on('error', () => {
      this.broken = true;
    });
  }

  /**
   * One complete zstd frame of `raw`, in pieces (more than one only when it does not fit the
   * output buffer). Overwrites the previous frame's pieces. One call at a time per stream.
   */
  compress(raw: Buffer): Promise<Buffer[]> {
    (this.stream as unknown as { _outOffset: number })._outOffset = 0;
    return new Promise((resolve, reject) => {
      this.stream.write(raw, (e) => {
        const out = this.pieces;
        this.pieces = [];
        if (e) {
          this.broken = true;
          reject(e);
        } else resolve(out);
      });
    });
  }

  destroy(): void {
    this.stream.destroy();
  }
}

const idle = new Map<number, ZstdFrameStream[]>();

/**
 * Compresses one block into one zstd frame and hands its pieces, in order, to `use`; they are
 * valid until `use` settles (they are the stream's reused output buffer).
 */
export async function withZstdFrame<T>(raw: Buffer, level: number, use: (frame: Buffer[]) => Promise<T>): Promise<T> {
  if (raw.length === 0) return use([zlib.zstdCompressSync(raw, { params: frameParams(level) })]);
  const s = idle.get(level)?.pop() ?? new ZstdFrameStream(level);
  let ok = false;
  try {
    const out = await use(await s.compress(raw));
    ok = true;
    return out;
  } finally {
    const list = idle.get(level) ?? [];
    // after a failure the frame may still be held (a write to retry): its buffer is not reused
    if (!ok || s.broken || list.length >= MAX_IDLE) s.destroy();
    else {
      list.push(s);
      idle.set(level, list);
    }
  }
}

function frameParams(level: number): Record<number, number> {
  return { [zlib.constants.ZSTD_c_compressionLevel]: level, [zlib.constants.ZSTD_c_checksumFlag]: 0 };
}
