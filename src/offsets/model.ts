/**
 * Documents of the offset manager: the plan, the target-offset snapshots taken before every
 * change (rollback points), and the apply records that verify compares with. All are JSON
 * objects in the state storage (the backup location, or restore.state_url):
 *
 *   <backup_id>/offsets/snapshots/<snapshot_id>.json
 *   <backup_id>/offsets/applies/<apply_id>.json
 *
 * Ids start with a UTC time stamp so they sort by creation.
 */
import { randomBytes } from 'node:crypto';
import type { OFFSET_STRATEGIES } from '../config/schema.ts';

export type OffsetStrategy = (typeof OFFSET_STRATEGIES)[number];

export interface Commit {
  offset: number;
  metadata: string | null;
}

/** group -> topic -> partition -> committed offset */
export type GroupOffsetsMap = Record<string, Record<string, Record<string, Commit>>>;

export interface GroupStatus {
  source_group: string;
  group: string;
  /** Target group state (Empty, Stable, ...), or 'absent' when the group does not exist there. */
  state: string;
  members: number;
  active: boolean;
}

export interface PlanEntry {
  /** Target group. */
  group: string;
  source_group: string;
  /** Target topic and partition. */
  topic: string;
  partition: number;
  source_topic: string;
  /** The committed source partition and offset this entry comes from (null when several or none). */
  source_partition: number | null;
  source_offset: number | null;
  /** When several source partitions feed this target partition: all of them. */
  sources?: { partition: number; offset: number }[];
  target_offset: number;
  /** The strategy used for this entry (may differ from the one asked for, see note). */
  strategy: OffsetStrategy;
  /** How the offset was found: record, next-record, before-first, after-last, no-restored-record, by-timestamp, end, earliest, latest, ... */
  rule: string;
  metadata: string | null;
  current_offset: number | null;
  end_offset: number;
  /** Records between the new position and the end of the target partition (read_committed). */
  lag: number;
  action: 'set' | 'unchanged';
  note?: string;
}

export interface OffsetPlan {
  format: 'kafka-backup/offset-plan';
  version: 1;
  created_at: string;
  backup_id: string;
  snapshot_id: string | null;
  restore_id: string | null;
  strategy: OffsetStrategy;
  /** Where the source positions came from. */
  offsets_from:
    | { kind: 'capture'; key: string; captured_at: string; snapshot_id: string }
    | { kind: 'live'; bootstrap_servers: string[]; read_at: string }
    | { kind: 'none' };
  target: { bootstrap_servers: string[] };
  groups: GroupStatus[];
  entries: PlanEntry[];
  /** Groups matched by a pattern but left out, with the reason. */
  skipped: { group: string; reason: string }[];
  notes: string[];
}

export interface OffsetSnapshotDoc {
  format: 'kafka-backup/offset-snapshot';
  version: 1;
  id: string;
  created_at: string;
  backup_id: string;
  reason: string;
  target: { bootstrap_servers: string[] };
  groups: Record<string, { existed: boolean; state: string; offsets: Record<string, Record<string, Commit>> }>;
}

export type ChangeAction = 'set' | 'unchanged' | 'deleted' | 'group-deleted' | 'failed';

export interface ChangeRow {
  group: string;
  topic: string;
  partition: number;
  from: number | null;
  to: number | null;
  action: ChangeAction;
  error?: string;
}

export interface ApplyRecord {
  format: 'kafka-backup/offset-apply';
  version: 1;
  id: string;
  created_at: string;
  backup_id: string;
  restore_id: string | null;
  snapshot_id: string | null;
  /** Offset snapshot taken before writing (null when nothing had to change). */
  rollback_snapshot: string | null;
  plan: OffsetPlan;
  changes: ChangeRow[];
}

export const offsetKeys = {
  snapshotDir: (backupId: string) => `${backupId}/offsets/snapshots/`,
  snapshot: (backupId: string, id: string) => `${backupId}/offsets/snapshots/${id}.json`,
  applyDir: (backupId: string) => `${backupId}/offsets/applies/`,
  apply: (backupId: string, id: string) => `${backupId}/offsets/applies/${id}.json`,
};

/** `<prefix>-20250101T120000123Z-a1b2c3`: sorts by creation time. */
export function newId(prefix: string, now = new Date()): string {
  return `${prefix}-${now.toISOString().replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`;
}

export function idFromKey(key: string): string | null {
  const m = /\/([^/]+)\.json$/.exec(key);
  return m ? m[1]! : null;
}
