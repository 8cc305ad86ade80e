/**
 * Reusable buffers for decompressed data-file blocks, lent out and counted back.
 *
 * A restore keeps a block's bytes until every batch produced from them is acknowledged (batches
 * are re-stamped in place and sent as views of the block) and every record taken from them is
 * encoded into a new batch. Each holder takes a reference (`retain`) and gives it back
 * (`release`); the last release returns the buffer to the pool for the next block. A lease that
 * is never released (a failed job) is simply left to the GC.
 *
 * Why: a new Buffer per block costs about as many bytes of Buffers as the restore restores, all
 * of it garbage the GC collects late, which is what the peak RSS of a restore held (docs/
 * performance.md). The pool's own memory is the blocks in use plus at most `maxFree` spares.
 *
 * Reuse is only safe if no holder forgets its reference: with poisoning on (tests), a buffer is
 * overwritten when it comes back, so a use after release shows as corrupt data.
 */

/** Granularity of pooled capacities, so blocks of slightly different sizes share buffers. */
const CAPACITY_STEP = 64 * 1024;
/** Byte written over a released buffer when poisoning is on. */
export const POISON_BYTE = 0xa5;

let poisonAll = process.env['KB_POISON_RELEASED_BLOCKS'] === '1';
/** Tests: overwrite every buffer returned to any pool (also `KB_POISON_RELEASED_BLOCKS=1`). */
export function setBlockPoisoning(on: boolean): void {
  poisonAll = on;
}

export class BlockLease {
  /** The whole pooled buffer (at least the capacity asked for). */
  readonly buffer: Buffer;
  private refs = 1;
  private readonly pool: BlockPool | null;

  constructor(buffer: Buffer, pool: BlockPool | null) {
    this.buffer = buffer;
    this.pool = pool;
  }

  retain(): void {
    if (this.refs <= 0) throw new Error('block lease retained after its last release');
    this.refs++;
  }

  release(): void {
    if (this.refs <= 0) throw new Error('block lease released more often than retained');
    if (--this.refs === 0) this.pool?.giveBack(this.buffer);
  }
}

export class BlockPool {
  private readonly free: Buffer[] = [];
  private readonly maxFree: number;
  /** Buffers allocated and buffers lent again, for tests and debug figures. */
  readonly stats = { allocated: 0, reused: 0 };

  constructor(maxFree: number) {
    this.maxFree = maxFree;
  }

  /** A lease on a buffer of at least `bytes` bytes (its contents are whatever was there). */
  acquire(bytes: number): BlockLease {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.length >= bytes && (best < 0 || b.length < this.free[best]!.length)) best = i;
    }
    if (best >= 0) {
      this.stats.reused++;
      return new BlockLease(this.free.splice(best, 1)[0]!, this);
    }
    this.stats.allocated++;
    return new BlockLease(Buffer.allocUnsafe(Math.ceil(bytes / CAPACITY_STEP) * CAPACITY_STEP), this);
  }

  /** @internal the last release of a lease */
  giveBack(buffer: Buffer): void {
    if (poisonAll) buffer.fill(POISON_BYTE);
    if (this.free.length < this.maxFree) {
      this.free.push(buffer);
      return;
    }
    // full: keep the larger buffers, which fit more blocks
    let smallest = 0;
    for (let i = 1; i < this.free.length; i++) if (this.free[i]!.length < this.free[smallest]!.length) smallest = i;
    if (this.free[smallest]!.length < buffer.length) this.free[smallest] = buffer;
  }
}
