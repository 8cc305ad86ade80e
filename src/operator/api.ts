/** The operator's API: group, version, kinds, and the TypeScript shape of the resources. */
import type { SecretKeyRef } from './fields.ts';

export const GROUP = 'kafkabackup.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const KINDS = {
  KafkaBackup: { plural: 'kafkabackups', singular: 'kafkabackup', short: ['kb'] },
  KafkaRestore: { plural: 'kafkarestores', singular: 'kafkarestore', short: ['kbr'] },
  KafkaOffsetReset: { plural: 'kafkaoffsetresets', singular: 'kafkaoffsetreset', short: ['kbor'] },
  KafkaOffsetRollback: { plural: 'kafkaoffsetrollbacks', singular: 'kafkaoffsetrollback', short: ['kborb'] },
} as const;
export type Kind = keyof typeof KINDS;

/** Labels and annotations the operator sets and reads. */
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGER = 'kafka-backup-operator';
export const LABEL_KIND = `${GROUP}/kind`;
export const LABEL_OWNER = `${GROUP}/owner`;
export const ANNOTATION_SCHEDULED_AT = `${GROUP}/scheduled-at`;
/** Set (any value, e.g. a timestamp) to start a run now; the operator starts one run per distinct value. */
export const ANNOTATION_RUN_NOW = `${GROUP}/run-now`;
export const ANNOTATION_RUN_NOW_DONE = `${GROUP}/run-now-handled`;
export const ANNOTATION_SPEC_HASH = `${GROUP}/spec-hash`;

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
}

export interface StrimziClusterRef {
  name: string;
  namespace?: string;
  listener: string;
  /** a KafkaUser whose Secret holds the credentials (SCRAM password or TLS client certificate) */
  kafkaUser?: string;
}

export interface PodTemplate {
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  affinity?: unknown;
  serviceAccountName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  imagePullSecrets?: { name: string }[];
  securityContext?: unknown;
}

/** Fields every kind that runs Jobs shares. */
export interface JobSettings {
  image?: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  backoffLimit?: number;
  activeDeadlineSeconds?: number;
  resources?: unknown;
  podTemplate?: PodTemplate;
  logging?: { level?: string; format?: string };
}

/** camelCase config sections: their fields come from the CLI schema (see ./crds.ts). */
export type Section = Record<string, unknown>;

export interface KafkaBackupSpec extends JobSettings {
  backupId?: string;
  kafka?: Section;
  strimziClusterRef?: StrimziClusterRef;
  topics?: Section;
  storage: Section & { volume?: unknown };
  mode?: 'snapshot' | 'continuous';
  backup?: Section;
  maxMemoryBytes?: number;
  schedule?: { cron: string; timeZone?: string; suspend?: boolean; startingDeadlineSeconds?: number };
  retention?: {
    keepLast?: number;
    keepHourly?: number;
    keepDaily?: number;
    keepWeekly?: number;
    keepMonthly?: number;
    keepYearly?: number;
    keepWithin?: string;
    keepTags?: string[];
    maxAge?: string;
    prune?: boolean;
    pruneGrace?: string;
  };
  historyLimit?: number;
  deletionPolicy?: 'Retain';
}

export interface BackupRefSpec {
  backupRef?: { name: string };
  /** backup.encryption of a line read without backupRef */
  encryption?: Section;
  backupId?: string;
  storage?: Section & { volume?: unknown };
  kafka?: Section;
  strimziClusterRef?: StrimziClusterRef;
}

export interface KafkaRestoreSpec extends JobSettings, BackupRefSpec {
  snapshot?: string;
  restore?: Section;
  offsets?: Section;
  maxMemoryBytes?: number;
}

export interface KafkaOffsetResetSpec extends JobSettings, BackupRefSpec {
  groups: string[];
  groupMapping?: Record<string, string>;
  topicMapping?: Record<string, string>;
  restoreId?: string;
  strategy?: string;
  toDatetime?: string;
  toOffset?: number;
  pointInTime?: string;
  backupSnapshot?: string;
  dryRun?: boolean;
}

export interface KafkaOffsetRollbackSpec extends JobSettings, BackupRefSpec {
  offsetResetRef?: { name: string };
  snapshot?: string;
  groups?: string[];
  dryRun?: boolean;
}

export interface Condition {
  type: 'Ready' | 'Running' | 'Succeeded' | 'Failed';
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** One run's figures, from the CLI's summary (the container's termination message). */
export interface RunRecord {
  job: string;
  scheduledAt?: string;
  startedAt?: string;
  finishedAt?: string;
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  snapshotId?: string;
  restoreId?: string;
  applyId?: string;
  rollbackSnapshot?: string;
  records?: number;
  bytes?: number;
  storedBytes?: number;
  durationMs?: number;
  reason?: string;
  message?: string;
  /** Retention after this run: Forgetting, Pruning, Done, Failed (with retentionMessage). */
  retention?: 'Forgetting' | 'Pruning' | 'Done' | 'Failed';
  retentionMessage?: string;
}

export interface ResourceStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  phase?: string;
  lastRun?: RunRecord;
  nextRun?: string;
  lastScheduledTime?: string;
  history?: RunRecord[];
  progress?: { records?: number; bytes?: number; updatedAt?: string };
  backupId?: string;
  [key: string]: unknown;
}

export interface Resource<S> {
  apiVersion: string;
  kind: Kind;
  metadata: ObjectMeta;
  spec: S;
  status?: ResourceStatus;
}

export type SecretKeyReference = SecretKeyRef;
