/**
 * Manifests: the state of one backup line, written as numbered generations that are never
 * overwritten (create-if-absent). The newest generation that verifies is the current state.
 * Spec: docs/format.md ("Manifests").
 *
 * Encoding: the JSON body, a newline, and a trailer line `#sha256:<hex of the body bytes>`.
 * A reader recomputes the digest before trusting anything in the body.
 *
 * Offsets and timestamps are JSON numbers: Kafka offsets and epoch milliseconds stay far below
 * 2^53, and plain numbers keep the files readable by jq.
 */
import { decodeSigned, encodeSigned, SignedObjectError } from './signed.ts';

export const MANIFEST_FORMAT = 'kafka-backup/manifest';
export const MANIFEST_VERSION = 1;

/**
 * `retention` is the broker's retention (deleted before it was fetched); `retention-policy` is
 * this line's own (dropped by `forget --max-age` or backup.retention.max_age, docs/retention.md).
 */
export type GapCause = 'retention' | 'retention-policy' | 'control' | 'aborted' | 'compaction' | 'unknown';

/** Offsets in [start, end) that have no record in this backup, and why. */
export interface Gap {
  start: number;
  end: number;
  cause: GapCause;
}

export interface FileEntry {
  key: string;
  size: number;
  /** The whole file's digest: CRC-32C (8 hex digits) by default, or SHA-256 (64) when configured. */
  crc32c?: string;
  sha256?: string;
  run_id: string;
  /** The partition offsets this file covers, [first, last], whether or not each holds a record. */
  first_offset: number;
  last_offset: number;
  records: number;
  batches: number;
  blocks: number;
  raw_bytes: number;
  /** Size of the largest record batch in the file (a restore sizes max.message.bytes from it). */
  max_batch_bytes?: number;
  /** Contains every stored record's timestamp (-1 when the file holds no record). */
  min_timestamp: number;
  max_timestamp: number;
  /** Offsets inside [first, last] without a stored record, by cause. */
  skipped: Partial<Record<GapCause, number>>;
  created_at: string;
}

export interface PartitionState {
  /** First offset this line covers (where the first backup of the partition started). */
  start_offset: number;
  /** Next offset to fetch: everything below it is in listed files or recorded gaps. */
  next_offset: number;
  files: FileEntry[];
  /** Offset ranges between files that hold no record (retention, trailing markers). */
  gaps: Gap[];
  /**
   * Leader epoch of the record batch just below next_offset, when known (KIP-320): the next run
   * fetches with it as last_fetched_epoch, so a log truncated while no run followed it is found.
   */
  leader_epoch?: number;
}

export interface TopicState {
  topic_id: string;
  partition_count: number;
  replication_factor: number;
  /** Non-default topic configs at the time of the last backup run. */
  configs: Record<string, string>;
  /** cleanup.policy etc. are in configs; this is the timestamp type of the topic's config. */
  timestamp_type: 'CreateTime' | 'LogAppendTime';
  partitions: Record<string, PartitionState>;
}

export type SnapshotState = 'in-progress' | 'complete' | 'failed' | 'interrupted';

export interface Snapshot {
  id: string;
  run_id: string;
  mode: 'snapshot' | 'continuous';
  state: SnapshotState;
  started_at: string;
  finished_at?: string;
  /** Per topic and partition, the offset this snapshot reaches (exclusive). */
  end_offsets: Record<string, Record<string, number>>;
  /**
   * Per topic, the topic id (incarnation) its end offsets refer to: a topic deleted and re-created
   * under the same name is a new history, with offsets from 0 again. Absent in snapshots written
   * before it was recorded; readers then go by time (topicOf in src/inspect/summary.ts).
   */
  topic_ids?: Record<string, string>;
  /** Storage key of the consumer-group offsets captured for this snapshot. */
  consumer_offsets?: string;
  /** The schema registry state captured for this snapshot (docs/format.md "Schema registry captures"). */
  schema_registry?: {
    key: string;
    sha256: string;
    subjects: number;
    schemas: number;
    /** Continuous runs: offsets below which the capture covers the records (docs/format.md). */
    covers?: Record<string, Record<string, number>>;
  };
  error?: string;
  /** Labels from backup.tags; `forget --keep-tag` keeps snapshots carrying one of them. */
  tags?: string[];
  /**
   * Continuous mode, while running, as of this generation: offsets read from Kafka but not yet
   * in a listed file or gap (per topic), and when the oldest of them was read. Absent when none.
   */
  pending?: { oldest_read_at: string; offsets: Record<string, number> };
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  backup_id: string;
  generation: number;
  created_at: string;
  writer: { run_id: string; host: string; pid: number; tool_version: string };
  source: { cluster_id: string; bootstrap_servers: string[] };
  topics: Record<string, TopicState>;
  snapshots: Snapshot[];
  /** Topics that were deleted or re-created under the same name while this line followed them. */
  retired_topics: { name: string; topic_id: string; retired_at: string; reason: string; state?: TopicState }[];
}

export class ManifestCorruptError extends Error {
  readonly key: string;
  constructor(key: string, detail: string) {
    super(`manifest ${key} is corrupt: ${detail}`);
    this.key = key;
  }
}

export function encodeManifest(m: Manifest): Buffer {
  return encodeSigned(m, 1);
}

export function decodeManifest(key: string, bytes: Buffer): Manifest {
  let parsed: Manifest;
  try {
    parsed = decodeSigned<Manifest>(key, bytes);
  } catch (e) {
    if (e instanceof SignedObjectError)
      throw new ManifestCorruptError(key, e.message.slice(key.length + ' is corrupt: '.length));
    throw e;
  }
  if (parsed.format !== MANIFEST_FORMAT) throw new ManifestCorruptError(key, `unknown format ${String(parsed.format)}`);
  if (parsed.version !== MANIFEST_VERSION)
    throw new ManifestCorruptError(key, `version ${parsed.version} is newer than this tool understands`);
  return parsed;
}

/** Storage keys, all relative to the storage location. */
export const keys = {
  line: (backupId: string) => `${backupId}/`,
  manifestDir: (backupId: string) => `${backupId}/manifests/`,
  manifest: (backupId: string, generation: number) =>
    `${backupId}/manifests/${String(generation).padStart(10, '0')}.json`,
  lease: (backupId: string) => `${backupId}/lease.json`,
  /**
   * A data file. `topicId` (the incarnation) keeps the files of a topic re-created during one run
   * apart from the old incarnation's, whose offsets (and so names) would otherwise be the same.
   */
  dataFile: (
    backupId: string,
    topic: string,
    partition: number,
    firstOffset: number,
    runId: string,
    seq: number,
    topicId?: string,
  ) =>
    `${backupId}/data/${encodeURIComponent(topic)}/${partition}/${String(firstOffset).padStart(20, '0')}-${runId}-${seq}${topicId ? `-${topicId}` : ''}.kbs`,
  consumerOffsets: (backupId: string, snapshotId: string, at: string) =>
    `${backupId}/consumer-offsets/${snapshotId}/${at.replace(/[:.]/g, '')}.json`,
};

export function generationOfKey(key: string): number | null {
  const m = /manifests\/(\d{10})\.json$/.exec(key);
  return m ? Number(m[1]) : null;
}
