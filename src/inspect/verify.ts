/**
 * Deep verification of one data file: every checksum of the container (readSegment), the
 * SHA-256 and size the manifest recorded, and the content against the block headers and the
 * manifest entry: Kafka batches parse, each batch's own CRC-32C holds, the records inside each
 * block's logical range add up to its record count, block ranges are increasing and inside the
 * file's [first_offset, last_offset], and the totals match the manifest. Streams the file: at
 * most one decompressed block is held at a time.
 */
import { batchCrcOk, batchRange, splitBatches } from '../format/batch.ts';
import type { FileEntry } from '../format/manifest.ts';
import { type ReadBlock, readSegment, SegmentCorruptError, type SegmentHeader } from '../format/segment.ts';

export interface FileContext {
  backup_id: string;
  topic: string;
  topic_id: string;
  partition: number;
}

export interface BlockCheck {
  records: number;
  batches: number;
  /** Size of the largest batch. */
  maxBatchBytes: number;
  minTimestamp: number;
  maxTimestamp: number;
  problems: string[];
}

/** Checks the Kafka batches of one decompressed block against its header. */
export function checkBlock(b: ReadBlock): BlockCheck {
  const problems: string[] = [];
  const where = `block ${b.index} [${b.firstOffset}..${b.lastOffset}]`;
  let records = 0;
  let minTs = Number.POSITIVE_INFINITY;
  let maxTs = -1;
  let batches: ReturnType<typeof splitBatches>;
  try {
    batches = splitBatches(b.raw);
  } catch (e) {
    return {
      records: 0,
      batches: 0,
      maxBatchBytes: 0,
      minTimestamp: -1,
      maxTimestamp: -1,
      problems: [`${where}: ${(e as Error).message}`],
    };
  }
  const used = batches.reduce((n, h) => n + h.size, 0);
  if (used !== b.raw.length) problems.push(`${where}: ${b.raw.length - used} bytes after the last complete batch`);
  if (batches.length !== b.batchCount)
    problems.push(`${where}: holds ${batches.length} batches, its header says ${b.batchCount}`);
  for (const h of batches) {
    if (!batchCrcOk(b.raw, h)) {
      problems.push(`${where}: Kafka batch at offset ${h.baseOffset} fails its CRC-32C`);
      continue;
    }
    try {
      const r = batchRange(b.raw, h, b.firstOffset, b.lastOffset);
      records += r.records;
      if (r.records > 0) {
        minTs = Math.min(minTs, r.minTs);
        maxTs = Math.max(maxTs, r.maxTs);
      }
    } catch (e) {
      problems.push(`${where}: Kafka batch at offset ${h.baseOffset} cannot be read (${(e as Error).message})`);
    }
  }
  if (records !== b.recordCount)
    problems.push(`${where}: holds ${records} records in its range, its header says ${b.recordCount}`);
  const minTimestamp = Number.isFinite(minTs) ? minTs : -1;
  if (records > 0 && (minTimestamp !== b.minTimestamp || maxTs !== b.maxTimestamp))
    problems.push(
      `${where}: record timestamps span ${minTimestamp}..${maxTs}, its header says ${b.minTimestamp}..${b.maxTimestamp}`,
    );
  const maxBatchBytes = batches.reduce((m, h) => Math.max(m, h.size), 0);
  return { records, batches: batches.length, maxBatchBytes, minTimestamp, maxTimestamp: maxTs, problems };
}

function checkHeader(h: SegmentHeader, ctx: FileContext): string[] {
  const out: string[] = [];
  if (h.backup_id !== ctx.backup_id) out.push(`header names backup ${h.backup_id}, expected ${ctx.backup_id}`);
  if (h.topic !== ctx.topic || h.partition !== ctx.partition)
    out.push(`header names ${h.topic}-${h.partition}, expected ${ctx.topic}-${ctx.partition}`);
  if (h.topic_id !== ctx.topic_id) out.push(`header names topic id ${h.topic_id}, expected ${ctx.topic_id}`);
  return out;
}

/**
 * Reads one data file from `source` and returns its problems (empty when it is sound). Never
 * throws for damage in the file; errors of the source itself (storage) propagate.
 */
export async function verifyFile(
  entry: FileEntry,
  ctx: FileContext,
  source: AsyncIterable<Buffer | Uint8Array>,
): Promise<string[]> {
  const problems: string[] = [];
  let records = 0;
  let batches = 0;
  let blocks = 0;
  let rawBytes = 0;
  let minTs = Number.POSITIVE_INFINITY;
  let maxTs = -1;
  let maxBatch = 0;
  let prevLast = entry.first_offset - 1;
  try {
    if (!entry.crc32c && !entry.sha256)
      problems.push('the manifest records no checksum (crc32c or sha256) for the file');
    const it = readSegment(entry.key, source, {
      expected: entry,
      onHeader: (h) => problems.push(...checkHeader(h, ctx)),
    });
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      const b = r.value;
      blocks++;
      rawBytes += b.raw.length;
      const where = `block ${b.index} [${b.firstOffset}..${b.lastOffset}]`;
      if (b.firstOffset > b.lastOffset) problems.push(`${where}: first offset after last offset`);
      if (b.firstOffset <= prevLast) problems.push(`${where}: overlaps the previous block (which ends at ${prevLast})`);
      if (b.firstOffset < entry.first_offset || b.lastOffset > entry.last_offset)
        problems.push(`${where}: outside the file's range [${entry.first_offset}..${entry.last_offset}]`);
      prevLast = Math.max(prevLast, b.lastOffset);
      const c = checkBlock(b);
      problems.push(...c.problems);
      maxBatch = Math.max(maxBatch, c.maxBatchBytes);
      records += b.recordCount;
      batches += b.batchCount;
      if (b.recordCount > 0) {
        minTs = Math.min(minTs, b.minTimestamp);
        maxTs = Math.max(maxTs, b.maxTimestamp);
      }
    }
  } catch (e) {
    if (e instanceof SegmentCorruptError) {
      problems.push(e.detail);
      return problems;
    }
    throw e;
  }
  const mismatch = (what: string, found: number, listed: number) => {
    if (found !== listed) problems.push(`${what}: the file holds ${found}, the manifest lists ${listed}`);
  };
  mismatch('records', records, entry.records);
  mismatch('batches', batches, entry.batches);
  mismatch('blocks', blocks, entry.blocks);
  mismatch('raw bytes', rawBytes, entry.raw_bytes);
  // recorded by newer writers only
  const listedMaxBatch = (entry as { max_batch_bytes?: number }).max_batch_bytes;
  if (listedMaxBatch !== undefined) mismatch('largest batch bytes', maxBatch, listedMaxBatch);
  if (records > 0) {
    mismatch('min timestamp', minTs, entry.min_timestamp);
    mismatch('max timestamp', maxTs, entry.max_timestamp);
  }
  const span = entry.last_offset - entry.first_offset + 1;
  const skipped = Object.values(entry.skipped).reduce((n: number, v) => n + (v ?? 0), 0);
  if (records + skipped !== span)
    problems.push(
      `offsets ${entry.first_offset}..${entry.last_offset} (${span}) are not ${records} records + ${skipped} skipped`,
    );
  return problems;
}
