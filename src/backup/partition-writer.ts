/**
 * One partition's side of a backup: takes raw fetch results, filters them (read committed),
 * cuts blocks, writes data files in order, and tracks exactly which offsets are covered.
 *
 * Coverage invariant: every offset in [start_offset, committedEnd) is inside a committed data
 * file's [first_offset, last_offset] or inside a recorded gap; the manifest's next_offset is
 * committedEnd, never the fetch position, so a checkpoint only advances past records that are
 * in durable, listed files.
 */
import { KafkaError } from '../errors.ts';
import {
  BATCH_HEADER_SIZE,
  BatchFormatError,
  type BatchHeader,
  batchCrcOk,
  batchRange,
  lastOffsetOf,
  readBatchHeader,
} from '../format/batch.ts';
import type { FileChecksumKind } from '../format/checksum.ts';
import { crc32c } from '../format/checksum.ts';
import type { BlockCodec } from '../format/compression.ts';
import { type FileEntry, type Gap, type GapCause, keys } from '../format/manifest.ts';
import { type SegmentHeader, SegmentWriter } from '../format/segment.ts';
import type { RawFetchPartition } from '../kafka/fetch-raw-v17.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { logger } from '../util/log.ts';
import { BlockPool } from './block-pool.ts';
import { RecordChunks } from './record-chunks.ts';
import { TransactionFilter } from './txn-filter.ts';

const log = logger('backup');

export interface PartitionWriterOptions {
  backupId: string;
  runId: string;
  topic: string;
  topicId: string;
  partition: number;
  compacted: boolean;
  codec: BlockCodec;
  level: number | undefined;
  fileChecksum: FileChecksumKind;
  batchSize: number;
  maxBatchBytes: number;
  segmentMaxBytes: number;
  segmentMaxIntervalMs: number;
  storage: StorageBackend;
  /** Where block buffers come from (shared by a run's writers); a writer of its own when absent. */
  blocks?: BlockPool;
  /** Called for each byte count written to storage (metrics, throttling). */
  onStored?: (rawBytes: number, storedBytes: number, records: number, maxTimestamp: number) => void;
}

interface OpenBlock {
  /** Bytes of the block in the writer's block buffer, from its start. */
  bytes: number;
  firstOffset: number;
  lastOffset: number;
  records: number;
  batches: number;
  minTs: number;
  maxTs: number;
}

export class PartitionWriter {
  readonly o: PartitionWriterOptions;
  /** Next offset to fetch. */
  position: number;
  /** Exclusive end for snapshot mode (Infinity when following). */
  end: number;
  /** First offset not yet covered by a committed file or gap. */
  committedEnd: number;
  /** High watermark / last stable offset seen in the last fetch. */
  lastStable = -1;
  logStartOffset = -1;
  /**
   * Leader epoch of the last batch read below the position (-1: none read in this run). Sent as
   * the fetch's last_fetched_epoch (KIP-320) so that the leader reports a log that diverged from
   * what was read (truncated by an unclean leader election) instead of serving its other history.
   */
  lastFetchedEpoch = -1;
  /** lastFetchedEpoch as of committedEnd (what the line records as the partition's leader_epoch). */
  committedEpoch = -1;

  private readonly filter = new TransactionFilter();
  /** Base offset of the batch that failed its CRC in the last fetch (-1: none); a second failure there is fatal. */
  private corruptAt = -1;
  private block: OpenBlock | null = null;
  /**
   * The buffer the open block (or the next) is collected in, from the pool: [0, block.bytes) is
   * the block; a batch spanning socket chunks is staged after it before it is checked.
   */
  private buf: Buffer | null = null;
  private readonly blocks: BlockPool;
  /** A batch header spanning two socket chunks is read from here. */
  private readonly headerBytes = Buffer.alloc(BATCH_HEADER_SIZE);
  private segment: SegmentWriter | null = null;
  private segmentSeq = 0;
  /**
   * When (ms) the fetch position first moved past fileStart, i.e. when the oldest offset the
   * open (or next) file will cover was read; 0 when there is none. A file's age counts from
   * here, not from when its first block reached storage: a few records stay in the open block
   * (below batch_size and max_batch_bytes), no segment is opened, and a file that is never
   * opened never got old, so its records waited in memory until the run ended.
   */
  private uncoveredSince = 0;
  /** The uncoveredSince of each range handed to closeFile whose file (or gap) is not committed yet, oldest first. */
  private readonly closing: number[] = [];
  /** Start of the offsets the open (or next) file will cover. */
  private fileStart: number;
  private skipped: Partial<Record<GapCause, number>> = {};
  private fileMaxBatch = 0;
  /** Uncompressed bytes handed to the open file (segment_max_bytes counts these). */
  private fileRawBytes = 0;
  /** Serialises block writes and file commits, in order. */
  private chain: Promise<void> = Promise.resolve();
  private failure: Error | null = null;
  pendingBlocks = 0;
  /** Timestamp of the newest record written to storage (-1 before the first). */
  newestStored = -1;

  /** Files and gaps committed since the last checkpoint took them. */
  readonly newFiles: FileEntry[] = [];
  readonly newGaps: Gap[] = [];

  constructor(o: PartitionWriterOptions, startOffset: number, end: number) {
    this.o = o;
    this.position = startOffset;
    this.committedEnd = startOffset;
    this.fileStart = startOffset;
    this.end = end;
    this.blocks = o.blocks ?? BlockPool.forBlocks(o.maxBatchBytes, 2);
  }

  get done(): boolean {
    return this.position >= this.end;
  }
  /**
   * Record bytes the next fetch may bring without this partition holding more than the memory
   * budget's two blocks (one being filled, one being written; src/config/memory.ts): more would
   * be cut into further blocks, each holding a pooled buffer while it waits for the write chain.
   */
  get fetchRoom(): number {
    return Math.max(0, (2 - this.pendingBlocks) * this.o.maxBatchBytes - (this.block?.bytes ?? 0));
  }
  get hasOpenFile(): boolean {
    return this.segment !== null || this.block !== null;
  }
  get error(): Error | null {
    return this.failure;
  }

  private skip(cause: GapCause, n: number): void {
    if (n > 0) this.skipped[cause] = (this.skipped[cause] ?? 0) + n;
  }

  /** Records offsets [position, to) as removed by retention before we could fetch them. */
  skipTo(to: number, cause: GapCause): void {
    if (to <= this.position) return;
    this.skip(cause, Math.min(to, this.end) - this.position);
    this.position = Math.min(to, this.end);
    // the read-committed state described the skipped range (an ABORT marker in it is never seen)
    this.filter.reset();
    // no batch below the new position was read: its epoch is unknown (as after a consumer's seek)
    this.lastFetchedEpoch = -1;
    this.noteRead();
  }

  /** Starts the age of the uncovered range when the position has just moved past fileStart. */
  private noteRead(): void {
    if (this.uncoveredSince === 0 && this.position > this.fileStart) this.uncoveredSince = Date.now();
  }

  /** Ingests one partition of a fetch response. Returns the number of records kept. */
  ingest(p: RawFetchPartition): number {
    if (this.failure) throw this.failure;
    this.lastStable = Number(p.lastStableOffset >= 0n ? p.lastStableOffset : p.highWatermark);
    this.logStartOffset = Number(p.logStartOffset);
    if (p.abortedTransactions.length > 0) this.filter.addAborted(p.abortedTransactions);
    const views = p.recordViews ?? (p.records ? [p.records] : null);
    if (!views?.length) return 0;
    const src = new RecordChunks(views);
    let kept = 0;
    // a trailing partial batch (the response was cut at max bytes) is left: the next fetch starts at it
    for (let pos = 0, size = 0; pos + BATCH_HEADER_SIZE <= src.length; pos += size) {
      const h = this.header(src, pos);
      size = h.size;
      if (pos + size > src.length) break;
      if (h.magic !== 2)
        throw new BatchFormatError(`record batch at offset ${h.baseOffset} has magic ${h.magic}, expected 2`);
      if (this.done) break;
      const last = Number(lastOffsetOf(h));
      if (last < this.position) continue;
      const base = Number(h.baseOffset);
      // a batch reaching below the position (fetched mid-batch) starts a new block, whose
      // logical range then excludes the records before the position
      if (base < this.position && this.block) this.flushBlock();
      const buf = this.batchBytes(src, pos, size);
      // Every batch used is checked against its own CRC-32C (one native call over the batch, no
      // per-record work): the broker sends stored bytes as they are, and a corrupt batch stored
      // here would be restored as valid. Ingest stops before it, so the next fetch reads it again.
      if (!batchCrcOk(buf, h)) {
        this.corruptBatch(buf, h);
        break;
      }
      if (this.corruptAt >= 0 && last >= this.corruptAt) this.corruptAt = -1;
      this.lastFetchedEpoch = h.partitionLeaderEpoch;
      if (base > this.position) {
        // whole batches missing between two batches: removed by the log cleaner. Unlike skipTo,
        // the read-committed state stays: the hole is inside one response, whose aborted-
        // transaction list (added above) covers the whole fetched range; resetting here would
        // forget it and keep aborted batches after the hole.
        this.skip(this.o.compacted ? 'compaction' : 'unknown', Math.min(base, this.end) - this.position);
        this.position = Math.min(base, this.end);
        if (this.done) break;
      }
      const from = this.position;
      const to = Math.min(last, this.end - 1);
      const verdict = this.filter.judge(buf, h);
      if (verdict !== 'keep') {
        this.skip(verdict, to - from + 1);
        this.position = to + 1;
        continue;
      }
      const stats = batchRange(buf, h, from, to);
      this.skip('compaction', to - from + 1 - stats.records);
      this.addToBlock(buf, from, to, stats);
      kept += stats.records;
      this.position = to + 1;
      // only now, with the position past this batch, may the block (and maybe the file) be cut
      const b = this.block as OpenBlock | null;
      if (b && (b.bytes >= this.o.maxBatchBytes || b.records >= this.o.batchSize)) this.flushBlock();
    }
    if (kept === 0 && !this.block) this.filter.prune(BigInt(this.position));
    this.noteRead();
    return kept;
  }

  /** The header of the batch at pos (its position field: 0, the start of batchBytes' result). */
  private header(src: RecordChunks, pos: number): BatchHeader {
    const v = src.view(pos, BATCH_HEADER_SIZE);
    if (v) return readBatchHeader(v, 0);
    src.copyTo(pos, BATCH_HEADER_SIZE, this.headerBytes, 0);
    return readBatchHeader(this.headerBytes, 0);
  }

  /**
   * The batch at [pos, pos + size) in one piece: a view of its socket chunk, or, when it spans
   * two, copied to where it goes in the block buffer (addToBlock then keeps it in place).
   */
  private batchBytes(src: RecordChunks, pos: number, size: number): Buffer {
    const v = src.view(pos, size);
    if (v) return v;
    const at = this.block?.bytes ?? 0;
    const buf = this.room(at + size);
    src.copyTo(pos, size, buf, at);
    return buf.subarray(at, at + size);
  }

  /** The block buffer, with room for `bytes` (the open block's bytes are kept when it grows). */
  private room(bytes: number): Buffer {
    const cur = this.buf;
    if (cur && cur.length >= bytes) return cur;
    const next = this.blocks.take(cur ? Math.max(bytes, 2 * cur.length) : bytes);
    if (cur) {
      cur.copy(next, 0, 0, this.block?.bytes ?? 0);
      this.blocks.give(cur);
    }
    this.buf = next;
    return next;
  }

  /**
   * A batch failed its CRC: the first time it is fetched again (a corruption on the wire is
   * transient), the second time at the same offset the run fails, naming the batch.
   */
  private corruptBatch(buf: Buffer, h: BatchHeader): void {
    const base = Number(h.baseOffset);
    const where = `${this.o.topic}-${this.o.partition}`;
    const computed = crc32c(buf.subarray(h.position + 21, h.position + h.size)) >>> 0;
    const detail = `record batch at offset ${base} of ${where} (${h.size} bytes) failed its CRC-32C check (stored ${hex(h.crc)}, computed ${hex(computed)})`;
    if (this.corruptAt !== base) {
      this.corruptAt = base;
      log.warn(`${detail}; fetching it again`, { topic: this.o.topic, partition: this.o.partition, offset: base });
      return;
    }
    this.failure = new KafkaError(`${detail} twice: the broker's copy (or every answer on the way) is corrupt`, {
      hint: `nothing of that batch was stored (what was stored before it stays listed); check the broker's disk and logs (kafka-dump-log.sh --deep-iteration on the segment holding offset ${base} shows the damage), and repair or reassign the partition before running the backup again`,
      code: 'CORRUPT_BATCH',
    });
    throw this.failure;
  }

  private addToBlock(
    bytes: Buffer,
    from: number,
    to: number,
    s: { records: number; minTs: number; maxTs: number },
  ): void {
    if (!this.block) {
      this.block = {
        bytes: 0,
        firstOffset: from,
        lastOffset: to,
        records: 0,
        batches: 0,
        minTs: Number.MAX_SAFE_INTEGER,
        maxTs: -1,
      };
    }
    const b = this.block;
    const buf = this.room(b.bytes + bytes.length);
    // a batch staged by batchBytes is in place already; a view of a socket chunk is copied
    if (bytes.buffer !== buf.buffer || bytes.byteOffset !== buf.byteOffset + b.bytes) bytes.copy(buf, b.bytes);
    if (bytes.length > this.fileMaxBatch) this.fileMaxBatch = bytes.length;
    b.bytes += bytes.length;
    b.lastOffset = to;
    b.records += s.records;
    b.batches++;
    if (s.records > 0) {
      b.minTs = Math.min(b.minTs, s.minTs);
      b.maxTs = Math.max(b.maxTs, s.maxTs);
    }
  }

  /** Hands the open block to the write chain; its buffer returns to the pool once it is written. */
  flushBlock(): void {
    const b = this.block;
    if (!b) return;
    this.block = null;
    const buf = this.buf!;
    this.buf = null;
    this.pendingBlocks++;
    const raw = buf.subarray(0, b.bytes);
    const fileStart = this.fileStart;
    this.fileRawBytes += raw.length;
    this.enqueue(async () => {
      try {
        if (!this.segment) await this.openSegment(fileStart);
        const before = this.segment!.bytesWritten;
        await this.segment!.appendBlock(raw, {
          firstOffset: b.firstOffset,
          lastOffset: b.lastOffset,
          recordCount: b.records,
          batchCount: b.batches,
          minTimestamp: b.records ? b.minTs : -1,
          maxTimestamp: b.maxTs,
        });
        // compressed and written: nothing reads the buffer any more (a failed block's is dropped)
        this.blocks.give(buf);
        if (b.maxTs > this.newestStored) this.newestStored = b.maxTs;
        this.o.onStored?.(raw.length, this.segment!.bytesWritten - before, b.records, b.maxTs);
      } finally {
        this.pendingBlocks--;
      }
    });
    if (this.fileRawBytes >= this.o.segmentMaxBytes) this.closeFile();
  }

  private async openSegment(fileStart: number): Promise<void> {
    const key = keys.dataFile(
      this.o.backupId,
      this.o.topic,
      this.o.partition,
      fileStart,
      this.o.runId,
      this.segmentSeq++,
      this.o.topicId,
    );
    const header: SegmentHeader = {
      format: 'kafka-backup/segment',
      version: 1,
      backup_id: this.o.backupId,
      run_id: this.o.runId,
      topic: this.o.topic,
      topic_id: this.o.topicId,
      partition: this.o.partition,
      codec_chain: [
        { type: 'compression', name: this.o.codec, ...(this.o.level !== undefined ? { level: this.o.level } : {}) },
      ],
      created_at: new Date().toISOString(),
    };
    this.segment = new SegmentWriter(await this.o.storage.openWriter(key), key, header, this.o.fileChecksum);
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(async () => {
      if (this.failure) return;
      try {
        await task();
      } catch (e) {
        this.failure = e as Error;
      }
    });
  }

  /**
   * True when the open file should be closed because of its age (continuous mode): its oldest
   * offset was read segment_max_interval ago, whether its records are in storage blocks or still
   * in the open block, or are only skipped offsets (a transaction marker) that become a gap.
   */
  get fileIsOld(): boolean {
    return this.uncoveredSince > 0 && Date.now() - this.uncoveredSince >= this.o.segmentMaxIntervalMs;
  }

  /**
   * When (ms) the oldest offset read but not yet in a finished file or recorded gap was read, 0
   * when everything read is durable: what a crash of this process now would lose from storage.
   */
  get pendingSince(): number {
    for (const t of this.closing) if (t > 0) return t;
    return this.uncoveredSince;
  }

  /** Offsets read but not yet in a finished file or recorded gap. */
  get pendingOffsets(): number {
    return Math.max(0, this.position - this.committedEnd);
  }

  /**
   * Flushes the open block and commits the open file, covering [fileStart, position). When no
   * file is open, the skipped offsets up to the position become a recorded gap.
   */
  closeFile(): void {
    this.flushBlock();
    // a writer between files holds no block buffer (a run has many more writers than slots)
    if (this.buf) this.blocks.give(this.buf);
    this.buf = null;
    const coverEnd = this.position;
    const epoch = this.lastFetchedEpoch;
    const skipped = this.skipped;
    this.skipped = {};
    const fileStart = this.fileStart;
    this.fileStart = coverEnd;
    const maxBatch = this.fileMaxBatch;
    this.fileMaxBatch = 0;
    this.fileRawBytes = 0;
    // the range's age moves to `closing` until its file is committed (pendingSince)
    this.closing.push(this.uncoveredSince);
    this.uncoveredSince = 0;
    this.enqueue(async () => {
      const seg = this.segment;
      this.segment = null;
      if (!seg) {
        if (coverEnd > fileStart) {
          const cause = (Object.entries(skipped).sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'unknown') as GapCause;
          this.newGaps.push({ start: fileStart, end: coverEnd, cause });
        }
        this.committedEnd = coverEnd;
        this.committedEpoch = epoch;
        this.closing.shift();
        return;
      }
      const s = await seg.finish();
      this.newFiles.push({
        key: s.key,
        size: s.size,
        [s.checksum.kind]: s.checksum.value,
        run_id: this.o.runId,
        first_offset: fileStart,
        last_offset: coverEnd - 1,
        records: s.records,
        batches: s.batches,
        blocks: s.blocks,
        raw_bytes: s.raw_bytes,
        max_batch_bytes: maxBatch,
        min_timestamp: s.min_timestamp,
        max_timestamp: s.max_timestamp,
        skipped,
        created_at: new Date().toISOString(),
      });
      this.committedEnd = coverEnd;
      this.committedEpoch = epoch;
      this.closing.shift();
    });
  }

  /** Waits for every queued write and commit; rethrows the first failure. */
  async drain(): Promise<void> {
    await this.chain;
    if (this.failure) throw this.failure;
  }

  /** Takes the files and gaps committed since the last call (for a manifest generation). */
  takeCommitted(): { files: FileEntry[]; gaps: Gap[]; nextOffset: number; leaderEpoch: number } {
    const files = this.newFiles.splice(0);
    const gaps = this.newGaps.splice(0);
    return { files, gaps, nextOffset: this.committedEnd, leaderEpoch: this.committedEpoch };
  }

  /** Discards the open file (used on abort); committed files stay listed or unlisted as they are. */
  async abort(): Promise<void> {
    this.block = null;
    this.buf = null;
    await this.chain.catch(() => undefined);
    if (this.segment) await this.segment.abort().catch(() => undefined);
    this.segment = null;
  }
}

const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
