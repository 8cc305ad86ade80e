/**
 * Timestamps of backed-up records, for the timestamp strategy: the timestamp of the first
 * stored record at or after a committed source offset (the record the group would read next).
 * Reads the data files of the backup (verifying them as it goes) and keeps the offsets and
 * timestamps of a few recently read files.
 */
import { IntegrityError } from '../errors.ts';
import { isControl, splitBatches } from '../format/batch.ts';
import type { FileEntry, Manifest, Snapshot } from '../format/manifest.ts';
import { decodeRecords } from '../format/records.ts';
import { readSegment } from '../format/segment.ts';
import { topicOf } from '../inspect/summary.ts';
import type { StorageBackend } from '../storage/backend.ts';

interface FileRecords {
  offsets: Float64Array;
  timestamps: Float64Array;
}

export class SourceTimestamps {
  private readonly storage: StorageBackend;
  private readonly manifest: Manifest;
  private readonly snapshot: Snapshot | undefined;
  private readonly cache = new Map<string, Promise<FileRecords>>();
  private readonly maxFiles: number;

  /** With `snapshot`, a topic is the incarnation that snapshot holds (a topic re-created since is another history). */
  constructor(storage: StorageBackend, manifest: Manifest, maxFiles = 16, snapshot?: Snapshot) {
    this.storage = storage;
    this.manifest = manifest;
    this.snapshot = snapshot;
    this.maxFiles = maxFiles;
  }

  /** Timestamp of the first stored record with offset >= `offset`, or null when there is none. */
  async firstAtOrAfter(topic: string, partition: number, offset: number): Promise<number | null> {
    const ts = this.snapshot ? topicOf(this.manifest, topic, this.snapshot) : this.manifest.topics[topic];
    const ps = ts?.partitions?.[String(partition)];
    if (!ps) return null;
    for (const f of ps.files) {
      if (f.last_offset < offset || f.records === 0) continue;
      const recs = await this.load(f);
      const i = lowerBound(recs.offsets, offset);
      if (i < recs.offsets.length) return recs.timestamps[i]!;
    }
    return null;
  }

  private load(f: FileEntry): Promise<FileRecords> {
    let p = this.cache.get(f.key);
    if (!p) {
      p = this.read(f);
      this.cache.set(f.key, p);
      if (this.cache.size > this.maxFiles) this.cache.delete(this.cache.keys().next().value!);
    }
    return p;
  }

  private async read(f: FileEntry): Promise<FileRecords> {
    const offsets: number[] = [];
    const timestamps: number[] = [];
    try {
      const stream = await this.storage.load(f.key);
      for await (const block of readSegment(f.key, stream, { expected: f })) {
        for (const h of splitBatches(block.raw)) {
          if (isControl(h)) continue;
          for (const r of decodeRecords(block.raw, h)) {
            if (r.offset < block.firstOffset || r.offset > block.lastOffset) continue;
            if (offsets.length && r.offset <= offsets[offsets.length - 1]!) continue;
            offsets.push(r.offset);
            timestamps.push(r.timestamp);
          }
        }
      }
    } catch (e) {
      if (e instanceof Error && e.name === 'SegmentCorruptError')
        throw new IntegrityError(`cannot read record timestamps: ${e.message}`, [f.key], {
          hint: `run 'kafka-backup validate --deep', or use another strategy (exact, header)`,
        });
      throw e;
    }
    return { offsets: Float64Array.from(offsets), timestamps: Float64Array.from(timestamps) };
  }
}

function lowerBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
