/**
 * A run's record from its Job and Pods: phase from the Job's conditions, figures and failure from
 * the CLI's summary in the newest Pod's termination message (src/cli/summary.ts).
 */
import { ANNOTATION_SCHEDULED_AT, type RunRecord } from './api.ts';

export interface JobLike {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string | Date;
  };
  status?: {
    active?: number;
    succeeded?: number;
    failed?: number;
    startTime?: string | Date;
    completionTime?: string | Date;
    conditions?: {
      type: string;
      status: string;
      reason?: string;
      message?: string;
      lastTransitionTime?: string | Date;
    }[];
  };
}
export interface PodLike {
  metadata: { name: string; labels?: Record<string, string>; creationTimestamp?: string | Date };
  status?: {
    phase?: string;
    podIP?: string;
    containerStatuses?: {
      name: string;
      state?: { terminated?: { exitCode?: number; message?: string; reason?: string } };
    }[];
  };
}

export interface Summary {
  ok: boolean;
  exit_code?: number;
  code?: string;
  error?: string;
  snapshot_id?: string;
  restore_id?: string;
  apply_id?: string;
  rollback_snapshot?: string;
  records?: number;
  raw_bytes?: number;
  bytes?: number;
  stored_bytes?: number;
  duration_ms?: number;
  state?: string;
}

export function parseSummary(message: string | undefined): Summary | undefined {
  if (!message) return undefined;
  for (const line of message.trim().split('\n').reverse()) {
    try {
      const doc = JSON.parse(line) as Summary;
      if (doc && typeof doc === 'object' && typeof doc.ok === 'boolean') return doc;
    } catch {
      // not ours: a kubelet message, or a crash before the summary
    }
  }
  return undefined;
}

const iso = (t: string | Date | undefined) => (t === undefined ? undefined : new Date(t).toISOString());

/** Reasons a user can act on, from the CLI's error codes. */
export function failureReason(summary: Summary | undefined, jobReason: string | undefined): string {
  if (summary?.code === 'LEASE_HELD') return 'LineHeldByAnotherWriter';
  if (summary?.exit_code === 2) return 'InvalidInput';
  if (summary?.exit_code === 3) return 'IntegrityError';
  if (summary?.exit_code === 4) return 'PartialFailure';
  if (summary?.exit_code === 130) return 'Interrupted';
  return jobReason ?? 'RunFailed';
}

export function runRecordOf(job: JobLike, pods: PodLike[]): RunRecord {
  const name = job.metadata.name;
  const mine = pods
    .filter(
      (p) =>
        p.metadata.labels?.['job-name'] === name ||
        p.metadata.labels?.['batch.kubernetes.io/job-name'] === name ||
        p.metadata.labels?.['kafkabackup.io/run'] === name,
    )
    .sort(
      (a, b) =>
        new Date(a.metadata.creationTimestamp ?? 0).getTime() - new Date(b.metadata.creationTimestamp ?? 0).getTime(),
    );
  const newest = mine.at(-1);
  const terminated = newest?.status?.containerStatuses?.find((c) => c.name === 'kafka-backup')?.state?.terminated;
  const summary = parseSummary(terminated?.message);
  const cond = (type: string) => job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
  const complete = cond('Complete');
  const failed = cond('Failed');
  const phase: RunRecord['phase'] = complete
    ? 'Succeeded'
    : failed
      ? 'Failed'
      : job.status?.active
        ? 'Running'
        : 'Pending';
  const record: RunRecord = { job: name, phase };
  const scheduledAt = job.metadata.annotations?.[ANNOTATION_SCHEDULED_AT];
  if (scheduledAt) record.scheduledAt = scheduledAt;
  const started = iso(job.status?.startTime);
  if (started) record.startedAt = started;
  const finished = iso(job.status?.completionTime ?? (failed?.lastTransitionTime as string | undefined));
  if (finished && (complete || failed)) record.finishedAt = finished;
  if (summary?.ok) {
    if (summary.snapshot_id) record.snapshotId = summary.snapshot_id;
    if (summary.restore_id) record.restoreId = summary.restore_id;
    if (summary.apply_id) record.applyId = summary.apply_id;
    if (summary.rollback_snapshot) record.rollbackSnapshot = summary.rollback_snapshot;
    if (summary.records !== undefined) record.records = summary.records;
    const bytes = summary.raw_bytes ?? summary.bytes;
    if (bytes !== undefined) record.bytes = bytes;
    if (summary.stored_bytes !== undefined) record.storedBytes = summary.stored_bytes;
    if (summary.duration_ms !== undefined) record.durationMs = summary.duration_ms;
  }
  if (failed) {
    record.reason = failureReason(summary, failed.reason);
    record.message = summary?.error ?? failed.message ?? 'the run failed';
  } else if (summary && !summary.ok && phase !== 'Succeeded') {
    // a failed attempt while the Job retries
    record.reason = failureReason(summary, undefined);
    record.message = `attempt failed (${summary.error ?? 'no message'}); retrying per backoffLimit`;
  }
  return record;
}
