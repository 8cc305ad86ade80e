/**
 * Read-committed filtering of raw batches (KIP-98), done by us because the broker only bounds
 * the data at the last stable offset: it still returns aborted batches, with the list of aborted
 * transactions (producer id, first offset) that overlap the fetched range.
 *
 * A batch belongs to at most one transaction. For each batch in offset order:
 *  - every aborted transaction whose first offset is <= the batch's last offset becomes active
 *    for its producer;
 *  - a control batch is never stored; an ABORT marker ends its producer's active abort;
 *  - a transactional batch of a producer with an active abort is dropped.
 * The state survives across fetch responses, so an aborted transaction larger than one response
 * is dropped whole, but not across a jump of the position (reset()): an aborted transaction
 * whose ABORT marker was in the skipped range would otherwise stay active for its producer and
 * drop that producer's later, committed transactions.
 */
import {
  type BatchHeader,
  CONTROL_ABORT,
  controlTypeOf,
  isControl,
  isTransactional,
  lastOffsetOf,
} from '../format/batch.ts';

export type BatchVerdict = 'keep' | 'control' | 'aborted';

interface AbortedTxn {
  producerId: bigint;
  firstOffset: bigint;
}

export class TransactionFilter {
  private pending: AbortedTxn[] = [];
  private readonly seen = new Set<string>();
  private readonly active = new Set<bigint>();

  /** Adds the aborted transactions listed by one fetch response (duplicates are ignored). */
  addAborted(list: AbortedTxn[]): void {
    let added = false;
    for (const t of list) {
      const key = `${t.producerId}:${t.firstOffset}`;
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      this.pending.push(t);
      added = true;
    }
    if (added)
      this.pending.sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
  }

  /** Decides one batch. `buf` holds the batch at h.position (control batches are never compressed). */
  judge(buf: Buffer, h: BatchHeader): BatchVerdict {
    const last = lastOffsetOf(h);
    while (this.pending.length > 0 && this.pending[0]!.firstOffset <= last) {
      this.active.add(this.pending.shift()!.producerId);
    }
    if (isControl(h)) {
      if (this.active.has(h.producerId)) {
        const records = buf.subarray(h.position + 61, h.position + h.size);
        if (controlTypeOf(records) === CONTROL_ABORT) this.active.delete(h.producerId);
      }
      return 'control';
    }
    if (isTransactional(h) && this.active.has(h.producerId)) return 'aborted';
    return 'keep';
  }

  /**
   * Forgets everything: the position jumped (a retention gap), so what was learnt about the
   * skipped range no longer applies. The broker lists again, with the next fetch, every aborted
   * transaction that reaches into the range from the new position on (its lastOffset >= the
   * fetch offset), so a transaction spanning the jump is still dropped.
   */
  reset(): void {
    this.pending = [];
    this.seen.clear();
    this.active.clear();
  }

  /** Forgets transactions that ended below `offset` (keeps the `seen` set from growing forever). */
  prune(offset: bigint): void {
    if (this.seen.size < 10_000 || this.pending.length > 0) return;
    for (const key of this.seen) {
      const first = BigInt(key.split(':')[1]!);
      if (first < offset) this.seen.delete(key);
    }
  }
}
