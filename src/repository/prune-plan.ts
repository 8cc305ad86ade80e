/**
 * What prune deletes and repacks, decided from the state and one listing of the line: no I/O
 * here (docs/retention.md, "prune").
 *
 * An object is deleted only when no state a reader may open references it and it is older than
 * the grace period (its listing lastModified): so an upload or a consolidation in flight, whose
 * objects are not referenced yet, is never taken. Repacking merges runs of small, contiguous
 * files of one partition, never across the end offset of a snapshot (every snapshot keeps a file
 * boundary at its end) nor across a gap.
 */
import type { FileEntry, Manifest } from '../format/manifest.ts';
import type { IncompleteWrite, ObjectInfo } from '../storage/backend.ts';

/** Commits at or below the newest checkpoint that stay (a writer that missed them reads them back). */
export const KEEP_FOLDED_COMMITS = 16;
/** Checkpoints that stay besides the one the head names (a reader falls back to the older). */
export const KEEP_CHECKPOINTS = 2;

export interface Deletion {
  key: string;
  size: number;
  why:
    | 'unreferenced data file'
    | 'superseded commit'
    | 'superseded checkpoint'
    | 'unreachable index'
    | 'unreachable chunk'
    | 'capture of a forgotten snapshot'
    | 'superseded capture'
    | 'incomplete write';
  /** For an incomplete write: what the backend discards (StorageBackend.abortIncomplete). */
  write?: IncompleteWrite;
}

export interface RepackGroup {
  topic: string;
  topic_id: string;
  partition: number;
  files: FileEntry[];
  bytes: number;
}

export interface PrunePlan {
  deletions: Deletion[];
  repack: RepackGroup[];
  /** Unreferenced objects kept because they are younger than the grace period. */
  young: number;
}

/** Every data file the state lists (current and retired topics). */
export function referencedFiles(view: Manifest): Set<string> {
  const out = new Set<string>();
  const add = (t: Manifest['topics'][string] | undefined) => {
    for (const ps of Object.values(t?.partitions ?? {})) for (const f of ps.files) out.add(f.key);
  };
  for (const t of Object.values(view.topics)) add(t);
  for (const r of view.retired_topics) add(r.state);
  return out;
}

/** The metadata objects that the kept checkpoints reach, and the checkpoints kept. */
export interface Reachable {
  checkpoints: Set<number>;
  /** Keys of indexes and chunks. */
  keys: Set<string>;
  /** Commits at or below this number are folded into a kept checkpoint. */
  newestCheckpoint: number;
}

export function planDeletions(
  backupId: string,
  view: Manifest,
  listing: ObjectInfo[],
  reachable: Reachable,
  now: number,
  graceMs: number,
): { deletions: Deletion[]; young: number } {
  const deletions: Deletion[] = [];
  let young = 0;
  const files = referencedFiles(view);
  const snapshots = new Set(view.snapshots.map((s) => s.id));
  const consumed = new Set(view.snapshots.map((s) => s.consumer_offsets).filter(Boolean));
  const registries = new Set(view.snapshots.map((s) => s.schema_registry?.key).filter(Boolean));
  // a continuous run writes a registry capture each time the state changes: the older ones of a
  // kept snapshot are superseded (a capture being written is newer than the referenced one)
  const currentRegistry = new Map(view.snapshots.map((s) => [s.id, s.schema_registry?.key ?? '']));
  const old = (o: ObjectInfo) => {
    // a backend that does not say when counts as just written: never deleted on a guess
    const t = o.lastModified?.getTime();
    const ok = t !== undefined && now - t >= graceMs;
    if (!ok) young++;
    return ok;
  };
  const id = `${backupId}/`;
  for (const o of listing) {
    const rel = o.key.slice(id.length);
    let why: Deletion['why'] | null = null;
    if (rel.startsWith('data/')) {
      if (!files.has(o.key)) why = 'unreferenced data file';
    } else if (rel.startsWith('log/')) {
      const m = /^log\/(\d{10})\.json\.zst$/.exec(rel);
      if (m && Number(m[1]) <= reachable.newestCheckpoint - KEEP_FOLDED_COMMITS) why = 'superseded commit';
    } else if (rel.startsWith('checkpoints/')) {
      const m = /^checkpoints\/(\d{10})\.json\.zst$/.exec(rel);
      if (m && !reachable.checkpoints.has(Number(m[1]))) why = 'superseded checkpoint';
    } else if (rel.startsWith('index/')) {
      if (!reachable.keys.has(o.key)) why = 'unreachable index';
    } else if (rel.startsWith('chunks/')) {
      if (!reachable.keys.has(o.key)) why = 'unreachable chunk';
    } else if (rel.startsWith('consumer-offsets/')) {
      const sid = rel.split('/')[1] ?? '';
      if (!snapshots.has(sid) && !consumed.has(o.key)) why = 'capture of a forgotten snapshot';
    } else if (rel.startsWith('schema-registry/')) {
      const sid = rel.split('/')[1] ?? '';
      if (!snapshots.has(sid) && !registries.has(o.key)) why = 'capture of a forgotten snapshot';
      else if (!registries.has(o.key) && o.key < (currentRegistry.get(sid) ?? '')) why = 'superseded capture';
    }
    if (why && old(o)) deletions.push({ key: o.key, size: o.size, why });
  }
  return { deletions, young };
}

/**
 * Writes that a killed process left incomplete (filesystem temporary files, S3 multipart
 * uploads), once older than the grace period: a write still in flight is younger (the grace
 * must exceed the longest write, docs/retention.md).
 */
export function planIncomplete(
  writes: IncompleteWrite[],
  now: number,
  graceMs: number,
): { deletions: Deletion[]; young: number } {
  const deletions: Deletion[] = [];
  let young = 0;
  for (const w of writes) {
    const t = w.startedAt?.getTime();
    if (t !== undefined && now - t >= graceMs)
      deletions.push({ key: w.key, size: w.size, why: 'incomplete write', write: w });
    else young++;
  }
  return { deletions, young };
}

/**
 * Runs of at least two contiguous small files of one partition whose stored bytes together stay
 * within `targetBytes`, cut at every snapshot end and at every gap.
 */
export function planRepack(view: Manifest, targetBytes: number): RepackGroup[] {
  const groups: RepackGroup[] = [];
  for (const [topic, t] of Object.entries(view.topics))
    for (const [p, ps] of Object.entries(t.partitions)) {
      const ends = new Set<number>();
      for (const s of view.snapshots) {
        const e = s.end_offsets[topic]?.[p];
        if (e !== undefined) ends.add(e);
      }
      let run: FileEntry[] = [];
      let bytes = 0;
      const flush = () => {
        if (run.length >= 2) groups.push({ topic, topic_id: t.topic_id, partition: Number(p), files: run, bytes });
        run = [];
        bytes = 0;
      };
      for (const f of [...ps.files].sort((a, b) => a.first_offset - b.first_offset)) {
        const prev = run.at(-1);
        const small = f.size <= targetBytes / 2;
        const joins =
          prev !== undefined &&
          small &&
          f.first_offset === prev.last_offset + 1 &&
          !ends.has(f.first_offset) &&
          bytes + f.size <= targetBytes;
        if (!joins) flush();
        if (small) {
          run.push(f);
          bytes += f.size;
        }
      }
      flush();
    }
  return groups;
}

/** The file entry of a repacked file, before its size and digest are known. */
export function mergedEntry(
  files: FileEntry[],
): Omit<FileEntry, 'key' | 'size' | 'crc32c' | 'sha256' | 'run_id' | 'created_at'> {
  const skipped: FileEntry['skipped'] = {};
  for (const f of files)
    for (const [cause, n] of Object.entries(f.skipped) as [keyof FileEntry['skipped'], number][])
      skipped[cause] = (skipped[cause] ?? 0) + n;
  const withRecords = files.filter((f) => f.records > 0);
  const out: Omit<FileEntry, 'key' | 'size' | 'crc32c' | 'sha256' | 'run_id' | 'created_at'> = {
    first_offset: files[0]!.first_offset,
    last_offset: files.at(-1)!.last_offset,
    records: files.reduce((n, f) => n + f.records, 0),
    batches: files.reduce((n, f) => n + f.batches, 0),
    blocks: files.reduce((n, f) => n + f.blocks, 0),
    raw_bytes: files.reduce((n, f) => n + f.raw_bytes, 0),
    min_timestamp: withRecords.length ? Math.min(...withRecords.map((f) => f.min_timestamp)) : -1,
    max_timestamp: withRecords.length ? Math.max(...withRecords.map((f) => f.max_timestamp)) : -1,
    skipped,
  };
  if (files.every((f) => f.max_batch_bytes !== undefined))
    out.max_batch_bytes = Math.max(...files.map((f) => f.max_batch_bytes!));
  return out;
}
