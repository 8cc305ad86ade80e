/** What the restore engine needs, decoupled from the YAML config shape (the CLI maps one to the other). */
import type { TopicSelection } from '../backup/topic-patterns.ts';
import type { Snapshot } from '../format/manifest.ts';
import type { KafkaConnectionOptions } from '../kafka/client.ts';
import type { SchemaIdRewriting } from '../schema-registry/restore-ids.ts';
import type { StorageBackend } from '../storage/backend.ts';

export type RestoreCompression = 'source' | 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

export interface RestoreOptions {
  backupId: string;
  /** 'latest' (newest complete snapshot) or a snapshot id. */
  snapshot: string;
  storage: StorageBackend;
  /** Where restore state, mapping and report go when the backup location is read-only. */
  stateStorage?: StorageBackend;
  target: KafkaConnectionOptions;
  topics: TopicSelection;
  pointInTime?: number | undefined;
  timeWindowStart?: number | undefined;
  timeWindowEnd?: number | undefined;
  offsetWindow: Record<string, Record<string, { start?: number | undefined; end?: number | undefined }>>;
  topicMapping: Record<string, string>;
  partitionMapping: Record<string, Record<string, number>>;
  repartitioning: boolean;
  createTopics: boolean;
  replicationFactor?: number | undefined;
  topicConfigs: Record<string, Record<string, string>>;
  includeOriginalOffsetHeader: boolean;
  compression: RestoreCompression;
  allowEmpty: boolean;
  allowNonEmpty: boolean;
  /** Restore into existing target topics whose message.timestamp.type is LogAppendTime (their timestamps get rewritten). */
  allowLogAppendTimeTarget: boolean;
  purgeTopics: boolean;
  recreateTopics: boolean;
  dryRun: boolean;
  maxRecordsPerSec: number;
  maxBytesPerSec: number;
  maxConcurrentPartitions: number;
  restoreId?: string | undefined;
  giveUpAfterSecs: number;
  signal?: AbortSignal;
  onProgress?: (p: RestoreProgress) => void;
  /**
   * restore.schema_registry: prepares the target registry for the chosen snapshot (registers,
   * or in a dry run looks up) and gives each source topic's id rewriter (src/schema-registry).
   */
  schemaIds?: (snapshot: Snapshot, dryRun: boolean) => Promise<SchemaIdRewriting>;
  /** Called with the seconds from sending a produce request to its acknowledgement (metrics). */
  onProduced?: (seconds: number) => void;
}

export interface RestoreProgress {
  records: number;
  bytes: number;
  recordsTotal: number;
  partitionsDone: number;
  partitionsTotal: number;
}

export const restoreDefaults = {
  snapshot: 'latest',
  topics: {},
  offsetWindow: {},
  topicMapping: {},
  partitionMapping: {},
  repartitioning: false,
  createTopics: true,
  topicConfigs: {},
  includeOriginalOffsetHeader: false,
  compression: 'source',
  allowEmpty: false,
  allowNonEmpty: false,
  allowLogAppendTimeTarget: false,
  purgeTopics: false,
  recreateTopics: false,
  dryRun: false,
  maxRecordsPerSec: 0,
  maxBytesPerSec: 0,
  maxConcurrentPartitions: 8,
  giveUpAfterSecs: 0,
} as const satisfies Partial<RestoreOptions>;

/** Header names used when `include_original_offset_header` is on; values are UTF-8 decimal strings (topic: the name). */
export const ORIGINAL_HEADERS = {
  topic: 'kafka-backup.original.topic',
  partition: 'kafka-backup.original.partition',
  offset: 'kafka-backup.original.offset',
  timestamp: 'kafka-backup.original.timestamp',
} as const;
