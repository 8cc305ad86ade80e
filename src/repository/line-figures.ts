/**
 * The figures `list`, `status` and the retention metrics show (per snapshot and topic: files,
 * records, bytes; per topic: the oldest restorable record, offsets dropped by retention; bytes
 * the state released for prune), read without file lists: from the summaries of the topic
 * indexes (docs/format.md, "Summary figures") and the bounded tail of commits, so the cost does
 * not grow with the line's age. A line whose indexes predate the summaries, a version 1 line, or
 * a tail with maintenance members not yet consolidated, is read whole and the figures computed
 * from its files (the same numbers, at the old cost).
 */
import {
  addToTotals,
  type Commit,
  chunkKey,
  decodeV2,
  emptyTotals,
  type FileTotals,
  type TopicIndex,
} from '../format/line-v2.ts';
import type { FileEntry, Manifest, Snapshot } from '../format/manifest.ts';
import { filesBefore, topicOf } from '../inspect/summary.ts';
import { appended, emptySummary, summaryOf, totalsBelow, totalsOfFiles } from './figures.ts';
import type { BackupLine, OpenedLine } from './line.ts';

export interface TopicFigures {
  topic: string;
  /** Epoch ms of the oldest restorable record, -1 when none. */
  oldest_restorable_ms: number;
  dropped_offsets: number;
}

export interface LineFigures {
  opened: OpenedLine;
  /** Per snapshot id, per topic: sums over the files the snapshot includes. */
  snapshotTotals: Map<string, Map<string, FileTotals>>;
  /** Current topics, by name. */
  topics: TopicFigures[];
  /** Data files the state stopped listing, as far as the summaries count them (null: not known). */
  released: { files: number; bytes: number } | null;
  /** How the figures were made: from the indexes' summaries, or from every file list. */
  source: 'summaries' | 'files';
}

const tailFiles = (tail: Commit[], topic: string, p: string): FileEntry[] =>
  tail.flatMap((c) => c.partitions?.[topic]?.[p]?.files ?? []);

/**
 * Files the state released, summed over the summaries of the checkpoint's indexes; null when an
 * index predates summaries or the tail holds maintenance not consolidated yet.
 */
export function releasedOf(read: NonNullable<OpenedLine['read']>): { files: number; bytes: number } | null {
  if (!read.checkpoint || read.tail.some((c) => c.drop || c.replace)) return null;
  const out = { files: 0, bytes: 0 };
  const keys = [
    ...Object.values(read.checkpoint.topics).map((t) => t.index),
    ...read.checkpoint.retired_topics.map((r) => r.index),
  ];
  for (const key of keys)
    for (const pi of Object.values(read.indexes.get(key)?.partitions ?? {})) {
      if (!pi.summary) return null;
      out.files += pi.summary.released_files;
      out.bytes += pi.summary.released_bytes;
    }
  return out;
}

/** Figures from the summaries, or null when some index lacks them or the tail holds maintenance. */
async function fromSummaries(line: BackupLine): Promise<LineFigures | null> {
  const opened = await line.open({ files: false });
  const read = opened?.read;
  const checkpoint = read?.checkpoint;
  if (!opened || !read || !checkpoint) return null;
  const { view } = opened;
  const { tail } = read;
  if (tail.some((c) => c.drop || c.replace || c.retire || c.forget)) return null;
  const indexes = new Map<string, TopicIndex>(); // by topic id
  const refs = [
    ...Object.values(checkpoint.topics).map((t) => t.index),
    ...checkpoint.retired_topics.map((r) => r.index),
  ];
  for (const key of refs) {
    const ix = read.indexes.get(key);
    if (!ix?.snapshot_totals || Object.values(ix.partitions).some((p) => !p.summary)) return null;
    indexes.set(ix.topic_id, ix);
  }
  const changed = new Map<string, Set<string>>(); // snapshot id -> topics whose ends the tail moved
  for (const c of tail)
    for (const s of c.snapshots ?? [])
      for (const topic of Object.keys(s.end_offsets))
        (changed.get(s.id) ?? changed.set(s.id, new Set()).get(s.id)!).add(topic);

  const snapshotTotals = new Map<string, Map<string, FileTotals>>();
  for (const s of view.snapshots) {
    const perTopic = new Map<string, FileTotals>();
    for (const [topic, ends] of Object.entries(s.end_offsets)) {
      const ix = indexes.get(topicOf(view, topic, s)?.topic_id ?? '');
      if (!ix) continue;
      const base = ix.snapshot_totals![s.id];
      const reuse = base !== undefined && !changed.get(s.id)?.has(topic);
      const sum = reuse ? { ...base } : emptyTotals();
      for (const [p, end] of Object.entries(ends)) {
        const pi = ix.partitions[p];
        addToTotals(sum, totalsOfFiles(tailFiles(tail, topic, p), end));
        if (reuse || !pi) continue;
        addToTotals(
          sum,
          await totalsBelow(pi.chunks, end, async (ref) => {
            const key = chunkKey(line.backupId, topic, ix.topic_id, Number(p), ref);
            return decodeV2('chunk', key, await line.storage.get(key), line.backupId).files;
          }),
        );
      }
      perTopic.set(topic, sum);
    }
    snapshotTotals.set(s.id, perTopic);
  }

  const topics: TopicFigures[] = [];
  const released = releasedOf(read);
  for (const [name, t] of Object.entries(view.topics).sort(([a], [b]) => a.localeCompare(b))) {
    const ix = indexes.get(t.topic_id);
    let oldest = Number.POSITIVE_INFINITY;
    let dropped = 0;
    for (const p of Object.keys(t.partitions)) {
      const s = appended(ix?.partitions[p]?.summary ?? emptySummary(), tailFiles(tail, name, p));
      if (s.oldest_timestamp >= 0) oldest = Math.min(oldest, s.oldest_timestamp);
      dropped += s.dropped_offsets;
    }
    topics.push({ topic: name, oldest_restorable_ms: Number.isFinite(oldest) ? oldest : -1, dropped_offsets: dropped });
  }
  return { opened, snapshotTotals, topics, released, source: 'summaries' };
}

/** The same figures from a view with every file list (the fallback). */
export function figuresFromFiles(opened: OpenedLine): LineFigures {
  const m = opened.view;
  const snapshotTotals = new Map<string, Map<string, FileTotals>>();
  for (const s of m.snapshots) snapshotTotals.set(s.id, totalsOfSnapshot(m, s));
  const topics = Object.entries(m.topics)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([topic, t]) => {
      let oldest = Number.POSITIVE_INFINITY;
      let dropped = 0;
      for (const ps of Object.values(t.partitions)) {
        const s = summaryOf(ps.files, ps.gaps, emptySummary());
        if (s.oldest_timestamp >= 0) oldest = Math.min(oldest, s.oldest_timestamp);
        dropped += s.dropped_offsets;
      }
      return { topic, oldest_restorable_ms: Number.isFinite(oldest) ? oldest : -1, dropped_offsets: dropped };
    });
  return { opened, snapshotTotals, topics, released: null, source: 'files' };
}

function totalsOfSnapshot(m: Manifest, s: Snapshot): Map<string, FileTotals> {
  const out = new Map<string, FileTotals>();
  for (const [topic, ends] of Object.entries(s.end_offsets)) {
    const ts = topicOf(m, topic, s);
    if (!ts) continue;
    const t = emptyTotals();
    for (const [p, end] of Object.entries(ends)) {
      const ps = ts.partitions[p];
      if (ps) for (const f of filesBefore(ps, end)) addToTotals(t, f);
    }
    out.set(topic, t);
  }
  return out;
}

/** The line's figures, from the summaries when it has them; null when there is no line. */
export async function readLineFigures(line: BackupLine): Promise<LineFigures | null> {
  const format = await line.format();
  if (format?.version === 2) {
    const fast = await fromSummaries(line);
    if (fast) return fast;
  }
  const opened = await line.open();
  return opened ? figuresFromFiles(opened) : null;
}
