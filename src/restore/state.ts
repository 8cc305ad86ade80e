/**
 * Where a restore keeps its own state in the backup line (`<backup_id>/restores/<restore_id>/`):
 * the plan with each target partition's baseline, the offset map, the report; and which
 * interrupted restore a new run resumes.
 */
import { isNotFound, UsageError } from '../errors.ts';
import type { StorageBackend } from '../storage/backend.ts';
import type { RestoreOptions } from './options.ts';
import { restoreIdFor } from './plan.ts';

export const restoreKeys = {
  dir: (backupId: string, restoreId: string) => `${backupId}/restores/${restoreId}/`,
  plan: (backupId: string, restoreId: string) => `${backupId}/restores/${restoreId}/plan.json`,
  mapping: (backupId: string, restoreId: string) => `${backupId}/restores/${restoreId}/offset-map.json`,
  report: (backupId: string, restoreId: string) => `${backupId}/restores/${restoreId}/report.json`,
  schemaIdMap: (backupId: string, restoreId: string) => `${backupId}/restores/${restoreId}/schema-id-map.json`,
};

export interface PlanState {
  format: 'kafka-backup/restore-plan';
  version: 1;
  restore_id: string;
  backup_id: string;
  snapshot_id: string;
  created_at: string;
  /** target topic -> partition -> end offset before the first produce */
  baselines: Record<string, Record<string, number>>;
}

/**
 * The snapshot of an interrupted restore that this run must resume, if any.
 *
 * Why: with `snapshot: latest` and no restore_id, the restore id is derived from the snapshot
 * id, so a re-run after a newer snapshot appeared would start a second restore of that newer
 * snapshot into the half-restored target (refused as non-empty, or with allow_non_empty
 * writing the first snapshot's records twice). An unfinished restore (plan.json, no
 * report.json) whose id is what this same config gives for its snapshot is resumed instead.
 * With an explicit restore_id, its plan names the snapshot.
 */
export async function interruptedSnapshot(
  state: StorageBackend,
  o: RestoreOptions,
  manifest: { snapshots: { id: string }[] },
): Promise<string | null> {
  const readPlan = async (restoreId: string): Promise<PlanState | null> => {
    try {
      return JSON.parse((await state.get(restoreKeys.plan(o.backupId, restoreId))).toString('utf8')) as PlanState;
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  };
  if (o.restoreId) {
    const ps = await readPlan(o.restoreId);
    if (!ps) return null;
    if (o.snapshot !== 'latest' && o.snapshot !== ps.snapshot_id)
      throw new UsageError(`restore ${o.restoreId} restores snapshot ${ps.snapshot_id}, not ${o.snapshot}`, {
        hint: `run it with snapshot: ${ps.snapshot_id} (or latest) to resume it, or choose a new restore_id`,
      });
    return ps.snapshot_id;
  }
  if (o.snapshot !== 'latest') return null;
  const planned = new Set<string>();
  const finished = new Set<string>();
  for await (const obj of state.list(`${o.backupId}/restores/`)) {
    const m = /\/restores\/([^/]+)\/(plan|report)\.json$/.exec(obj.key);
    if (m) (m[2] === 'plan' ? planned : finished).add(m[1]!);
  }
  let best: PlanState | null = null;
  for (const id of planned) {
    if (finished.has(id)) continue;
    const ps = await readPlan(id);
    if (!ps || !manifest.snapshots.some((s) => s.id === ps.snapshot_id)) continue;
    if (restoreIdFor(o, ps.snapshot_id) !== ps.restore_id) continue; // another config's restore
    if (!best || ps.created_at > best.created_at) best = ps;
  }
  return best?.snapshot_id ?? null;
}
