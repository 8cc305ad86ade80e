/**
 * What `list` and `describe` show, computed from a manifest alone (no data file is read).
 *
 * A snapshot is a point in time of the whole line: for each partition it reaches
 * `end_offsets[topic][partition]` (exclusive), and holds every listed file whose first offset
 * is below that end. A file that straddles the end (first_offset < end <= last_offset) is
 * counted whole, and the partition says so (`records_exact: false`); the engine cuts files at
 * snapshot ends, so this only happens for lines written by other tools or future modes.
 */
import type { FileEntry, Gap, GapCause, Manifest, PartitionState, Snapshot, TopicState } from '../format/manifest.ts';
import type { Lease } from '../repository/line.ts';

export type DisplayState = Snapshot['state'] | 'in-progress (stale)';

/**
 * The state to show: an in-progress snapshot is only live while a writer holds an unexpired
 * lease for its run; otherwise its writer died or stalled and the next run resumes or fails it.
 */
export function displayState(s: Snapshot, lease: Lease | null, now: number = Date.now()): DisplayState {
  if (s.state !== 'in-progress') return s.state;
  const live = lease !== null && lease.run_id === s.run_id && Date.parse(lease.expires_at) > now;
  return live ? 'in-progress' : 'in-progress (stale)';
}

export interface Totals {
  records: number;
  raw_bytes: number;
  stored_bytes: number;
  files: number;
}

function addFile(t: Totals, f: FileEntry): void {
  t.records += f.records;
  t.raw_bytes += f.raw_bytes;
  t.stored_bytes += f.size;
  t.files++;
}

const zero = (): Totals => ({ records: 0, raw_bytes: 0, stored_bytes: 0, files: 0 });

/** The files of a partition that belong to a snapshot ending at `end` (exclusive). */
export function filesBefore(ps: PartitionState, end: number): FileEntry[] {
  return ps.files.filter((f) => f.first_offset < end).sort((a, b) => a.first_offset - b.first_offset);
}

/**
 * The topic (incarnation) snapshot `s` refers to under that name. A snapshot records the topic id
 * of each topic (`topic_ids`): the current topic or the retired one with that id. A snapshot
 * written before topic ids were recorded goes by time: a topic re-created (or deleted) after the
 * snapshot started was retired with its state, and that retired state is the one the snapshot's
 * end offsets refer to; otherwise the current topic. Undefined when the line no longer holds it.
 */
export function topicOf(m: Manifest, topic: string, s: Snapshot): TopicState | undefined {
  const id = s.topic_ids?.[topic];
  if (id !== undefined) {
    const current = m.topics[topic];
    if (current?.topic_id === id) return current;
    return (m.retired_topics ?? []).find((r) => r.name === topic && r.topic_id === id && r.state)?.state;
  }
  const started = Date.parse(s.started_at);
  const retired = (m.retired_topics ?? [])
    .filter((r) => r.name === topic && r.state && Date.parse(r.retired_at) > started)
    .sort((a, b) => Date.parse(a.retired_at) - Date.parse(b.retired_at))[0];
  return retired?.state ?? m.topics[topic];
}

/** Sums over every file a snapshot includes. */
export function snapshotTotals(m: Manifest, s: Snapshot): Totals {
  const t = zero();
  for (const [topic, ends] of Object.entries(s.end_offsets)) {
    const ts = topicOf(m, topic, s);
    if (!ts) continue;
    for (const [p, end] of Object.entries(ends)) {
      const ps = ts.partitions[p];
      if (ps) for (const f of filesBefore(ps, end)) addFile(t, f);
    }
  }
  return t;
}

export interface SnapshotRow extends Totals {
  id: string;
  created: string;
  finished: string | null;
  mode: Snapshot['mode'];
  state: DisplayState;
  topics: number;
  partitions: number;
  consumer_offsets: string | null;
  error?: string;
}

export interface LineSummary {
  backup_id: string;
  generation: number;
  updated_at: string;
  source_cluster: string;
  lease: Lease | null;
  snapshots: SnapshotRow[];
  /** Set when the newest generation is unreadable and an older one was shown instead. */
  manifest_error?: string;
}

/**
 * `totals` gives a snapshot's sums when they are known without file lists (the index summaries,
 * src/repository/line-figures.ts); by default they are summed over the manifest's files.
 */
export function summarizeLine(
  m: Manifest,
  lease: Lease | null,
  now: number = Date.now(),
  totals: (s: Snapshot) => Totals = (s) => snapshotTotals(m, s),
): LineSummary {
  return {
    backup_id: m.backup_id,
    generation: m.generation,
    updated_at: m.created_at,
    source_cluster: m.source.cluster_id,
    lease,
    snapshots: m.snapshots.map((s) => ({
      id: s.id,
      created: s.started_at,
      finished: s.finished_at ?? null,
      mode: s.mode,
      state: displayState(s, lease, now),
      topics: Object.keys(s.end_offsets).length,
      partitions: Object.values(s.end_offsets).reduce((n, e) => n + Object.keys(e).length, 0),
      consumer_offsets: s.consumer_offsets ?? null,
      ...totals(s),
      ...(s.error ? { error: s.error } : {}),
    })),
  };
}

export interface PartitionDescription extends Totals {
  partition: number;
  /** Where this line's coverage of the partition begins. */
  start_offset: number;
  /** The snapshot's end offset (exclusive). */
  end_offset: number;
  /** End of what is stored (exclusive): below end_offset while a snapshot is not complete. */
  covered_to: number;
  min_timestamp: number | null;
  max_timestamp: number | null;
  /** Gaps between files inside [start_offset, end_offset), clipped to it. */
  gaps: Gap[];
  /** Offsets inside the included files without a stored record, by cause. */
  skipped: Partial<Record<GapCause, number>>;
  /** False when a file straddles end_offset and was counted whole. */
  records_exact: boolean;
  straddling_files: string[];
}

export interface TopicDescription extends Totals {
  name: string;
  topic_id: string;
  partition_count: number;
  replication_factor: number;
  configs: Record<string, string>;
  timestamp_type: TopicState['timestamp_type'];
  /** The oldest record of the topic a restore of this snapshot brings back (after retention). */
  oldest_restorable: string | null;
  partitions: PartitionDescription[];
}

export interface SnapshotDescription {
  backup_id: string;
  generation: number;
  source_cluster: string;
  snapshot: {
    id: string;
    state: DisplayState;
    mode: Snapshot['mode'];
    started_at: string;
    finished_at: string | null;
    consumer_offsets: string | null;
    error?: string;
  };
  totals: Totals;
  topics: TopicDescription[];
}

export function describePartition(partition: number, ps: PartitionState, end: number): PartitionDescription {
  const files = filesBefore(ps, end);
  const t = zero();
  let minTs = Number.POSITIVE_INFINITY;
  let maxTs = -1;
  const skipped: Partial<Record<GapCause, number>> = {};
  const straddling: string[] = [];
  for (const f of files) {
    addFile(t, f);
    if (f.records > 0 && f.min_timestamp >= 0) minTs = Math.min(minTs, f.min_timestamp);
    if (f.records > 0) maxTs = Math.max(maxTs, f.max_timestamp);
    for (const [cause, n] of Object.entries(f.skipped) as [GapCause, number][])
      skipped[cause] = (skipped[cause] ?? 0) + n;
    if (f.last_offset >= end) straddling.push(f.key);
  }
  const gaps = ps.gaps
    .filter((g) => g.start < end)
    .map((g) => ({ ...g, end: Math.min(g.end, end) }))
    .sort((a, b) => a.start - b.start);
  return {
    partition,
    start_offset: ps.start_offset,
    end_offset: end,
    covered_to: Math.min(end, ps.next_offset),
    min_timestamp: Number.isFinite(minTs) ? minTs : null,
    max_timestamp: maxTs >= 0 ? maxTs : null,
    ...t,
    gaps,
    skipped,
    records_exact: straddling.length === 0,
    straddling_files: straddling,
  };
}

export function describeSnapshot(
  m: Manifest,
  s: Snapshot,
  lease: Lease | null,
  now: number = Date.now(),
): SnapshotDescription {
  const totals = zero();
  const topics: TopicDescription[] = [];
  for (const [name, ends] of Object.entries(s.end_offsets).sort(([a], [b]) => a.localeCompare(b))) {
    const ts = topicOf(m, name, s);
    if (!ts) continue;
    const tt = zero();
    const partitions: PartitionDescription[] = [];
    for (const [p, end] of Object.entries(ends).sort(([a], [b]) => Number(a) - Number(b))) {
      const ps = ts.partitions[p];
      if (!ps) continue;
      const d = describePartition(Number(p), ps, end);
      partitions.push(d);
      tt.records += d.records;
      tt.raw_bytes += d.raw_bytes;
      tt.stored_bytes += d.stored_bytes;
      tt.files += d.files;
    }
    totals.records += tt.records;
    totals.raw_bytes += tt.raw_bytes;
    totals.stored_bytes += tt.stored_bytes;
    totals.files += tt.files;
    topics.push({
      name,
      topic_id: ts.topic_id,
      partition_count: ts.partition_count,
      replication_factor: ts.replication_factor,
      configs: ts.configs,
      timestamp_type: ts.timestamp_type,
      ...tt,
      oldest_restorable: (() => {
        const ms = partitions.map((p) => p.min_timestamp).filter((x): x is number => x !== null);
        return ms.length ? new Date(Math.min(...ms)).toISOString() : null;
      })(),
      partitions,
    });
  }
  return {
    backup_id: m.backup_id,
    generation: m.generation,
    source_cluster: m.source.cluster_id,
    snapshot: {
      id: s.id,
      state: displayState(s, lease, now),
      mode: s.mode,
      started_at: s.started_at,
      finished_at: s.finished_at ?? null,
      consumer_offsets: s.consumer_offsets ?? null,
      ...(s.error ? { error: s.error } : {}),
    },
    totals,
    topics,
  };
}

/**
 * The snapshot `id`, or the newest complete one when `id` is undefined. Returns an error
 * message and a hint listing the snapshots that exist when there is no match.
 */
export function pickSnapshot(
  m: Manifest,
  id: string | undefined,
): { snapshot: Snapshot } | { snapshot: null; message: string; hint: string } {
  const known = m.snapshots.map((s) => `${s.id} (${s.state})`);
  const hint = known.length ? `snapshots of ${m.backup_id}: ${known.join(', ')}` : `${m.backup_id} has no snapshot yet`;
  if (id === undefined) {
    const s = [...m.snapshots].reverse().find((x) => x.state === 'complete');
    return s
      ? { snapshot: s }
      : {
          snapshot: null,
          message: `backup ${m.backup_id} has no complete snapshot`,
          hint: `choose one with --snapshot; ${hint}`,
        };
  }
  const s = m.snapshots.find((x) => x.id === id);
  return s ? { snapshot: s } : { snapshot: null, message: `backup ${m.backup_id} has no snapshot '${id}'`, hint };
}

/** Human-readable byte counts for text output. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function formatTime(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString();
}

/** Per topic: the oldest record a restore can bring back, and the offsets dropped by this line's retention. */
export interface TopicRetention {
  topic: string;
  /** min_timestamp of the first file with records after any drop, over the partitions; null when none. */
  oldest_restorable: string | null;
  /** Offsets in retention-policy gaps (dropped by forget --max-age or backup.retention). */
  dropped_offsets: number;
}

/** The same from the figures of src/repository/line-figures.ts (no file lists needed). */
export function retentionOfFigures(f: {
  topics: { topic: string; oldest_restorable_ms: number; dropped_offsets: number }[];
}): TopicRetention[] {
  return f.topics.map((t) => ({
    topic: t.topic,
    oldest_restorable: t.oldest_restorable_ms >= 0 ? new Date(t.oldest_restorable_ms).toISOString() : null,
    dropped_offsets: t.dropped_offsets,
  }));
}

export function retentionOf(m: Manifest): TopicRetention[] {
  return Object.entries(m.topics)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([topic, t]) => {
      let oldest = Number.POSITIVE_INFINITY;
      let dropped = 0;
      for (const ps of Object.values(t.partitions)) {
        const first = [...ps.files].sort((a, b) => a.first_offset - b.first_offset).find((f) => f.records > 0);
        if (first && first.min_timestamp >= 0) oldest = Math.min(oldest, first.min_timestamp);
        for (const g of ps.gaps) if (g.cause === 'retention-policy') dropped += g.end - g.start;
      }
      return {
        topic,
        oldest_restorable: Number.isFinite(oldest) ? new Date(oldest).toISOString() : null,
        dropped_offsets: dropped,
      };
    });
}
