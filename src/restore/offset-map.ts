/**
 * The offset mapping artifact: for every target partition, where each restored record came
 * from, as runs of consecutive records (source offsets consecutive and target offsets
 * consecutive). The offset manager translates consumer-group offsets with it.
 */
import { createHash } from 'node:crypto';

/** [source partition, first source offset, first target offset, record count] */
export type MappingRun = [number, number, number, number];

export interface OffsetMapping {
  format: 'kafka-backup/offset-map';
  version: 1;
  restore_id: string;
  backup_id: string;
  snapshot_id: string;
  created_at: string;
  /** target topic -> source topic, and per target partition its runs, in target offset order. */
  topics: Record<string, { source_topic: string; partitions: Record<string, MappingRun[]> }>;
  /** Digest of the state the restore read (BackupLine.open), so a mapping is never applied to another backup. */
  manifest_sha256: string;
  /** Number of that state (v2 commit or checkpoint; absent in maps of version 1 lines). */
  manifest_seq?: number;
}

export class MappingBuilder {
  readonly runs: MappingRun[] = [];

  add(sourcePartition: number, sourceOffset: number, targetOffset: number, count = 1): void {
    const last = this.runs[this.runs.length - 1];
    if (
      last &&
      last[0] === sourcePartition &&
      last[1] + last[3] === sourceOffset &&
      last[2] + last[3] === targetOffset
    ) {
      last[3] += count;
      return;
    }
    this.runs.push([sourcePartition, sourceOffset, targetOffset, count]);
  }

  get records(): number {
    return this.runs.reduce((s, r) => s + r[3], 0);
  }
}

export function digestOf(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Exact translation (pure): the target offset for a committed source offset O on a source
 * partition is the target offset of the first restored record whose source offset is >= O; when
 * none, the last restored target offset + 1; when O is before every restored record, the first.
 */
export function translateOffset(runs: MappingRun[], sourcePartition: number, committed: number): number | null {
  const mine = runs.filter((r) => r[0] === sourcePartition);
  if (mine.length === 0) return null;
  let best: number | null = null;
  for (const [, s, t, n] of mine) {
    const lastSrc = s + n - 1;
    if (committed <= s) {
      if (best === null || t < best) best = t;
    } else if (committed <= lastSrc) {
      const cand = t + (committed - s);
      if (best === null || cand < best) best = cand;
    }
  }
  if (best !== null) return best;
  const tail = mine.reduce((m, [, , t, n]) => Math.max(m, t + n), 0);
  return tail;
}
