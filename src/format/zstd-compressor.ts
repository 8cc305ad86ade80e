/**
 * zstd block compression through long-lived compression streams, one block per frame.
 *
 * Why not `zlib.zstdCompress` per block: it creates a context per block, allocates an output
 * buffer sized for the whole uncompressed block, and (it writes, then ends) returns the frame in
 * two pieces joined by a copy: about 1.3 × the raw block allocated per block, freed only when the
 * collector gets to it (docs/performance.md, "Peak RSS: where it goes"). A stream created with
 * `flush: ZSTD_e_end` ends a frame at every write; Node's zlib hands out its output as slices of
 * one output buffer, reused until it is full. Given the whole block in one call, zstd knows the
 * content size and compresses straight into that buffer: the frame is byte for byte what a
 * one-shot compression of the block gives (test/unit/format/zstd-compressor.test.ts).
 *
 * The frame comes as one or more pieces (more when the output buffer fills mid-frame); callers
 * checksum and write them in order. Streams are pooled per level, so a run holds about as many
 * zstd contexts as blocks are being compressed at once, not one per partition or file.
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

  /** One complete zstd frame of `raw`, in pieces. One call at a time per stream. */
  compress(raw: Buffer): Promise<Buffer[]> {
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

/** Compresses one block into one zstd frame (returned in pieces, in order). */
export async function zstdCompressFrame(raw: Buffer, level: number): Promise<Buffer[]> {
  if (raw.length === 0) return [zlib.zstdCompressSync(raw, { params: frameParams(level) })];
  const free = idle.get(level);
  const s = free?.pop() ?? new ZstdFrameStream(level);
  try {
    return await s.compress(raw);
  } finally {
    const list = idle.get(level) ?? [];
    if (s.broken || list.length >= MAX_IDLE) s.destroy();
    else {
      list.push(s);
      idle.set(level, list);
    }
  }
}

function frameParams(level: number): Record<number, number> {
  return { [zlib.constants.ZSTD_c_compressionLevel]: level, [zlib.constants.ZSTD_c_checksumFlag]: 0 };
}
