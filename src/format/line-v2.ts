/**
 * Format version 2 of a backup line: small numbered commits plus periodic checkpoints.
 * Spec: docs/format.md ("Format version 2"). Reference: src/repository/.
 *
 *   <id>/log/<seq>.json           one commit per checkpoint interval: what changed (create-if-absent)
 *   <id>/checkpoints/<seq>.json   the state after commit <seq>: line metadata, snapshots, topics
 *   <id>/index/<seq>/<topic>.json one topic's partitions (chunk references) and snapshot end offsets
 *   <id>/chunks/…                 immutable lists of files and gaps of one partition's offset range
 *   <id>/head.json                points at the newest checkpoint (a hint, overwritten)
 *
 * Every object is signed JSON (src/format/signed.ts), stored zstd-compressed (`.json.zst`; file
 * entries compress about 9:1), except the head, which stays plain JSON. Opening a line reads the head, one
 * checkpoint, the indexes of the topics it needs, and the commits after the checkpoint (their
 * number is bounded by the writer's consolidation policy); it never lists the log.
 */
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { decryptObject, isEncryptedObject } from '../crypto/object.ts';
import type { FileEntry, Gap, Manifest, Snapshot, TopicState } from './manifest.ts';
import { decodeSigned, encodeSigned, SignedObjectError, signedDigest } from './signed.ts';

export const LINE_V2 = 2;

/** A topic's metadata: everything of TopicState but its partitions. */
export type TopicMeta = Omit<TopicState, 'partitions'> & { cleanup_policy?: string };

/** What one commit changes in one partition. */
export interface PartitionChange {
  /** Present when the partition is new to the line. */
  start_offset?: number;
  next_offset: number;
  files?: FileEntry[];
  gaps?: Gap[];
  /** The partition's leader_epoch, when it changed (a compatible addition, docs/format.md). */
  leader_epoch?: number;
}

/** A snapshot as a commit records it: `end_offsets` holds only the entries that changed (merged). */
export type SnapshotChange = Snapshot;

export interface Retirement {
  name: string;
  topic_id: string;
  retired_at: string;
  reason: string;
}

export interface Writer {
  run_id: string;
  host: string;
  pid: number;
  tool_version: string;
}

export interface Commit {
  format: 'kafka-backup/commit';
  version: typeof LINE_V2;
  backup_id: string;
  seq: number;
  created_at: string;
  writer: Writer;
  source?: Manifest['source'];
  /** Applied first: the current topic of that name moves to the retired topics. */
  retire?: Retirement[];
  /** Topics whose metadata changed (whole metadata). */
  topics?: Record<string, TopicMeta>;
  partitions?: Record<string, Record<string, PartitionChange>>;
  snapshots?: SnapshotChange[];
  /** Set on the commit that converted a version 1 line (its state is the checkpoint at this seq). */
  migrated_from_v1?: { generation: number };
  /**
   * Set on commits written by forget, prune or retention rather than by a backup run: a running
   * writer whose number such a commit took absorbs it instead of stopping (docs/retention.md).
   */
  maintenance?: Maintenance;
  /** Snapshot ids removed from the line (applied after `snapshots`). */
  forget?: string[];
  /** Per topic and partition: files and gaps below `below` leave the state, one retention-policy gap stands for them. */
  drop?: Record<string, Record<string, Drop>>;
  /** Per topic and partition: files replaced by one file holding the same offsets (prune's repack). */
  replace?: Record<string, Record<string, Replacement[]>>;
}

export interface Maintenance {
  op: 'forget' | 'prune' | 'retention';
  /** What the operation decided, for status and describe (e.g. the horizon, the bytes it freed). */
  detail?: Record<string, unknown>;
}

export interface Drop {
  /** A boundary of the partition's coverage (a file's first offset, a gap's start, or next_offset). */
  below: number;
}

export interface Replacement {
  /** Keys of the consecutive files replaced; together they cover exactly add's offsets. */
  remove: string[];
  add: FileEntry;
}

/**
 * Every member a commit may have. A reader refuses a commit with any other member: a member it
 * ignored could be one that removes a snapshot or a file, and reading on would show a state that
 * references deleted data (docs/format.md, "Maintenance commits").
 */
export const COMMIT_MEMBERS: ReadonlySet<string> = new Set([
  'format',
  'version',
  'backup_id',
  'seq',
  'created_at',
  'writer',
  'source',
  'retire',
  'topics',
  'partitions',
  'snapshots',
  'migrated_from_v1',
  'maintenance',
  'forget',
  'drop',
  'replace',
]);

/** Sums over files, kept with every chunk reference and partition so readers need not open chunks. */
export interface FileTotals {
  files: number;
  records: number;
  raw_bytes: number;
  stored_bytes: number;
  /** -1 when no file holds a record. */
  min_timestamp: number;
  max_timestamp: number;
}

/** A chunk as its partition's index lists it; its key follows from these fields (chunkKey). */
export interface ChunkRef extends FileTotals {
  /** The checkpoint that wrote the chunk. */
  seq: number;
  /** Merge level: 0 for a chunk of one consolidation, L+1 for a merge of chunks of level L. */
  level: number;
  /** Offsets [from, to) whose files and gaps the chunk lists. */
  from: number;
  to: number;
  gaps: number;
}

/**
 * Retention figures of a partition, kept in its index so that list, status and metrics need not
 * open chunks (a compatible addition: indexes written before it lack it, and readers then compute
 * the figures from the chunks). Sums over files are the chunk references' (ChunkRef).
 */
export interface PartitionSummary {
  /** First offset of the first file that holds a record (the oldest restorable), -1 when none. */
  oldest_offset: number;
  /** min_timestamp of that file, -1 when none. */
  oldest_timestamp: number;
  /** Offsets dropped by the line's own retention (gaps with cause retention-policy). */
  dropped_offsets: number;
  /**
   * Data files the state stopped listing (retention drops, files replaced by a repack) and their
   * stored bytes, counted since the index first had a summary: what prune frees.
   */
  released_files: number;
  released_bytes: number;
}

export interface PartitionIndex {
  start_offset: number;
  next_offset: number;
  chunks: ChunkRef[];
  leader_epoch?: number;
  summary?: PartitionSummary;
}

export interface TopicIndex {
  format: 'kafka-backup/topic-index';
  version: typeof LINE_V2;
  backup_id: string;
  seq: number;
  topic: string;
  topic_id: string;
  partitions: Record<string, PartitionIndex>;
  /** Per snapshot id, per partition: the snapshot's end offset (exclusive). */
  snapshot_ends: Record<string, Record<string, number>>;
  /**
   * Per snapshot id: sums over the files of this topic the snapshot includes (those below its
   * end offsets). A compatible addition, like PartitionSummary: absent in older indexes.
   */
  snapshot_totals?: Record<string, FileTotals>;
}

export interface Chunk {
  format: 'kafka-backup/chunk';
  version: typeof LINE_V2;
  backup_id: string;
  topic: string;
  topic_id: string;
  partition: number;
  level: number;
  from: number;
  to: number;
  files: FileEntry[];
  gaps: Gap[];
}

/** A snapshot in a checkpoint: end offsets live in the topic indexes. */
export type SnapshotSummary = Omit<Snapshot, 'end_offsets'> & { topics: string[] };

export interface CheckpointTopic {
  meta: TopicMeta;
  index: string;
  partitions: number;
  totals: FileTotals;
}

export interface Checkpoint {
  format: 'kafka-backup/checkpoint';
  version: typeof LINE_V2;
  backup_id: string;
  seq: number;
  created_at: string;
  /** When the commit at `seq` was written (the state's time). */
  state_at: string;
  writer: Writer;
  source: Manifest['source'];
  snapshots: SnapshotSummary[];
  topics: Record<string, CheckpointTopic>;
  retired_topics: (Retirement & { index: string; meta: TopicMeta })[];
}

export interface Head {
  format: 'kafka-backup/head';
  version: typeof LINE_V2;
  backup_id: string;
  checkpoint: number;
  updated_at: string;
}

export type V2Object = Commit | TopicIndex | Chunk | Checkpoint | Head;

const pad10 = (n: number) => String(n).padStart(10, '0');
const pad20 = (n: number) => String(n).padStart(20, '0');

export const v2keys = {
  head: (id: string) => `${id}/head.json`,
  logDir: (id: string) => `${id}/log/`,
  commit: (id: string, seq: number) => `${id}/log/${pad10(seq)}.json.zst`,
  checkpointDir: (id: string) => `${id}/checkpoints/`,
  checkpoint: (id: string, seq: number) => `${id}/checkpoints/${pad10(seq)}.json.zst`,
  index: (id: string, seq: number, topic: string, topicId: string) =>
    `${id}/index/${pad10(seq)}/${encodeURIComponent(topic)}.${topicId}.json.zst`,
  chunk: (id: string, topic: string, topicId: string, partition: number, from: number, level: number, seq: number) =>
    `${id}/chunks/${encodeURIComponent(topic)}.${topicId}/${partition}/${pad20(from)}-L${level}-${pad10(seq)}.json.zst`,
};

export function chunkKey(backupId: string, topic: string, topicId: string, partition: number, ref: ChunkRef): string {
  return v2keys.chunk(backupId, topic, topicId, partition, ref.from, ref.level, ref.seq);
}

/** The number of a commit key (`<id>/log/<seq>.json`), or null. */
export function commitSeqOfKey(key: string): number | null {
  const m = /\/log\/(\d{10})\.json\.zst$/.exec(key);
  return m ? Number(m[1]) : null;
}

export function seqOfKey(key: string): number | null {
  const m = /\/(?:log|checkpoints)\/(\d{10})\.json\.zst$/.exec(key);
  return m ? Number(m[1]) : null;
}

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
/** Decoded objects are small; a larger one is damage or an attack on the reader. */
const MAX_OBJECT_BYTES = 512 * 1024 * 1024;

export function encodeV2(o: V2Object): Buffer {
  const signed = encodeSigned(o);
  return o.format === 'kafka-backup/head' ? signed : zstdCompressSync(signed);
}

/**
 * The signed bytes of a stored object (opened when it is encrypted, then decompressed when it is
 * zstd). Throws SignedObjectError; KeyError when it is encrypted under a key not unlocked.
 */
export function plainV2(key: string, stored: Buffer): Buffer {
  const bytes = isEncryptedObject(stored) ? decryptObject(key, stored) : stored;
  if (bytes.length < 4 || !bytes.subarray(0, 4).equals(ZSTD_MAGIC)) return bytes;
  try {
    return zstdDecompressSync(bytes, { maxOutputLength: MAX_OBJECT_BYTES });
  } catch (e) {
    throw new SignedObjectError(key, `not a valid zstd frame (${(e as Error).message})`);
  }
}

/** The digest that identifies a stored object's content (its trailer's), or null. */
export function digestOfV2(key: string, bytes: Buffer): string | null {
  return signedDigest(plainV2(key, bytes));
}

const FORMATS = {
  commit: 'kafka-backup/commit',
  index: 'kafka-backup/topic-index',
  chunk: 'kafka-backup/chunk',
  checkpoint: 'kafka-backup/checkpoint',
  head: 'kafka-backup/head',
} as const;

/** Decodes and checks format, version and line; throws SignedObjectError naming the key. */
export function decodeV2<K extends keyof typeof FORMATS>(
  kind: K,
  key: string,
  bytes: Buffer,
  backupId: string,
): Extract<V2Object, { format: (typeof FORMATS)[K] }> {
  const o = decodeSigned<V2Object>(key, plainV2(key, bytes));
  if (o.format !== FORMATS[kind]) throw new SignedObjectError(key, `is not a ${FORMATS[kind]} (${String(o.format)})`);
  if (o.version !== LINE_V2)
    throw new SignedObjectError(key, `version ${String(o.version)} is not one this tool understands (2)`);
  if (o.backup_id !== backupId) throw new SignedObjectError(key, `belongs to backup ${o.backup_id}`);
  if (kind === 'commit') {
    const unknown = Object.keys(o).filter((k) => !COMMIT_MEMBERS.has(k));
    if (unknown.length)
      throw new SignedObjectError(
        key,
        `has members this tool does not understand (${unknown.join(', ')}); read the line with a newer kafka-backup`,
      );
  }
  return o as Extract<V2Object, { format: (typeof FORMATS)[K] }>;
}

export function emptyTotals(): FileTotals {
  return { files: 0, records: 0, raw_bytes: 0, stored_bytes: 0, min_timestamp: -1, max_timestamp: -1 };
}

export function addToTotals(t: FileTotals, f: FileEntry | FileTotals): void {
  const isEntry = 'key' in f && 'first_offset' in f;
  t.files += isEntry ? 1 : (f as FileTotals).files;
  t.records += f.records;
  t.raw_bytes += f.raw_bytes;
  t.stored_bytes += isEntry ? (f as FileEntry).size : (f as FileTotals).stored_bytes;
  if (f.min_timestamp >= 0)
    t.min_timestamp = t.min_timestamp < 0 ? f.min_timestamp : Math.min(t.min_timestamp, f.min_timestamp);
  if (f.max_timestamp >= 0) t.max_timestamp = Math.max(t.max_timestamp, f.max_timestamp);
}
