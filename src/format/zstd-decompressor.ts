/**
 * zstd decompression into a buffer the caller owns, on libuv's thread pool, with one
 * decompression context kept for many blocks.
 *
 * Why: `zlib.zstdDecompress` allocates a new output buffer sized for the block and a new
 * decompression context (its window buffers, on a pool thread's malloc arena) for every block.
 * A restore decompresses its whole backup that way, about as many bytes of Buffers as it
 * restores, and the peak RSS holds every such buffer the GC has not yet collected (docs/
 * performance.md, "Peak RSS: where it goes"). Decompressing into pooled block buffers
 * (block-pool.ts) with one context per reader allocates neither per block.
 *
 * Node 24's public zlib API has no way to name the output buffer, so this drives the native
 * handle that `zlib.ZstdDecompress` is built on (`write(flush, in, inOff, inLen, out, outOff,
 * outLen)`, completion through the callback given to `init`, errors through `onerror`), as
 * lib/zlib.js does. Where that handle is not what this expects (another Node), it falls back to
 * `zlib.zstdDecompress` and a copy into the caller's buffer.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';

interface NativeHandle {
  init(
    params: Uint32Array,
    pledgedSrcSize: number | undefined,
    writeState: Uint32Array,
    onWritten: () => void,
    dictionary: undefined,
  ): void;
  write(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void;
  close(): void;
  onerror?: (message: string, errno: number, code?: string) => void;
}

type HandleClass = new () => NativeHandle;

let handleClass: HandleClass | null | undefined;
function nativeHandleClass(): HandleClass | null {
  if (handleClass !== undefined) return handleClass;
  const probe = zlib.createZstdDecompress();
  const c = (probe as unknown as { _handle?: { constructor?: unknown } })._handle?.constructor as
    | HandleClass
    | undefined;
  const proto = c?.prototype as Partial<NativeHandle> | undefined;
  handleClass =
    typeof c === 'function' && typeof proto?.init === 'function' && typeof proto.write === 'function' ? c : null;
  probe.close();
  return handleClass;
}

/** lib/zlib.js sizes the parameter array by the highest ZSTD_d_ parameter; -1 leaves one unset. */
const PARAM_SLOTS =
  Math.max(
    0,
    ...Object.entries(zlib.constants)
      .filter(([k]) => k.startsWith('ZSTD_d_'))
      .map(([, v]) => v as number),
  ) + 1;

const zstdDecompress = promisify(zlib.zstdDecompress);

export class ZstdDecompressor {
  private handle: NativeHandle | null = null;
  private readonly state = new Uint32Array(2);
  private settle: ((e?: Error) => void) | null = null;
  /** The buffers a write in progress reads and writes: kept reachable until it completes. */
  private busy: [Buffer, Buffer] | null = null;
  private readonly native: HandleClass | null;

  constructor() {
    this.native = nativeHandleClass();
  }

  /**
   * Decompresses the zstd frames of `input` into `out` and returns the bytes written. Give `out`
   * at least one byte more than expected: output that fills it means the data is longer than
   * expected (the caller compares the count). Throws on data that is not zstd.
   */
  async decompressInto(input: Buffer, out: Buffer): Promise<number> {
    if (!this.native) {
      const r = await zstdDecompress(input, { maxOutputLength: Math.max(out.length, 1) });
      return r.copy(out);
    }
    let inOff = 0;
    let outOff = 0;
    while (inOff < input.length && outOff < out.length) {
      const inLen = input.length - inOff;
      const outLen = out.length - outOff;
      await this.write(input, inOff, inLen, out, outOff, outLen);
      const consumed = inLen - this.state[1]!;
      const produced = outLen - this.state[0]!;
      // a frame ends where decompressStream stops with input left: the next call starts the next frame
      if (consumed === 0 && produced === 0) throw new Error('zstd made no progress (corrupt frame)');
      inOff += consumed;
      outOff += produced;
    }
    return outOff;
  }

  private write(input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number) {
    const h = this.handle ?? this.open();
    return new Promise<void>((resolve, reject) => {
      this.busy = [input, out];
      this.settle = (e) => {
        this.settle = null;
        this.busy = null;
        if (e) {
          // a context that failed is not reused
          this.close();
          reject(e);
        } else resolve();
      };
      h.write(zlib.constants.ZSTD_e_continue, input, inOff, inLen, out, outOff, outLen);
    });
  }

  private open(): NativeHandle {
    const h = new this.native!();
    h.init(new Uint32Array(PARAM_SLOTS).fill(-1), undefined, this.state, () => this.settle?.(), undefined);
    h.onerror = (message) => this.settle?.(new Error(message));
    this.handle = h;
    return h;
  }

  /** Frees the native context; the decompressor opens a new one if used again. */
  close(): void {
    if (this.busy) return; // closed by the write's completion instead
    this.handle?.close();
    this.handle = null;
  }
}
