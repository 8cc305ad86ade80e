/**
 * Consolidation: folds the commits after a checkpoint into a new checkpoint.
 *
 * Like Iceberg's manifest lists, a checkpoint rewrites only what changed: a topic whose
 * partitions did not change keeps its index object; a partition that changed gets one new
 * level-0 chunk holding the files and gaps of its new offsets, and never rewrites its older
 * chunks, except that FANOUT chunks of one level are merged into one of the next level (an LSM
 * tree's size tiers). So every file entry is written O(log n) times over a line's life, a
 * partition has O(FANOUT × log n) chunks, and a checkpoint costs what changed plus the topic
 * indexes that reference it (docs/format.md, "Checkpoints").
 */
import {
  addToTotals,
  type Checkpoint,
  type Chunk,
  type ChunkRef,
  type Commit,
  chunkKey,
  decodeV2,
  emptyTotals,
  encodeV2,
  type FileTotals,
  type Head,
  LINE_V2,
  type PartitionSummary,
  type Retirement,
  type SnapshotSummary,
  type TopicIndex,
  type TopicMeta,
  v2keys,
  type Writer,
} from '../format/line-v2.ts';
import type { FileEntry, Gap, Manifest } from '../format/manifest.ts';
import type { StorageBackend } from '../storage/backend.ts';
import {
  addTotals,
  appended,
  emptySummary,
  releasedBetween,
  summaryOf,
  totalsBelow,
  totalsOfFiles,
} from './figures.ts';
import { ObjectTakenError, putImmutable } from './immutable.ts';
import { dropBelow, replaceFiles } from './state.ts';

/** Chunks of one level merged into one chunk of the next. */
export const FANOUT = 8;

interface WorkingPartition {
  start: number;
  next: number;
  epoch?: number | undefined;
  chunks: ChunkRef[];
  files: FileEntry[];
  gaps: Gap[];
  /**
   * Set when a drop or replacement touched the partition: its chunks were read into files and
   * gaps, and the whole partition is written as one chunk of this level (the highest of the
   * chunks it replaces), so no chunk straddles a drop and no chunk lists a replaced file.
   */
  rewriteLevel?: number;
  /** The summary the base index had (absent in indexes written before summaries). */
  summary?: PartitionSummary | undefined;
  /** Files this consolidation's maintenance members stopped listing. */
  released: { files: number; bytes: number };
}

interface WorkingTopic {
  name: string;
  meta: TopicMeta;
  /** The index this topic had in the base checkpoint (kept when nothing changed). */
  baseIndex: string | null;
  partitions: Map<string, WorkingPartition>;
  ends: Record<string, Record<string, number>>;
  /** Snapshots whose end offsets in this topic the tail changed (their totals are summed anew). */
  changedEnds: Set<string>;
  /** The base index's snapshot totals. */
  baseTotals: Record<string, FileTotals> | undefined;
  dirty: boolean;
}

export interface ConsolidationBase {
  checkpoint: Checkpoint | null;
  indexes: Map<string, TopicIndex>;
}

export interface ConsolidationResult {
  checkpoint: Checkpoint;
  indexes: Map<string, TopicIndex>;
  bytesWritten: number;
  objectsWritten: number;
}

function workingFromIndex(name: string, meta: TopicMeta, key: string, index: TopicIndex): WorkingTopic {
  const partitions = new Map<string, WorkingPartition>();
  for (const [p, pi] of Object.entries(index.partitions))
    partitions.set(p, {
      start: pi.start_offset,
      next: pi.next_offset,
      epoch: pi.leader_epoch,
      chunks: [...pi.chunks],
      files: [],
      gaps: [],
      summary: pi.summary,
      released: { files: 0, bytes: 0 },
    });
  return {
    name,
    meta,
    baseIndex: key,
    partitions,
    ends: structuredClone(index.snapshot_ends),
    changedEnds: new Set(),
    baseTotals: index.snapshot_totals,
    dirty: false,
  };
}

/**
 * Writes the checkpoint at the last commit of `tail` (or at `seq` when the tail is empty, for a
 * migration that starts from `base`), its changed indexes and chunks, then points the head at it.
 */
export async function consolidate(
  storage: StorageBackend,
  backupId: string,
  base: ConsolidationBase,
  tail: Commit[],
  writer: Writer,
  options: { seq?: number; stateAt?: string; source?: Manifest['source'] } = {},
): Promise<ConsolidationResult> {
  const indexes = base.indexes;
  const topics = new Map<string, WorkingTopic>();
  const retired: Checkpoint['retired_topics'] = [...(base.checkpoint?.retired_topics ?? [])];
  const newlyRetired: { r: Retirement; t: WorkingTopic }[] = [];
  const snapshots = new Map<string, SnapshotSummary>((base.checkpoint?.snapshots ?? []).map((s) => [s.id, s]));
  let source = base.checkpoint?.source ?? options.source ?? { cluster_id: '', bootstrap_servers: [] };
  for (const [name, t] of Object.entries(base.checkpoint?.topics ?? {})) {
    const index = indexes.get(t.index);
    if (!index) throw new Error(`internal: index ${t.index} of the base checkpoint was not loaded`);
    topics.set(name, workingFromIndex(name, t.meta, t.index, index));
  }

  for (const c of tail) {
    if (c.source) source = c.source;
    for (const r of c.retire ?? []) {
      const t = topics.get(r.name);
      if (!t) continue;
      newlyRetired.push({ r, t });
      topics.delete(r.name);
    }
    for (const [name, meta] of Object.entries(c.topics ?? {})) {
      const t = topics.get(name) ?? {
        name,
        meta,
        baseIndex: null,
        partitions: new Map(),
        ends: {},
        changedEnds: new Set<string>(),
        baseTotals: undefined,
        dirty: true,
      };
      t.meta = meta;
      t.dirty = true;
      topics.set(name, t);
    }
    for (const [name, parts] of Object.entries(c.partitions ?? {})) {
      const t = topics.get(name);
      if (!t) continue;
      t.dirty = true;
      for (const [p, ch] of Object.entries(parts)) {
        const wp = t.partitions.get(p) ?? {
          start: ch.start_offset ?? ch.next_offset,
          next: ch.next_offset,
          chunks: [],
          files: [],
          gaps: [],
          released: { files: 0, bytes: 0 },
        };
        if (ch.start_offset !== undefined) wp.start = ch.start_offset;
        wp.next = ch.next_offset;
        if (ch.leader_epoch !== undefined) wp.epoch = ch.leader_epoch;
        if (ch.files) wp.files.push(...ch.files);
        if (ch.gaps) wp.gaps.push(...ch.gaps);
        t.partitions.set(p, wp);
      }
    }
    for (const s of c.snapshots ?? []) {
      const { end_offsets, ...rest } = s;
      const before = snapshots.get(s.id);
      const names = new Set([...(before?.topics ?? []), ...Object.keys(end_offsets)]);
      snapshots.set(s.id, { ...rest, topics: [...names].sort() });
      for (const [topic, ends] of Object.entries(end_offsets)) {
        const t = topics.get(topic);
        if (!t) continue;
        t.dirty = true;
        t.changedEnds.add(s.id);
        Object.assign((t.ends[s.id] ??= {}), ends);
      }
    }
    // maintenance members, in the order applyCommit uses
    const touched = async (name: string, p: string): Promise<WorkingPartition | null> => {
      const t = topics.get(name);
      const wp = t?.partitions.get(p);
      if (!t || !wp) return null;
      t.dirty = true;
      if (wp.rewriteLevel === undefined) {
        const files: FileEntry[] = [];
        const gaps: Gap[] = [];
        for (const ref of wp.chunks) {
          const key = chunkKey(backupId, name, t.meta.topic_id, Number(p), ref);
          const chunk = decodeV2('chunk', key, await storage.get(key), backupId);
          files.push(...chunk.files);
          gaps.push(...chunk.gaps);
        }
        wp.rewriteLevel = wp.chunks.reduce((m, r) => Math.max(m, r.level), 0);
        wp.files = [...files, ...wp.files];
        wp.gaps = [...gaps, ...wp.gaps];
        wp.chunks = [];
      }
      return wp;
    };
    for (const [name, parts] of Object.entries(c.replace ?? {}))
      for (const [p, rs] of Object.entries(parts)) {
        const wp = await touched(name, p);
        if (!wp) continue;
        const before = wp.files;
        for (const r of rs) wp.files = replaceFiles(wp.files, r, `${name}-${p}`);
        release(wp, releasedBetween(before, wp.files));
      }
    for (const [name, parts] of Object.entries(c.drop ?? {}))
      for (const [p, d] of Object.entries(parts)) {
        const wp = await touched(name, p);
        if (!wp) continue;
        const before = wp.files;
        Object.assign(wp, dropBelow(wp.start, wp.files, wp.gaps, d.below, `${name}-${p}`));
        release(wp, releasedBetween(before, wp.files));
      }
    for (const id of c.forget ?? []) {
      snapshots.delete(id);
      for (const t of topics.values())
        if (t.ends[id]) {
          delete t.ends[id];
          t.dirty = true;
        }
    }
  }

  const seq = tail.at(-1)?.seq ?? options.seq;
  if (seq === undefined) throw new Error('internal: nothing to consolidate');
  let bytesWritten = 0;
  let objectsWritten = 0;
  const put = async (key: string, body: Buffer) => {
    await putImmutable(storage, key, body);
    bytesWritten += body.length;
    objectsWritten++;
  };

  const chunkFiles = async (t: WorkingTopic, p: number, ref: ChunkRef): Promise<Chunk> => {
    const key = chunkKey(backupId, t.name, t.meta.topic_id, p, ref);
    return decodeV2('chunk', key, await storage.get(key), backupId);
  };

  const writeTopic = async (t: WorkingTopic): Promise<string> => {
    if (!t.dirty && t.baseIndex) return t.baseIndex;
    const rewritten = [...t.partitions.values()].some((wp) => wp.rewriteLevel !== undefined);
    const index: TopicIndex = {
      format: 'kafka-backup/topic-index',
      version: LINE_V2,
      backup_id: backupId,
      seq,
      topic: t.name,
      topic_id: t.meta.topic_id,
      partitions: {},
      snapshot_ends: t.ends,
    };
    for (const [p, wp] of [...t.partitions].sort((a, b) => Number(a[0]) - Number(b[0]))) {
      const summary = await partitionSummary(wp, (ref) => chunkFiles(t, Number(p), ref));
      if (wp.files.length || wp.gaps.length) {
        const chunk = chunkOf(backupId, t, Number(p), wp.rewriteLevel ?? 0, sortedFiles(wp.files), sortedGaps(wp.gaps));
        const ref = refOf(seq, chunk);
        await put(chunkKey(backupId, t.name, t.meta.topic_id, Number(p), ref), encodeV2(chunk));
        wp.chunks.push(ref);
        await mergeTiers(storage, backupId, t, Number(p), wp.chunks, seq, put);
      }
      index.partitions[p] = {
        start_offset: wp.start,
        next_offset: wp.next,
        chunks: wp.chunks,
        ...(wp.epoch !== undefined ? { leader_epoch: wp.epoch } : {}),
        summary,
      };
    }
    // Per snapshot, the sums over its files: the base's plus the files appended below its ends,
    // or summed anew from the chunk references when its ends moved or a partition was rewritten.
    const totals: Record<string, FileTotals> = {};
    for (const [sid, ends] of Object.entries(t.ends)) {
      const base = t.baseTotals?.[sid];
      const reuse = base !== undefined && !rewritten && !t.changedEnds.has(sid);
      const sum = reuse ? { ...base } : emptyTotals();
      for (const [p, end] of Object.entries(ends)) {
        const wp = t.partitions.get(p);
        if (!wp) continue;
        if (reuse) addTotals(sum, totalsOfFiles(wp.files, end));
        else
          addTotals(sum, await totalsBelow(wp.chunks, end, async (ref) => (await chunkFiles(t, Number(p), ref)).files));
      }
      totals[sid] = sum;
    }
    index.snapshot_totals = totals;
    const key = v2keys.index(backupId, seq, t.name, t.meta.topic_id);
    await put(key, encodeV2(index));
    indexes.set(key, index);
    return key;
  };

  const checkpoint: Checkpoint = {
    format: 'kafka-backup/checkpoint',
    version: LINE_V2,
    backup_id: backupId,
    seq,
    created_at: new Date().toISOString(),
    state_at: tail.at(-1)?.created_at ?? options.stateAt ?? new Date().toISOString(),
    writer: tail.at(-1)?.writer ?? writer,
    source,
    snapshots: [...snapshots.values()],
    topics: {},
    retired_topics: retired,
  };
  for (const { r, t } of newlyRetired) retired.push({ ...r, meta: t.meta, index: await writeTopic(t) });
  for (const [name, t] of topics) {
    const index = await writeTopic(t);
    const totals = emptyTotals();
    for (const wp of t.partitions.values()) for (const ref of wp.chunks) addToTotals(totals, ref);
    checkpoint.topics[name] = { meta: t.meta, index, partitions: t.partitions.size, totals };
  }
  // Indexes no longer referenced need not stay in memory.
  const live = new Set([...Object.values(checkpoint.topics).map((t) => t.index), ...retired.map((r) => r.index)]);
  for (const key of [...indexes.keys()]) if (!live.has(key)) indexes.delete(key);

  try {
    await put(v2keys.checkpoint(backupId, seq), encodeV2(checkpoint));
  } catch (e) {
    // the same state consolidated before (a retried run): that checkpoint stands
    if (!(e instanceof ObjectTakenError)) throw e;
  }
  const head: Head = {
    format: 'kafka-backup/head',
    version: LINE_V2,
    backup_id: backupId,
    checkpoint: seq,
    updated_at: new Date().toISOString(),
  };
  // The head is a pointer, the one object that is overwritten: a stale or lost head costs a
  // reader a listing of checkpoints/, never a wrong state.
  const headBytes = encodeV2(head);
  await storage.put(v2keys.head(backupId), headBytes);
  bytesWritten += headBytes.length;
  objectsWritten++;
  return { checkpoint, indexes, bytesWritten, objectsWritten };
}

function release(wp: WorkingPartition, r: { files: number; bytes: number }): void {
  wp.released.files += r.files;
  wp.released.bytes += r.bytes;
}

/**
 * The partition's summary after this consolidation. A rewritten partition has all its files at
 * hand; otherwise the base summary plus the appended files; an index without a summary (written
 * before summaries) gets one from its first chunks, read up to the first file with a record.
 */
async function partitionSummary(
  wp: WorkingPartition,
  loadChunk: (ref: ChunkRef) => Promise<Chunk>,
): Promise<PartitionSummary> {
  const carried = wp.summary ?? emptySummary();
  const released = {
    released_files: carried.released_files + wp.released.files,
    released_bytes: carried.released_bytes + wp.released.bytes,
  };
  if (wp.rewriteLevel !== undefined) return summaryOf(wp.files, wp.gaps, released);
  if (wp.summary) return { ...appended(wp.summary, wp.files), ...released };
  const files: FileEntry[] = [];
  const gaps: Gap[] = [];
  for (const ref of wp.chunks) {
    const c = await loadChunk(ref);
    files.push(...c.files);
    gaps.push(...c.gaps);
    if (c.files.some((f) => f.records > 0)) break;
  }
  return summaryOf([...files, ...wp.files], [...gaps, ...wp.gaps], released);
}

// chunks list files and gaps in offset order; a rewrite puts its retention gap first, so sort
const sortedFiles = (files: FileEntry[]) => [...files].sort((a, b) => a.first_offset - b.first_offset);
const sortedGaps = (gaps: Gap[]) => [...gaps].sort((a, b) => a.start - b.start);

function chunkOf(
  backupId: string,
  t: WorkingTopic,
  partition: number,
  level: number,
  files: FileEntry[],
  gaps: Gap[],
): Chunk {
  let from = Number.POSITIVE_INFINITY;
  let to = Number.NEGATIVE_INFINITY;
  for (const f of files) {
    from = Math.min(from, f.first_offset);
    to = Math.max(to, f.last_offset + 1);
  }
  for (const g of gaps) {
    from = Math.min(from, g.start);
    to = Math.max(to, g.end);
  }
  return {
    format: 'kafka-backup/chunk',
    version: LINE_V2,
    backup_id: backupId,
    topic: t.name,
    topic_id: t.meta.topic_id,
    partition,
    level,
    from,
    to,
    files,
    gaps,
  };
}

function refOf(seq: number, c: Chunk): ChunkRef {
  const totals: FileTotals = emptyTotals();
  for (const f of c.files) addToTotals(totals, f);
  return { seq, level: c.level, from: c.from, to: c.to, gaps: c.gaps.length, ...totals };
}

/** While the newest FANOUT chunks share a level, merges them into one chunk of the next level. */
async function mergeTiers(
  storage: StorageBackend,
  backupId: string,
  t: WorkingTopic,
  partition: number,
  chunks: ChunkRef[],
  seq: number,
  put: (key: string, body: Buffer) => Promise<void>,
): Promise<void> {
  for (;;) {
    const last = chunks.at(-1);
    if (!last || chunks.length < FANOUT) return;
    const group = chunks.slice(-FANOUT);
    if (!group.every((c) => c.level === last.level)) return;
    const files: FileEntry[] = [];
    const gaps: Gap[] = [];
    for (const ref of group) {
      const key = chunkKey(backupId, t.name, t.meta.topic_id, partition, ref);
      const c = decodeV2('chunk', key, await storage.get(key), backupId);
      files.push(...c.files);
      gaps.push(...c.gaps);
    }
    const merged = chunkOf(backupId, t, partition, last.level + 1, files, gaps);
    const ref = refOf(seq, merged);
    await put(chunkKey(backupId, t.name, t.meta.topic_id, partition, ref), encodeV2(merged));
    chunks.splice(-FANOUT, FANOUT, ref);
  }
}
