/**
 * Records of one target partition waiting to be encoded into a batch of our own (the record
 * path: filtered, re-partitioned, re-compressed or with headers added). Their keys and values
 * are views of the blocks they were decoded from: each such block is held until the records are
 * encoded (a copy), so its buffer is not lent again before.
 */
import type { BlockLease } from '../format/block-pool.ts';
import type { KafkaRecord } from '../format/records.ts';
import { addCounts, noCounts, type RewriteCounts } from '../schema-registry/rewriter.ts';

/** Records and bytes per batch we encode ourselves. */
const ENCODE_MAX_RECORDS = 5_000;
const ENCODE_MAX_BYTES = 1 << 20;

export class PendingRecords {
  readonly records: KafkaRecord[] = [];
  /** Kafka codec id the batch will be encoded with. */
  readonly codec: number;
  /** The stream index (within its target partition) of the first record. */
  readonly first: number;
  /** What patching the records' schema ids counted, confirmed once the batch is acknowledged. */
  readonly ids: RewriteCounts = noCounts();
  private bytes = 0;
  private readonly blocks = new Set<BlockLease>();

  constructor(codec: number, first: number) {
    this.codec = codec;
    this.first = first;
  }

  add(rec: KafkaRecord, block: BlockLease | undefined, counted: RewriteCounts | undefined): void {
    if (block && !this.blocks.has(block)) {
      block.retain();
      this.blocks.add(block);
    }
    if (counted) addCounts(this.ids, counted);
    this.records.push(rec);
    this.bytes += (rec.key?.length ?? 0) + (rec.value?.length ?? 0) + 32;
  }

  get full(): boolean {
    return this.records.length >= ENCODE_MAX_RECORDS || this.bytes >= ENCODE_MAX_BYTES;
  }

  /** The records were encoded (copied): the blocks they came from are no longer needed. */
  encoded(): void {
    for (const b of this.blocks) b.release();
    this.blocks.clear();
  }
}
