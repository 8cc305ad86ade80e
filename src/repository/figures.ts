/**
 * Retention and snapshot figures from chunk references and file lists, without I/O: what the
 * topic index keeps (PartitionSummary, snapshot_totals) so that list, status and metrics read a
 * bounded number of small objects whatever the line's age (docs/format.md, "Summary figures").
 */
import { addToTotals, type ChunkRef, emptyTotals, type FileTotals, type PartitionSummary } from '../format/line-v2.ts';
import type { FileEntry, Gap } from '../format/manifest.ts';

export const emptySummary = (): PartitionSummary => ({
  oldest_offset: -1,
  oldest_timestamp: -1,
  dropped_offsets: 0,
  released_files: 0,
  released_bytes: 0,
});

/** The summary of a partition whose whole file and gap lists are at hand (released counts are carried over). */
export function summaryOf(
  files: FileEntry[],
  gaps: Gap[],
  released: Pick<PartitionSummary, 'released_files' | 'released_bytes'>,
): PartitionSummary {
  const first = [...files].sort((a, b) => a.first_offset - b.first_offset).find((f) => f.records > 0);
  return {
    oldest_offset: first?.first_offset ?? -1,
    oldest_timestamp: first && first.min_timestamp >= 0 ? first.min_timestamp : -1,
    dropped_offsets: gaps.filter((g) => g.cause === 'retention-policy').reduce((n, g) => n + g.end - g.start, 0),
    released_files: released.released_files,
    released_bytes: released.released_bytes,
  };
}

/** A summary after files were appended above everything it covers. */
export function appended(s: PartitionSummary, files: FileEntry[]): PartitionSummary {
  if (s.oldest_offset >= 0) return s;
  const first = [...files].sort((a, b) => a.first_offset - b.first_offset).find((f) => f.records > 0);
  if (!first) return s;
  return {
    ...s,
    oldest_offset: first.first_offset,
    oldest_timestamp: first.min_timestamp >= 0 ? first.min_timestamp : -1,
  };
}

/** Files of `before` that `after` no longer lists, and their bytes. */
export function releasedBetween(before: FileEntry[], after: FileEntry[]): { files: number; bytes: number } {
  const kept = new Set(after.map((f) => f.key));
  let files = 0;
  let bytes = 0;
  for (const f of before)
    if (!kept.has(f.key)) {
      files++;
      bytes += f.size;
    }
  return { files, bytes };
}

export function totalsOfFiles(files: FileEntry[], below = Number.POSITIVE_INFINITY): FileTotals {
  const t = emptyTotals();
  for (const f of files) if (f.first_offset < below) addToTotals(t, f);
  return t;
}

export function addTotals(into: FileTotals, t: FileTotals): FileTotals {
  addToTotals(into, t);
  return into;
}

/**
 * Sums over the files of a partition below `end` from its chunk references: whole chunks from
 * their totals, and the one chunk that straddles `end` (if any) from its files, read by
 * `loadFiles`. A snapshot's end is normally a file boundary at the end of a chunk (continuous
 * mode follows what is listed), so that read is rare.
 */
export async function totalsBelow(
  refs: ChunkRef[],
  end: number,
  loadFiles: (ref: ChunkRef) => Promise<FileEntry[]>,
): Promise<FileTotals> {
  const t = emptyTotals();
  for (const ref of refs) {
    if (ref.to <= end) addToTotals(t, ref);
    else if (ref.from < end && ref.files > 0) addToTotals(t, totalsOfFiles(await loadFiles(ref), end));
  }
  return t;
}
