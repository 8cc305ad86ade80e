/**
 * Inputs of the offset manager, found and checked before anything is planned:
 *
 *  - the restore (report, offset mapping artifact, plan.json baselines), checked against the
 *    backup: the mapping must name this backup, restore and snapshot, its bytes must have the
 *    digest the report recorded, and the manifest digest it carries must be one of the backup
 *    line's generations;
 *  - the source positions: a capture (the newest at or before the point in time, else the
 *    snapshot's own), or the committed offsets read live from the source cluster.
 */

import { isNotFound, UsageError } from '../errors.ts';
import type { Manifest } from '../format/manifest.ts';
import type { KafkaConnectionOptions } from '../kafka/client.ts';
import { BackupLine } from '../repository/line.ts';
import { digestOf, type OffsetMapping } from '../restore/offset-map.ts';
import { restoreKeys } from '../restore/state.ts';
import type { StorageBackend } from '../storage/backend.ts';
import type { CapturedGroupOffsets } from './capture.ts';
import { readGroupOffsets } from './capture.ts';
import { Cluster } from './cluster.ts';
import type { GroupOffsetsMap, OffsetPlan } from './model.ts';
import { chooseCapture, parseCaptureKey } from './translate.ts';

/** The parts of a restore's report.json the offset manager reads. */
export interface RestoreReport {
  restore_id: string;
  backup_id: string;
  snapshot_id: string;
  topics: { source: string; target: string; partitions: number; records: number }[];
  mapping_sha256?: string;
  /** Present when the restore engine records them (used to choose the capture). */
  point_in_time?: number;
  time_window_end?: number;
}

export interface RestoreContext {
  restoreId: string;
  report: RestoreReport;
  mapping: OffsetMapping | null;
  mappingKey: string;
  /** target topic -> partition -> end offset before the restore wrote (from plan.json). */
  baselines: Record<string, Record<string, number>> | null;
}

async function getJson<T>(storage: StorageBackend, key: string): Promise<{ value: T; bytes: Buffer } | null> {
  let bytes: Buffer;
  try {
    bytes = await storage.get(key);
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
  try {
    return { value: JSON.parse(bytes.toString('utf8')) as T, bytes };
  } catch (e) {
    throw new UsageError(`${storage.location}/${key} is not valid JSON: ${(e as Error).message}`, {
      hint: 'the file was damaged or edited; run the restore again to write it anew',
      code: 'BAD_RESTORE_STATE',
    });
  }
}

/** Ids of the restores of a backup that finished (have a report). */
export async function listRestores(state: StorageBackend, backupId: string): Promise<string[]> {
  const prefix = restoreKeys.dir(backupId, '').replace(/\/$/, '');
  const out: string[] = [];
  for await (const o of state.list(prefix)) {
    const m = /\/restores\/([^/]+)\/report\.json$/.exec(o.key);
    if (m) out.push(m[1]!);
  }
  return out.sort();
}

/**
 * The restore to translate against: `restoreId`, or the only finished restore of the backup.
 * Null when none was named and none exists. Checks the mapping against the report and the line.
 */
export async function loadRestore(
  state: StorageBackend,
  lineStorage: StorageBackend,
  backupId: string,
  restoreId: string | undefined,
): Promise<RestoreContext | null> {
  let id = restoreId;
  if (!id) {
    const all = await listRestores(state, backupId);
    if (all.length === 0) return null;
    if (all.length > 1)
      throw new UsageError(`backup ${backupId} has ${all.length} restores; say which one the offsets follow`, {
        hint: `pass --restore-id (or restore.restore_id): ${all.join(', ')}`,
        code: 'AMBIGUOUS_RESTORE',
      });
    id = all[0]!;
  }
  const report = await getJson<RestoreReport>(state, restoreKeys.report(backupId, id));
  if (!report) {
    const all = await listRestores(state, backupId);
    throw new UsageError(`backup ${backupId} has no finished restore '${id}' in ${state.location}`, {
      hint: all.length
        ? `finished restores: ${all.join(', ')}`
        : 'run the restore first (or point --state-path / restore.state_url at where its state was written)',
      code: 'UNKNOWN_RESTORE',
    });
  }
  const r = report.value;
  if (r.backup_id !== backupId || r.restore_id !== id)
    throw new UsageError(
      `restore report ${restoreKeys.report(backupId, id)} names backup ${r.backup_id} and restore ${r.restore_id}, not ${backupId}/${id}`,
      { hint: 'the restore state was copied from elsewhere; run the restore again', code: 'MAPPING_MISMATCH' },
    );
  const mappingKey = restoreKeys.mapping(backupId, id);
  const m = await getJson<OffsetMapping>(state, mappingKey);
  let mapping: OffsetMapping | null = null;
  if (m) {
    await checkMapping(m.value, m.bytes, r, backupId, id, lineStorage, mappingKey);
    mapping = m.value;
  }
  const plan = await getJson<{ baselines?: Record<string, Record<string, number>> }>(
    state,
    restoreKeys.plan(backupId, id),
  );
  return { restoreId: id, report: r, mapping, mappingKey, baselines: plan?.value.baselines ?? null };
}

async function checkMapping(
  mapping: OffsetMapping,
  bytes: Buffer,
  report: RestoreReport,
  backupId: string,
  restoreId: string,
  lineStorage: StorageBackend,
  key: string,
): Promise<void> {
  const bad = (what: string): never => {
    throw new UsageError(`offset map ${key} does not belong to this restore: ${what}`, {
      hint: 'it was replaced or edited after the restore; run the same restore again (it rewrites the map) or use --strategy header|timestamp',
      code: 'MAPPING_MISMATCH',
    });
  };
  if (mapping.format !== 'kafka-backup/offset-map') bad(`unknown format ${String(mapping.format)}`);
  if (mapping.backup_id !== backupId) bad(`it names backup ${mapping.backup_id}, not ${backupId}`);
  if (mapping.restore_id !== restoreId) bad(`it names restore ${mapping.restore_id}, not ${restoreId}`);
  if (mapping.snapshot_id !== report.snapshot_id)
    bad(`it names snapshot ${mapping.snapshot_id}, the report says ${report.snapshot_id}`);
  if (report.mapping_sha256 && digestOf(bytes) !== report.mapping_sha256)
    bad(
      `its SHA-256 ${digestOf(bytes).slice(0, 12)}… differs from the report's ${report.mapping_sha256.slice(0, 12)}…`,
    );
  if (!(await new BackupLine(lineStorage, backupId).knowsDigest(mapping.manifest_sha256, mapping.manifest_seq)))
    bad(
      `manifest digest ${String(mapping.manifest_sha256).slice(0, 12)}… is not one of backup ${backupId}'s manifest generations`,
    );
}

// ---------------------------------------------------------------------------------------------
// source positions

export interface SourcePositions {
  groups: GroupOffsetsMap;
  from: OffsetPlan['offsets_from'];
  notes: string[];
}

/** Every capture of the line, parsed from the keys. */
async function listCaptures(storage: StorageBackend, backupId: string) {
  const out = [];
  for await (const o of storage.list(`${backupId}/consumer-offsets/`)) {
    const c = parseCaptureKey(o.key);
    if (c) out.push(c);
  }
  return out;
}

export async function positionsFromCapture(
  storage: StorageBackend,
  manifest: Manifest,
  snapshotId: string,
  cutoff: number | undefined,
): Promise<SourcePositions> {
  const snapshot = manifest.snapshots.find((s) => s.id === snapshotId);
  const captures = await listCaptures(storage, manifest.backup_id);
  const choice = chooseCapture(
    captures,
    manifest.snapshots.map((s) => s.id),
    snapshotId,
    cutoff,
    snapshot?.consumer_offsets,
  );
  if (!choice)
    throw new UsageError(`backup ${manifest.backup_id} has no captured consumer offsets for snapshot ${snapshotId}`, {
      hint: 'enable backup.capture_offsets and back up again, or read the positions live with --source-bootstrap (or --live-source with the config source)',
      code: 'NO_CAPTURE',
    });
  const doc = await getJson<CapturedGroupOffsets>(storage, choice.capture.key);
  if (doc?.value.format !== 'kafka-backup/consumer-offsets')
    throw new UsageError(`capture ${choice.capture.key} is missing or not a consumer-offsets capture`, {
      code: 'NO_CAPTURE',
    });
  const groups: GroupOffsetsMap = {};
  for (const [g, topics] of Object.entries(doc.value.groups))
    for (const [t, parts] of Object.entries(topics))
      for (const [p, c] of Object.entries(parts))
        ((groups[g] ??= {})[t] ??= {})[p] = { offset: c.offset, metadata: c.metadata };
  return {
    groups,
    from: {
      kind: 'capture',
      key: choice.capture.key,
      captured_at: doc.value.captured_at,
      snapshot_id: doc.value.snapshot_id,
    },
    notes: choice.note ? [choice.note] : [],
  };
}

export async function positionsFromLive(conn: KafkaConnectionOptions, topics: Set<string>): Promise<SourcePositions> {
  const source = new Cluster(conn, 'source');
  try {
    const raw = await source.k('reading committed offsets on the source cluster', () =>
      readGroupOffsets(source.admin, topics),
    );
    const groups: GroupOffsetsMap = {};
    for (const [g, ts] of Object.entries(raw))
      for (const [t, parts] of Object.entries(ts))
        for (const [p, c] of Object.entries(parts))
          ((groups[g] ??= {})[t] ??= {})[p] = { offset: c.offset, metadata: c.metadata };
    return {
      groups,
      from: { kind: 'live', bootstrap_servers: conn.bootstrap_servers, read_at: new Date().toISOString() },
      notes: [],
    };
  } finally {
    await source.close();
  }
}
