/**
 * The batches in flight to one target partition, bounded in count and in bytes, each holding
 * the block it is a view of until it settles.
 */
import type { BlockLease } from '../format/block-pool.ts';

/** Batches in flight per target partition (the idempotent producer keeps order up to 5). */
export const MAX_IN_FLIGHT = 5;
/**
 * ...and at most this many bytes of them beyond the first. Large scenario (512 KiB batches), 8
 * alternating runs: peak RSS median 251 -> 239 MiB, same time; 62 KB batches never reach it.
 */
export const MAX_IN_FLIGHT_BYTES = 1 << 20;

export class InFlightWindow {
  private entries: { done: Promise<void>; bytes: number }[] = [];

  /**
   * Adds a send that never rejects (`done`); `block` (the block the batch may be a view of) is
   * held until it settles, so its buffer is not lent again while the batch may still be sent.
   */
  add(done: Promise<void>, bytes: number, block: BlockLease | undefined): void {
    block?.retain();
    this.entries.push({ done: block ? done.finally(() => block.release()) : done, bytes });
  }

  /** Waits for the oldest sends until the window has room for another batch. */
  async makeRoom(): Promise<void> {
    let bytes = 0;
    for (const f of this.entries) bytes += f.bytes;
    while (this.entries.length >= MAX_IN_FLIGHT || (this.entries.length > 1 && bytes > MAX_IN_FLIGHT_BYTES)) {
      const oldest = this.entries.shift()!;
      bytes -= oldest.bytes;
      await oldest.done;
    }
  }

  /** Waits for every send in the window, and empties it. */
  async settle(): Promise<void> {
    const all = this.entries;
    this.entries = [];
    await Promise.allSettled(all.map((f) => f.done));
  }
}
