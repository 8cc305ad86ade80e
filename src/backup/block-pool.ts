/**
 * The buffers record blocks are collected in, shared by a run's partition writers.
 *
 * A block's batches are copied once, out of the fetch response's socket chunks, into a buffer
 * from this pool; the buffer goes back once the block is compressed and written, and the next
 * block reuses it. Before, each partition's records section was copied out of the socket chunks
 * per fetch (2 MiB each), blocks were views of those copies (a small open block kept a whole copy
 * alive) or joined copies when they spanned two fetches, and all of it was garbage for the
 * collector to find: about half the Buffers at a backup's peak (docs/performance.md).
 *
 * Pooled buffers have one size, `max_batch_bytes` plus room for the batch that carries a block
 * over it (a block is cut after the batch that reaches `max_batch_bytes`); a block that needs
 * more gets a buffer of its own, not pooled. At most `maxIdle` buffers wait here.
 */
export class BlockPool {
  readonly size: number;
  private readonly maxIdle: number;
  private readonly idle: Buffer[] = [];

  /** `size`: the pooled buffers' size (for blocks: BlockPool.forBlocks). */
  constructor(size: number, maxIdle: number) {
    this.size = size;
    this.maxIdle = maxIdle;
  }

  /** A pool for blocks of `maxBatchBytes`: the buffers have room for the batch that ends a block. */
  static forBlocks(maxBatchBytes: number, maxIdle: number): BlockPool {
    return new BlockPool(maxBatchBytes + Math.max(128 * 1024, maxBatchBytes >>> 3), maxIdle);
  }

  /** A buffer of at least `bytes` (its contents are whatever was left in it). */
  take(bytes = 0): Buffer {
    if (bytes > this.size) return Buffer.allocUnsafeSlow(bytes);
    return this.idle.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /**
   * Gives a buffer back. Only once nothing reads it any more: not while a compression or a
   * write of the block it holds is running (a write that failed may be retried with it).
   */
  give(b: Buffer): void {
    if (b.length === this.size && this.idle.length < this.maxIdle) this.idle.push(b);
  }

  get idleCount(): number {
    return this.idle.length;
  }
}
