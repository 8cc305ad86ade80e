/**
 * forget: plans which snapshots a keep policy removes and which offsets a record-time horizon
 * drops (src/repository/retention-policy.ts), then records it as one maintenance commit. Nothing
 * is deleted here: the data and metadata the commit makes unreachable are deleted by prune.
 *
 * The plan is computed from the state read; when another commit takes the number (a live backup
 * committing), the plan is made again from the new state, so a re-run or a retry never applies a
 * stale decision.
 */
import { UsageError } from '../errors.ts';
import type { Commit, Drop } from '../format/line-v2.ts';
import type { Manifest, Snapshot } from '../format/manifest.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { logger } from '../util/log.ts';
import { BackupLine, MaintenanceRace, type OpenedLine } from './line.ts';
import {
  type ForgetPlanEntry,
  isEmptyPolicy,
  type KeepPolicy,
  oldestRestorableAfter,
  type PartitionDrop,
  planDrop,
  planForget,
  snapshotsEntirelyDropped,
} from './retention-policy.ts';
import { stallAt } from './test-hooks.ts';

const log = logger('forget');

export interface ForgetOptions {
  policy: KeepPolicy;
  /** Record-time horizon: data older than now - maxAgeMs is dropped. */
  maxAgeMs?: number;
  maxAgeLabel?: string;
  withinLabel?: string;
  forgetNewest?: boolean;
  dryRun?: boolean;
  now?: number;
  writer: Manifest['writer'];
  op?: 'forget' | 'retention';
}

export interface ForgetReport {
  backup_id: string;
  location: string;
  dry_run: boolean;
  snapshots: ForgetPlanEntry[];
  forgotten: string[];
  /** Snapshots forgotten because everything they hold was dropped by the horizon. */
  forgotten_by_max_age: string[];
  horizon: string | null;
  drops: { topic: string; partition: number; below: number; files: number; records: number; bytes: number }[];
  dropped_bytes: number;
  /** Per topic, epoch ms of the oldest restorable record once the drops are applied (-1: none). */
  oldest_restorable: Record<string, number>;
  seq: number | null;
}

/** Opens a line for maintenance: version 2, all of it with file lists. */
export async function openForMaintenance(
  storage: StorageBackend,
  backupId: string,
): Promise<OpenedLine & { line: BackupLine }> {
  const line = new BackupLine(storage, backupId);
  const opened = await line.open();
  if (!opened) throw new UsageError(`no backup '${backupId}' in ${storage.location}`, { code: 'UNKNOWN_BACKUP' });
  if (opened.version !== 2 || !opened.read)
    throw new UsageError(`backup line ${backupId} is in format version 1, which forget and prune do not change`, {
      hint: `run kafka-backup migrate --path … --backup-id ${backupId} first`,
    });
  return { ...opened, line };
}

/** Whether a snapshot is being written right now by a run that holds the writer lease. */
export async function liveSnapshots(line: BackupLine): Promise<(s: Snapshot) => boolean> {
  const lease = await line.readLease();
  const live = lease && Date.parse(lease.expires_at) > Date.now() ? lease.run_id : null;
  return (s) => s.state === 'in-progress' && s.run_id === live;
}

export async function forget(storage: StorageBackend, backupId: string, o: ForgetOptions): Promise<ForgetReport> {
  if (isEmptyPolicy(o.policy) && o.maxAgeMs === undefined)
    throw new UsageError('no policy given: forget removes nothing without one', {
      hint: 'give --keep-last, --keep-hourly/daily/weekly/monthly/yearly, --keep-within, --keep-tag or --max-age',
    });
  for (let attempt = 0; ; attempt++) {
    const { line, view, read } = await openForMaintenance(storage, backupId);
    const now = o.now ?? Date.now();
    const isLive = await liveSnapshots(line);
    const plan = isEmptyPolicy(o.policy)
      ? view.snapshots.map(
          (s): ForgetPlanEntry => ({
            id: s.id,
            state: s.state,
            time: s.started_at,
            keep: true,
            reasons: ['no keep policy given'],
          }),
        )
      : planForget(view.snapshots, o.policy, {
          ...(o.forgetNewest ? { forgetNewest: true } : {}),
          ...(o.withinLabel ? { withinLabel: o.withinLabel } : {}),
        });
    for (const e of plan) {
      const s = view.snapshots.find((x) => x.id === e.id)!;
      if (!e.keep && isLive(s)) {
        e.keep = true;
        e.reasons = ['being written by a live backup run'];
      }
    }
    const drops: PartitionDrop[] = o.maxAgeMs !== undefined ? planDrop(view, now - o.maxAgeMs) : [];
    const forgotten = plan.filter((e) => !e.keep).map((e) => e.id);
    const byAge = snapshotsEntirelyDropped(view, drops, isLive).filter((id) => !forgotten.includes(id));
    for (const e of plan)
      if (byAge.includes(e.id)) {
        e.keep = false;
        e.reasons = [`everything it holds is older than ${o.maxAgeLabel ?? 'the horizon'}`];
      }
    const report: ForgetReport = {
      backup_id: backupId,
      location: storage.location,
      dry_run: o.dryRun ?? false,
      snapshots: plan,
      forgotten,
      forgotten_by_max_age: byAge,
      horizon: o.maxAgeMs !== undefined ? new Date(now - o.maxAgeMs).toISOString() : null,
      drops: drops.map((d) => ({
        topic: d.topic,
        partition: d.partition,
        below: d.below,
        files: d.files.length,
        records: d.records,
        bytes: d.bytes,
      })),
      dropped_bytes: drops.reduce((n, d) => n + d.bytes, 0),
      oldest_restorable: oldestRestorableAfter(view, drops),
      seq: null,
    };
    const ids = [...forgotten, ...byAge];
    if (o.dryRun || (ids.length === 0 && drops.length === 0)) return report;
    const body: Pick<Commit, 'maintenance' | 'forget' | 'drop'> = {
      maintenance: {
        op: o.op ?? 'forget',
        detail: { ...(report.horizon ? { horizon: report.horizon } : {}), dropped_bytes: report.dropped_bytes },
      },
    };
    if (ids.length) body.forget = ids;
    if (drops.length) {
      const drop: Record<string, Record<string, Drop>> = {};
      for (const d of drops) (drop[d.topic] ??= {})[String(d.partition)] = { below: d.below };
      body.drop = drop;
    }
    try {
      await stallAt('forget', 'forget-planned');
      const c = await line.commitMaintenance(read!, body, o.writer);
      report.seq = c.seq;
      await stallAt('forget', 'forget-committed');
      return report;
    } catch (e) {
      if (!(e instanceof MaintenanceRace) || attempt >= 20) throw e;
      log.debug('a commit took the number; planning again', { seq: e.seq });
    }
  }
}
