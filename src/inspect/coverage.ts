/**
 * The coverage invariant of a partition (docs/format.md "Coverage"): its files, as
 * [first_offset, last_offset + 1), and its gaps, as [start, end), sorted by start, tile
 * [start_offset, next_offset) exactly: no hole, no overlap.
 */
import type { PartitionState } from '../format/manifest.ts';

export function checkCoverage(ps: PartitionState): string[] {
  const problems: string[] = [];
  if (ps.next_offset < ps.start_offset)
    problems.push(`next_offset ${ps.next_offset} is below start_offset ${ps.start_offset}`);
  const items = [
    ...ps.files.map((f) => ({ start: f.first_offset, end: f.last_offset + 1, what: `file ${f.key}` })),
    ...ps.gaps.map((g) => ({ start: g.start, end: g.end, what: `gap ${g.start}..${g.end - 1} (${g.cause})` })),
  ].sort((a, b) => a.start - b.start || a.end - b.end);
  let cursor = ps.start_offset;
  for (const it of items) {
    if (it.end <= it.start) {
      problems.push(`${it.what} covers no offset (start ${it.start}, end ${it.end})`);
      continue;
    }
    if (it.start > cursor) problems.push(`offsets ${cursor}..${it.start - 1} are in no file and no gap`);
    else if (it.start < cursor) problems.push(`${it.what} overlaps offsets below ${cursor} already covered`);
    cursor = Math.max(cursor, it.end);
  }
  if (cursor < ps.next_offset) problems.push(`offsets ${cursor}..${ps.next_offset - 1} are in no file and no gap`);
  else if (cursor > ps.next_offset)
    problems.push(`files or gaps reach ${cursor}, beyond next_offset ${ps.next_offset}`);
  return problems;
}
