/** What the backup engine needs, decoupled from the YAML config shape (the CLI maps one to the other). */
import type { FileChecksumKind } from '../format/checksum.ts';
import type { BlockCodec } from '../format/compression.ts';
import type { Snapshot } from '../format/manifest.ts';
import type { KafkaConnectionOptions } from '../kafka/client.ts';
import type { StorageBackend } from '../storage/backend.ts';
import type { TopicSelection } from './topic-patterns.ts';

export interface BackupOptions {
  backupId: string;
  source: KafkaConnectionOptions;
  topics: TopicSelection;
  storage: StorageBackend;
  mode: 'snapshot' | 'continuous';
  /** earliest | latest | epoch ms (or ISO-8601): where partitions this line has not seen yet start. */
  start: 'earliest' | 'latest' | number | string;
  codec: BlockCodec;
  level?: number | undefined;
  /** Digest of each whole data file recorded in the manifest. */
  fileChecksum: FileChecksumKind;
  batchSize: number;
  maxBatchBytes: number;
  fetchMaxBytes: number;
  maxConcurrentPartitions: number;
  maxBytesPerSec: number;
  allowEmpty: boolean;
  segmentMaxBytes: number;
  segmentMaxIntervalSecs: number;
  checkpointIntervalSecs: number;
  pollIntervalMs: number;
  allowSourceChange: boolean;
  captureOffsets: boolean;
  giveUpAfterSecs: number;
  /** The source cluster's circuit breaker (fetches); storage has its own. */
  circuitBreaker?: { failure_threshold: number; reset_timeout_secs: number; half_open_requests: number };
  /** Labels recorded on this run's snapshot (forget --keep-tag). */
  tags?: string[];
  /** backup.retention: drop data older than maxAgeMs by itself (docs/retention.md). */
  retention?: { maxAgeMs: number; maxAgeLabel: string; apply: 'end' | 'periodic' | 'never'; intervalSecs: number };
  /**
   * Called once every record up to the snapshot's end offsets is durable, before the final
   * snapshot commit (not when interrupted); the fields it returns are recorded on the snapshot
   * (the schema registry capture, src/schema-registry). A throw fails the run; the snapshot
   * stays resumable.
   */
  beforeSnapshotCommit?: (s: {
    snapshotId: string;
    topics: string[];
    endOffsets: Snapshot['end_offsets'];
  }) => Promise<Pick<Snapshot, 'schema_registry'>>;
  /**
   * Continuous mode: called at every checkpoint, after the files it lists are taken from the
   * writers and before the commit (`listing`: it lists new files or gaps; `committing`: it commits
   * anyway). The fields it returns are recorded on the snapshot (the schema registry capture),
   * and commit even a checkpoint with nothing else new; undefined changes nothing. Must not throw.
   */
  atCheckpoint?: (s: {
    snapshotId: string;
    topics: string[];
    endOffsets: Snapshot['end_offsets'];
    listing: boolean;
    committing: boolean;
  }) => Promise<Pick<Snapshot, 'schema_registry'> | undefined>;
  /** Aborting it stops the run gracefully: flush, list, checkpoint. */
  signal?: AbortSignal;
  onProgress?: (p: BackupProgress) => void;
  /** A failed Kafka call: transient ones are retried, permanent ones end the run (metrics). */
  onError?: (kind: 'kafka', cls: 'transient' | 'permanent') => void;
  /** Continuous mode: a followed topic was deleted or re-created during the run (metrics). */
  onTopicGone?: (reason: 'deleted' | 'recreated') => void;
}

export interface BackupProgress {
  records: number;
  rawBytes: number;
  storedBytes: number;
  files: number;
  partitionsDone: number;
  partitionsTotal: number;
  /**
   * Records (offsets) not yet durable: still to read, or read but not yet in a finished data file;
   * to the snapshot end offsets, or to the last known end offsets when following.
   */
  recordsRemaining: number;
  /**
   * Seconds between now and the newest record stored of the partitions still behind, at least
   * oldestPendingSecs (-1 unknown).
   */
  lagSeconds: number;
  /** Seconds since the oldest record read but not yet in a finished data file was read (0 when none). */
  oldestPendingSecs: number;
  topics: Record<string, { records: number; bytes: number }>;
  /** Set once this run applied backup.retention (docs/retention.md): the line's retention state then. */
  retention?: RetentionProgress;
}

export interface RetentionProgress {
  /** Epoch ms of the horizon of the last retention applied. */
  horizonMs: number;
  /** Bytes of data files this run's retention dropped from the state (prune frees them). */
  droppedBytes: number;
  /** Per topic, epoch ms of the oldest restorable record (-1: none). */
  oldestRestorableMs: Record<string, number>;
  /** Epoch ms of the line's last prune (maintenance.json), null when none is recorded. */
  lastPruneMs: number | null;
}

export const backupDefaults = {
  mode: 'snapshot',
  start: 'earliest',
  codec: 'zstd',
  fileChecksum: 'crc32c',
  batchSize: 10_000,
  maxBatchBytes: 1 << 20,
  fetchMaxBytes: 16 << 20,
  maxConcurrentPartitions: 16,
  maxBytesPerSec: 0,
  allowEmpty: false,
  segmentMaxBytes: 128 << 20,
  segmentMaxIntervalSecs: 300,
  checkpointIntervalSecs: 5,
  pollIntervalMs: 1000,
  allowSourceChange: false,
  captureOffsets: true,
  giveUpAfterSecs: 0,
} as const satisfies Partial<BackupOptions>;
