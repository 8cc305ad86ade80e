/**
 * The offset manager's operations: plan, apply (snapshot first, then commit, then read back),
 * snapshot, rollback, verify, show-mapping; and applyGroupsAfterRestore for the restore command.
 *
 * Safety: nothing is written while any selected group has active members, and every apply
 * saves the groups' current offsets first (a rollback point). Idempotent: entries whose offset
 * and metadata are already in place are reported "unchanged" and not written again.
 */
import { IntegrityError, isNotFound, KafkaError, PartialFailureError, UsageError } from '../errors.ts';
import type { KafkaConnectionOptions } from '../kafka/client.ts';
import { openExistingLine } from '../repository/line.ts';
import { chooseSnapshot } from '../restore/plan.ts';
import type { RestoreResult } from '../restore/result.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { logger } from '../util/log.ts';
import { Cluster, type GroupState, pool } from './cluster.ts';
import {
  loadRestore,
  positionsFromCapture,
  positionsFromLive,
  type RestoreContext,
  type SourcePositions,
} from './context.ts';
import {
  type ApplyRecord,
  type ChangeRow,
  type Commit,
  type GroupOffsetsMap,
  idFromKey,
  newId,
  type OffsetPlan,
  type OffsetSnapshotDoc,
  type OffsetStrategy,
  offsetKeys,
} from './model.ts';
import { buildOffsetPlan, commitOf, type PlanOutcome, sameMetadata } from './planner.ts';
import { selectGroups } from './translate.ts';

const log = logger('offsets');

export interface OffsetsRequest {
  /** The backup location. */
  storage: StorageBackend;
  /** Where restore state and offset snapshots/apply records live (default: the backup location). */
  stateStorage?: StorageBackend | undefined;
  backupId: string;
  restoreId?: string | undefined;
  /** Backup snapshot, when no restore is followed ('latest' by default). */
  snapshot?: string | undefined;
  target: KafkaConnectionOptions;
  /** Read the source positions live from this cluster instead of a capture. */
  source?: KafkaConnectionOptions | undefined;
  /** Source group names and patterns (empty: every group). */
  groups: string[];
  groupMapping: Record<string, string>;
  /** Topic names on the target when no restore is followed. */
  topicMapping: Record<string, string>;
  strategy: OffsetStrategy;
  toDatetime?: number | undefined;
  toOffset?: number | undefined;
  /** Chooses the capture: the newest at or before it (default: the restore's, if recorded). */
  pointInTime?: number | undefined;
  maxConcurrentGroups: number;
}

function stateOf(req: { storage: StorageBackend; stateStorage?: StorageBackend | undefined }): StorageBackend {
  return req.stateStorage ?? req.storage;
}

async function prepareAndPlan(
  req: OffsetsRequest,
  target: Cluster,
): Promise<PlanOutcome & { restore: RestoreContext | null }> {
  const { manifest } = await openExistingLine(req.storage, req.backupId);
  const restore = await loadRestore(stateOf(req), req.storage, req.backupId, req.restoreId);
  const snapshotId = restore?.report.snapshot_id ?? chooseSnapshot(manifest, req.snapshot ?? 'latest').id;
  const cutoff = req.pointInTime ?? restore?.report.point_in_time ?? restore?.report.time_window_end;
  let positions: SourcePositions;
  if (req.source) {
    const topics = new Set(restore ? restore.report.topics.map((t) => t.source) : Object.keys(manifest.topics));
    positions = await positionsFromLive(req.source, topics);
  } else positions = await positionsFromCapture(req.storage, manifest, snapshotId, cutoff);
  const outcome = await buildOffsetPlan({
    backupId: req.backupId,
    manifest,
    storage: req.storage,
    snapshotId,
    restore,
    topicMapping: req.topicMapping,
    positions,
    target,
    groups: req.groups,
    groupMapping: req.groupMapping,
    strategy: req.strategy,
    toDatetime: req.toDatetime,
    toOffset: req.toOffset,
    concurrency: req.maxConcurrentGroups,
  });
  return { ...outcome, restore };
}

export async function planOffsets(req: OffsetsRequest): Promise<OffsetPlan> {
  const target = new Cluster(req.target, 'target', Math.min(req.maxConcurrentGroups, 8));
  try {
    return (await prepareAndPlan(req, target)).plan;
  } finally {
    await target.close();
  }
}

function activeError(groups: { group: string; state: string; members: number }[]): KafkaError {
  return new KafkaError(
    `consumer group(s) with active members on the target: ${groups.map((g) => `${g.group} (${g.state}${g.members ? `, ${g.members} member(s)` : ''})`).join(', ')}; Kafka refuses offset commits from outside an active group, nothing was written`,
    {
      hint: 'stop every consumer of these groups (or wait for their session timeout), then run the command again',
      code: 'GROUP_ACTIVE',
    },
  );
}

export interface ApplyResult {
  plan: OffsetPlan;
  executed: boolean;
  apply_id: string | null;
  /** Offset snapshot taken before writing; `offsets rollback --snapshot <id>` undoes the apply. */
  rollback_snapshot: string | null;
  changes: ChangeRow[];
  counts: { set: number; unchanged: number; failed: number };
}

export async function applyOffsets(req: OffsetsRequest, options: { execute: boolean }): Promise<ApplyResult> {
  const target = new Cluster(req.target, 'target', Math.min(req.maxConcurrentGroups, 8));
  try {
    const { plan } = await prepareAndPlan(req, target);
    const changes: ChangeRow[] = plan.entries.map((e) => ({
      group: e.group,
      topic: e.topic,
      partition: e.partition,
      from: e.current_offset,
      to: e.target_offset,
      action: e.action,
    }));
    const count = () => ({
      set: changes.filter((c) => c.action === 'set').length,
      unchanged: changes.filter((c) => c.action === 'unchanged').length,
      failed: changes.filter((c) => c.action === 'failed').length,
    });
    if (!options.execute)
      return { plan, executed: false, apply_id: null, rollback_snapshot: null, changes, counts: count() };
    const active = plan.groups.filter((g) => g.active);
    if (active.length) throw activeError(active);

    const applyId = newId('apply');
    const toWrite = new Map<string, typeof plan.entries>();
    for (const e of plan.entries) if (e.action === 'set') toWrite.set(e.group, [...(toWrite.get(e.group) ?? []), e]);
    let rollback: string | null = null;
    if (toWrite.size) {
      const snap = await takeSnapshot(
        target,
        stateOf(req),
        req.backupId,
        [...toWrite.keys()],
        `before apply ${applyId}`,
        req.maxConcurrentGroups,
      );
      // a consumer may have joined since the plan was read
      const nowActive = Object.entries(snap.groups).filter(([, g]) => !isIdleState(g.state));
      if (nowActive.length) throw activeError(nowActive.map(([group, g]) => ({ group, state: g.state, members: 0 })));
      rollback = snap.id;
      const failures: { what: string; error: Error }[] = [];
      await pool([...toWrite], req.maxConcurrentGroups, async ([group, entries]) => {
        try {
          await target.commit(
            group,
            entries.map((e) => ({ topic: e.topic, partition: e.partition, commit: commitOf(e) })),
          );
        } catch (e) {
          failures.push({ what: group, error: e as Error });
          for (const c of changes)
            if (c.group === group && c.action === 'set') {
              c.action = 'failed';
              c.error = (e as Error).message;
            }
        }
      });
      // read back what was written
      const written = [...toWrite.keys()].filter((g) => !failures.some((f) => f.what === g));
      const back = await target.readOffsets(written, req.maxConcurrentGroups);
      for (const c of changes) {
        if (c.action !== 'set') continue;
        const got = back[c.group]?.[c.topic]?.[String(c.partition)];
        if (!got || got.offset !== c.to) {
          c.action = 'failed';
          c.error = `read back ${got ? got.offset : 'no offset'} instead of ${c.to}`;
        }
      }
    }
    const record: ApplyRecord = {
      format: 'kafka-backup/offset-apply',
      version: 1,
      id: applyId,
      created_at: new Date().toISOString(),
      backup_id: req.backupId,
      restore_id: plan.restore_id,
      snapshot_id: plan.snapshot_id,
      rollback_snapshot: rollback,
      plan,
      changes,
    };
    await stateOf(req).put(offsetKeys.apply(req.backupId, applyId), Buffer.from(JSON.stringify(record, null, 1)), {
      ifAbsent: true,
    });
    const counts = count();
    log.info('offsets applied', { apply_id: applyId, ...counts, rollback_snapshot: rollback });
    return { plan, executed: true, apply_id: applyId, rollback_snapshot: rollback, changes, counts };
  } finally {
    await target.close();
  }
}

/** Throws PartialFailureError (exit 4) when some groups could not be written. */
export function assertApplied(r: ApplyResult): void {
  const failed = r.changes.filter((c) => c.action === 'failed');
  if (!failed.length) return;
  const groups = [...new Set(failed.map((f) => f.group))];
  throw new PartialFailureError(
    `offsets of ${groups.length} group(s) were not applied: ${groups.slice(0, 10).join(', ')}${groups.length > 10 ? ', …' : ''} (${failed[0]!.error ?? 'failed'})`,
    failed.map((f) => ({ what: `${f.group} ${f.topic}-${f.partition}`, error: new Error(f.error ?? 'failed') })),
    {
      hint: r.rollback_snapshot
        ? `fix the cause and run apply again (it only writes what is still missing), or undo with: kafka-backup offsets rollback --snapshot ${r.rollback_snapshot}`
        : 'fix the cause and run apply again',
    },
  );
}

function isIdleState(state: string): boolean {
  return state === 'Empty' || state === 'Dead' || state === 'absent';
}

// ---------------------------------------------------------------------------------------------
// snapshots

async function takeSnapshot(
  target: Cluster,
  state: StorageBackend,
  backupId: string,
  groups: string[],
  reason: string,
  concurrency: number,
  states?: Map<string, GroupState>,
): Promise<OffsetSnapshotDoc> {
  const [st, offsets] = await Promise.all([
    states ? Promise.resolve(states) : target.groupStates(groups),
    target.readOffsets(groups, concurrency),
  ]);
  const id = newId('os');
  const doc: OffsetSnapshotDoc = {
    format: 'kafka-backup/offset-snapshot',
    version: 1,
    id,
    created_at: new Date().toISOString(),
    backup_id: backupId,
    reason,
    target: { bootstrap_servers: target.conn.bootstrap_servers },
    groups: {},
  };
  for (const g of [...groups].sort()) {
    const s = st.get(g) ?? { state: 'absent', members: 0, active: false };
    doc.groups[g] = { existed: s.state !== 'absent' && s.state !== 'Dead', state: s.state, offsets: offsets[g] ?? {} };
  }
  await state.put(offsetKeys.snapshot(backupId, id), Buffer.from(JSON.stringify(doc, null, 1)), { ifAbsent: true });
  return doc;
}

export interface SnapshotRequest {
  stateStorage: StorageBackend;
  backupId: string;
  target: KafkaConnectionOptions;
  /** Target group names and patterns; empty: every group on the target. */
  groups: string[];
  reason?: string;
  maxConcurrentGroups: number;
}

/** Saves the target's current offsets of the groups (named groups that do not exist are recorded as absent). */
export async function snapshotOffsets(req: SnapshotRequest): Promise<OffsetSnapshotDoc> {
  const target = new Cluster(req.target, 'target', Math.min(req.maxConcurrentGroups, 8));
  try {
    const all = await target.listGroups();
    const sel = selectGroups(all.keys(), req.groups);
    const groups = [...new Set([...sel.selected, ...sel.unknown])];
    if (groups.length === 0)
      throw new UsageError(`no group on the target matches ${req.groups.join(', ') || '*'}`, {
        hint: `groups there: ${[...all.keys()].sort().slice(0, 20).join(', ') || 'none'}`,
        code: 'NO_GROUPS',
      });
    const states = await target.groupStates(groups, all);
    return await takeSnapshot(
      target,
      req.stateStorage,
      req.backupId,
      groups,
      req.reason ?? 'manual',
      req.maxConcurrentGroups,
      states,
    );
  } finally {
    await target.close();
  }
}

export async function listOffsetSnapshots(state: StorageBackend, backupId: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of state.list(offsetKeys.snapshotDir(backupId))) {
    const id = idFromKey(o.key);
    if (id) out.push(id);
  }
  return out.sort();
}

export async function readOffsetSnapshot(
  state: StorageBackend,
  backupId: string,
  id: string,
): Promise<OffsetSnapshotDoc> {
  try {
    const doc = JSON.parse((await state.get(offsetKeys.snapshot(backupId, id))).toString('utf8')) as OffsetSnapshotDoc;
    if (doc.format !== 'kafka-backup/offset-snapshot') throw new SyntaxError('not an offset snapshot');
    return doc;
  } catch (e) {
    if (isNotFound(e)) {
      const ids = await listOffsetSnapshots(state, backupId);
      throw new UsageError(`backup ${backupId} has no offset snapshot '${id}' in ${state.location}`, {
        hint: ids.length
          ? `offset snapshots: ${ids.slice(-20).join(', ')}`
          : "take one with 'kafka-backup offsets snapshot'",
        code: 'UNKNOWN_OFFSET_SNAPSHOT',
      });
    }
    if (e instanceof SyntaxError)
      throw new IntegrityError(`offset snapshot ${id} is unreadable: ${e.message}`, [
        offsetKeys.snapshot(backupId, id),
      ]);
    throw e;
  }
}

export interface RollbackResult {
  snapshot_id: string;
  executed: boolean;
  /** Snapshot of the state the rollback replaced (so a rollback can itself be undone). */
  pre_rollback_snapshot: string | null;
  changes: ChangeRow[];
  counts: { set: number; deleted: number; unchanged: number; groups_deleted: number };
}

export interface RollbackRequest {
  stateStorage: StorageBackend;
  backupId: string;
  target: KafkaConnectionOptions;
  snapshotId: string;
  maxConcurrentGroups: number;
  dryRun?: boolean;
}

/** Puts every group of the snapshot back exactly: offsets set, offsets added since deleted, groups created since deleted. */
export async function rollbackOffsets(req: RollbackRequest): Promise<RollbackResult> {
  const doc = await readOffsetSnapshot(req.stateStorage, req.backupId, req.snapshotId);
  const target = new Cluster(req.target, 'target', Math.min(req.maxConcurrentGroups, 8));
  try {
    const groups = Object.keys(doc.groups);
    const [states, current] = await Promise.all([
      target.groupStates(groups),
      target.readOffsets(groups, req.maxConcurrentGroups),
    ]);
    const active = groups
      .map((g) => ({ group: g, ...(states.get(g) ?? { state: 'absent', members: 0, active: false }) }))
      .filter((g) => g.active);
    if (active.length) throw activeError(active);
    const changes = diffToSnapshot(doc, current, states);
    const counts = () => ({
      set: changes.filter((c) => c.action === 'set').length,
      deleted: changes.filter((c) => c.action === 'deleted').length,
      unchanged: changes.filter((c) => c.action === 'unchanged').length,
      groups_deleted: changes.filter((c) => c.action === 'group-deleted').length,
    });
    const todo = changes.filter((c) => c.action !== 'unchanged');
    if (req.dryRun || todo.length === 0)
      return { snapshot_id: doc.id, executed: false, pre_rollback_snapshot: null, changes, counts: counts() };
    const pre = await takeSnapshot(
      target,
      req.stateStorage,
      req.backupId,
      groups,
      `before rollback to ${doc.id}`,
      req.maxConcurrentGroups,
      states,
    );
    const byGroup = new Map<string, ChangeRow[]>();
    for (const c of todo) byGroup.set(c.group, [...(byGroup.get(c.group) ?? []), c]);
    await pool([...byGroup], req.maxConcurrentGroups, async ([group, rows]) => {
      const sets = rows.filter((r) => r.action === 'set');
      await target.commit(
        group,
        sets.map((r) => ({
          topic: r.topic,
          partition: r.partition,
          commit: doc.groups[group]!.offsets[r.topic]![String(r.partition)]!,
        })),
      );
      const dels = new Map<string, number[]>();
      for (const r of rows.filter((x) => x.action === 'deleted'))
        dels.set(r.topic, [...(dels.get(r.topic) ?? []), r.partition]);
      for (const [topic, parts] of dels) await target.deleteOffsets(group, topic, parts);
      if (rows.some((r) => r.action === 'group-deleted')) await target.deleteGroup(group);
    });
    // read back: the groups must hold exactly the snapshot's offsets
    const back = await target.readOffsets(groups, req.maxConcurrentGroups);
    const left = diffToSnapshot(doc, back, await target.groupStates(groups)).filter((c) => c.action !== 'unchanged');
    if (left.length)
      throw new IntegrityError(
        `after the rollback ${left.length} offset(s) still differ from snapshot ${doc.id}: ${left
          .slice(0, 5)
          .map((c) => `${c.group} ${c.topic}-${c.partition}`)
          .join(', ')}`,
        [],
        {
          hint: `a consumer may have committed meanwhile; stop it and run the rollback again (the state before it is snapshot ${pre.id})`,
        },
      );
    log.info('offsets rolled back', { snapshot: doc.id, pre_rollback_snapshot: pre.id });
    return { snapshot_id: doc.id, executed: true, pre_rollback_snapshot: pre.id, changes, counts: counts() };
  } finally {
    await target.close();
  }
}

export function diffToSnapshot(
  doc: OffsetSnapshotDoc,
  current: GroupOffsetsMap,
  states: Map<string, GroupState>,
): ChangeRow[] {
  const rows: ChangeRow[] = [];
  for (const [group, g] of Object.entries(doc.groups)) {
    const cur = current[group] ?? {};
    const topics = new Set([...Object.keys(g.offsets), ...Object.keys(cur)]);
    for (const topic of [...topics].sort()) {
      const want = g.offsets[topic] ?? {};
      const have = cur[topic] ?? {};
      const parts = new Set([...Object.keys(want), ...Object.keys(have)].map(Number));
      for (const p of [...parts].sort((a, b) => a - b)) {
        const w: Commit | undefined = want[String(p)];
        const h: Commit | undefined = have[String(p)];
        if (w && h && w.offset === h.offset && sameMetadata(w.metadata, h.metadata))
          rows.push({ group, topic, partition: p, from: h.offset, to: w.offset, action: 'unchanged' });
        else if (w) rows.push({ group, topic, partition: p, from: h?.offset ?? null, to: w.offset, action: 'set' });
        else rows.push({ group, topic, partition: p, from: h!.offset, to: null, action: 'deleted' });
      }
    }
    const st = states.get(group)?.state ?? 'absent';
    if (!g.existed && st !== 'absent' && st !== 'Dead')
      rows.push({ group, topic: '', partition: -1, from: null, to: null, action: 'group-deleted' });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// verify

export interface VerifyRow {
  group: string;
  topic: string;
  partition: number;
  expected: number;
  actual: number | null;
  status: 'ok' | 'mismatch' | 'missing';
}

export interface VerifyResult {
  apply_id: string | null;
  restore_id: string | null;
  ok: boolean;
  rows: VerifyRow[];
  mismatches: number;
}

export async function listApplies(state: StorageBackend, backupId: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of state.list(offsetKeys.applyDir(backupId))) {
    const id = idFromKey(o.key);
    if (id) out.push(id);
  }
  return out.sort();
}

export async function readApply(state: StorageBackend, backupId: string, id: string): Promise<ApplyRecord> {
  try {
    return JSON.parse((await state.get(offsetKeys.apply(backupId, id))).toString('utf8')) as ApplyRecord;
  } catch (e) {
    if (isNotFound(e)) {
      const ids = await listApplies(state, backupId);
      throw new UsageError(`backup ${backupId} has no offset apply '${id}'`, {
        hint: ids.length
          ? `applies: ${ids.slice(-20).join(', ')}`
          : "nothing was applied yet: run 'kafka-backup offsets apply --execute'",
        code: 'UNKNOWN_APPLY',
      });
    }
    throw e;
  }
}

/**
 * Reads the target's offsets back and compares them with the newest apply (or `applyId`; with
 * `restoreId`, the newest apply that followed that restore). Without any apply, with the plan
 * as it would be computed now (`fallback`).
 */
export async function verifyOffsets(req: {
  stateStorage: StorageBackend;
  backupId: string;
  target: KafkaConnectionOptions;
  applyId?: string | undefined;
  restoreId?: string | undefined;
  maxConcurrentGroups: number;
  fallback?: () => Promise<OffsetPlan>;
}): Promise<VerifyResult> {
  let record: ApplyRecord | null = null;
  if (req.applyId) record = await readApply(req.stateStorage, req.backupId, req.applyId);
  else {
    const ids = (await listApplies(req.stateStorage, req.backupId)).reverse();
    for (const id of ids) {
      const r = await readApply(req.stateStorage, req.backupId, id);
      if (!req.restoreId || r.restore_id === req.restoreId) {
        record = r;
        break;
      }
    }
  }
  let plan: OffsetPlan;
  if (record) plan = record.plan;
  else if (req.fallback) plan = await req.fallback();
  else
    throw new UsageError(`nothing to verify: backup ${req.backupId} has no offset apply`, {
      hint: "run 'kafka-backup offsets apply --execute' first",
      code: 'UNKNOWN_APPLY',
    });
  const target = new Cluster(req.target, 'target', Math.min(req.maxConcurrentGroups, 8));
  try {
    const groups = [...new Set(plan.entries.map((e) => e.group))];
    const cur = await target.readOffsets(groups, req.maxConcurrentGroups);
    const rows: VerifyRow[] = plan.entries.map((e) => {
      const got = cur[e.group]?.[e.topic]?.[String(e.partition)];
      return {
        group: e.group,
        topic: e.topic,
        partition: e.partition,
        expected: e.target_offset,
        actual: got?.offset ?? null,
        status: !got ? 'missing' : got.offset === e.target_offset ? 'ok' : 'mismatch',
      };
    });
    const mismatches = rows.filter((r) => r.status !== 'ok').length;
    return { apply_id: record?.id ?? null, restore_id: plan.restore_id, ok: mismatches === 0, rows, mismatches };
  } finally {
    await target.close();
  }
}

// ---------------------------------------------------------------------------------------------
// show-mapping

export interface MappingRow {
  target_topic: string;
  target_partition: number;
  source_topic: string;
  source_partition: number;
  source_first: number;
  source_last: number;
  target_first: number;
  target_last: number;
  records: number;
}

export interface MappingView {
  restore_id: string;
  backup_id: string;
  snapshot_id: string;
  manifest_sha256: string;
  created_at: string;
  partitions: {
    target_topic: string;
    target_partition: number;
    source_topic: string;
    source_partitions: number[];
    records: number;
    runs: number;
    target_first: number | null;
    target_end: number | null;
    source_first: number | null;
    source_last: number | null;
    /** Source offsets inside [first, last] with no restored record (compaction, transactions, windows). */
    source_gaps: number;
  }[];
  runs: MappingRow[];
}

export async function showMapping(req: {
  storage: StorageBackend;
  stateStorage?: StorageBackend | undefined;
  backupId: string;
  restoreId?: string | undefined;
}): Promise<MappingView> {
  await openExistingLine(req.storage, req.backupId);
  const restore = await loadRestore(stateOf(req), req.storage, req.backupId, req.restoreId);
  if (!restore)
    throw new UsageError(`backup ${req.backupId} has no finished restore in ${stateOf(req).location}`, {
      hint: 'run the restore first, or point --state-path at where its state was written',
      code: 'UNKNOWN_RESTORE',
    });
  const m = restore.mapping;
  if (!m)
    throw new UsageError(`restore ${restore.restoreId} has no offset map (${restore.mappingKey})`, {
      hint: 'the restore did not finish; run it again to completion',
      code: 'NO_MAPPING',
    });
  const view: MappingView = {
    restore_id: m.restore_id,
    backup_id: m.backup_id,
    snapshot_id: m.snapshot_id,
    manifest_sha256: m.manifest_sha256,
    created_at: m.created_at,
    partitions: [],
    runs: [],
  };
  for (const [tt, t] of Object.entries(m.topics).sort(([a], [b]) => a.localeCompare(b))) {
    for (const [tp, runs] of Object.entries(t.partitions).sort(([a], [b]) => Number(a) - Number(b))) {
      const records = runs.reduce((s, r) => s + r[3], 0);
      const bySource = new Map<number, { first: number; last: number; records: number }>();
      for (const [sp, s, tOff, n] of runs) {
        view.runs.push({
          target_topic: tt,
          target_partition: Number(tp),
          source_topic: t.source_topic,
          source_partition: sp,
          source_first: s,
          source_last: s + n - 1,
          target_first: tOff,
          target_last: tOff + n - 1,
          records: n,
        });
        const b = bySource.get(sp) ?? { first: s, last: s + n - 1, records: 0 };
        b.first = Math.min(b.first, s);
        b.last = Math.max(b.last, s + n - 1);
        b.records += n;
        bySource.set(sp, b);
      }
      const first = runs[0];
      const lastRun = runs[runs.length - 1];
      const src = [...bySource.values()];
      view.partitions.push({
        target_topic: tt,
        target_partition: Number(tp),
        source_topic: t.source_topic,
        source_partitions: [...bySource.keys()].sort((a, b) => a - b),
        records,
        runs: runs.length,
        target_first: first ? first[2] : null,
        target_end: lastRun ? lastRun[2] + lastRun[3] : null,
        source_first: src.length ? Math.min(...src.map((x) => x.first)) : null,
        source_last: src.length ? Math.max(...src.map((x) => x.last)) : null,
        source_gaps: src.reduce((s, x) => s + (x.last - x.first + 1 - x.records), 0),
      });
    }
  }
  return view;
}

// ---------------------------------------------------------------------------------------------
// for the restore command

export interface AfterRestoreRequest {
  /** What runRestore returned (restore_id, backup_id, snapshot_id). */
  result: Pick<RestoreResult, 'restore_id' | 'backup_id' | 'snapshot_id' | 'dry_run'>;
  /** The backup location, and where the restore wrote its state (restore.state_url) if elsewhere. */
  storage: StorageBackend;
  stateStorage?: StorageBackend | undefined;
  target: KafkaConnectionOptions;
  /** restore.consumer_groups (names and patterns); nothing happens when empty. */
  groups: string[];
  /** restore.group_mapping */
  groupMapping: Record<string, string>;
  /** restore.point_in_time, else restore.time_window_end: chooses the capture. */
  pointInTime?: number | undefined;
  /** offsets.strategy (default exact) and offsets.max_concurrent_groups (default 16). */
  strategy?: OffsetStrategy | undefined;
  maxConcurrentGroups?: number | undefined;
  /** Read positions live from the source cluster instead of the capture. */
  source?: KafkaConnectionOptions | undefined;
}

/**
 * Plans and applies the consumer-group offsets of `groups` onto the data the restore just wrote
 * (exact by default). Returns null when there are no groups, or for a dry-run restore (no map yet). Throws like `offsets apply --execute`:
 * UsageError (2) for unknown groups or a mismatching offset map, KafkaError (1) for active
 * groups or a missing target topic, PartialFailureError (4) when some groups failed.
 */
export async function applyGroupsAfterRestore(req: AfterRestoreRequest): Promise<ApplyResult | null> {
  if (req.groups.length === 0 || req.result.dry_run) return null;
  const r: OffsetsRequest = {
    storage: req.storage,
    stateStorage: req.stateStorage,
    backupId: req.result.backup_id,
    restoreId: req.result.restore_id,
    target: req.target,
    source: req.source,
    groups: req.groups,
    groupMapping: req.groupMapping,
    topicMapping: {},
    strategy: req.strategy ?? 'exact',
    pointInTime: req.pointInTime,
    maxConcurrentGroups: req.maxConcurrentGroups ?? 16,
  };
  const out = await applyOffsets(r, { execute: true });
  assertApplied(out);
  return out;
}
