/**
 * The reconcilers' pure half: (resource, its Jobs and Pods, what was resolved, now) -> the actions
 * to take and the status to write. Level-based: nothing is remembered between calls except what is
 * in the resource's status and in the cluster, so a restarted operator picks up where it was.
 */
import { createHash } from 'node:crypto';
import {
  ANNOTATION_RUN_NOW,
  type Condition,
  type KafkaBackupSpec,
  type Kind,
  type Resource,
  type ResourceStatus,
  type RunRecord,
} from './api.ts';
import { LABEL_RUN, LABEL_STEP, type RunSpec } from './jobs.ts';
import { type JobLike, type PodLike, runRecordOf } from './runs.ts';
import { dueRun, type Schedule, ScheduleError, scheduledJobName, truncateName } from './schedule.ts';

export type Action =
  | { type: 'createRun'; run: RunSpec }
  | { type: 'deleteJob'; name: string }
  | { type: 'event'; eventType: 'Normal' | 'Warning'; reason: string; message: string };

export interface Plan {
  actions: Action[];
  status: ResourceStatus;
}

/** Either the run's command, config and settings, or why the spec cannot run. */
export type Prepared =
  | {
      ok: true;
      run: (jobName: string, scheduledAt?: Date) => RunSpec;
      /** KafkaBackup with retention: the forget or prune Job after a run. */
      retention?: (step: 'forget' | 'prune', jobName: string) => RunSpec | undefined;
    }
  | { ok: false; reason: string; message: string };

export const DEFAULT_HISTORY_LIMIT = 10;

function condition(
  type: Condition['type'],
  on: boolean,
  reason: string,
  message: string,
  old: Condition[] | undefined,
  now: Date,
  generation: number | undefined,
): Condition {
  const prev = old?.find((c) => c.type === type);
  const status = on ? 'True' : 'False';
  return {
    type,
    status,
    reason,
    message,
    lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : now.toISOString(),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
}

const runTime = (r: RunRecord) => r.scheduledAt ?? r.startedAt ?? '';

/** Old status history merged with what the Jobs say now, newest first. */
export function mergeHistory(
  old: RunRecord[] | undefined,
  jobs: JobLike[],
  pods: PodLike[],
  limit: number,
): RunRecord[] {
  const byJob = new Map<string, RunRecord>();
  for (const r of old ?? []) byJob.set(r.job, r);
  for (const job of jobs) {
    const fresh = runRecordOf(job, pods);
    const prev = byJob.get(job.metadata.name);
    // figures once read stay, even when the Pod that carried them is gone
    byJob.set(job.metadata.name, prev && isFinal(prev) && !isFinal(fresh) ? prev : { ...prev, ...fresh });
  }
  return [...byJob.values()]
    .sort((a, b) => runTime(b).localeCompare(runTime(a)) || b.job.localeCompare(a.job))
    .slice(0, limit);
}

const podEnded = (p: PodLike) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
const isFinal = (r: RunRecord) => r.phase === 'Succeeded' || r.phase === 'Failed';

/** Events for runs that finished since the last status. */
function finishEvents(kind: Kind, old: RunRecord[] | undefined, now: RunRecord[]): Action[] {
  const out: Action[] = [];
  for (const r of now) {
    const before = old?.find((o) => o.job === r.job);
    if (!isFinal(r) || (before && isFinal(before))) continue;
    if (r.phase === 'Succeeded')
      out.push({
        type: 'event',
        eventType: 'Normal',
        reason: 'RunSucceeded',
        message: `${kind} run ${r.job} succeeded${figures(r)}`,
      });
    else
      out.push({
        type: 'event',
        eventType: 'Warning',
        reason: r.reason ?? 'RunFailed',
        message: `run ${r.job} failed: ${r.message ?? ''}`,
      });
  }
  return out;
}

function figures(r: RunRecord): string {
  const parts: string[] = [];
  if (r.snapshotId) parts.push(`snapshot ${r.snapshotId}`);
  if (r.records !== undefined) parts.push(`${r.records} records`);
  if (r.bytes !== undefined) parts.push(`${r.bytes} bytes`);
  if (r.durationMs !== undefined) parts.push(`${(r.durationMs / 1000).toFixed(1)}s`);
  return parts.length ? `: ${parts.join(', ')}` : '';
}

function outcomeConditions(
  last: RunRecord | undefined,
  old: Condition[] | undefined,
  now: Date,
  gen: number | undefined,
  active: RunRecord | undefined,
) {
  const lastFinal = last && isFinal(last) ? last : undefined;
  return [
    condition(
      'Running',
      active !== undefined,
      active ? 'RunActive' : 'Idle',
      active ? `run ${active.job} is ${active.phase.toLowerCase()}` : 'no run is active',
      old,
      now,
      gen,
    ),
    condition(
      'Succeeded',
      lastFinal?.phase === 'Succeeded',
      lastFinal?.phase === 'Succeeded' ? 'RunSucceeded' : lastFinal ? 'RunFailed' : 'NoRunYet',
      lastFinal
        ? `last run ${lastFinal.job}: ${lastFinal.phase.toLowerCase()}${figures(lastFinal)}`
        : 'no run has finished yet',
      old,
      now,
      gen,
    ),
    condition(
      'Failed',
      lastFinal?.phase === 'Failed',
      lastFinal?.phase === 'Failed' ? (lastFinal.reason ?? 'RunFailed') : 'NoFailure',
      lastFinal?.phase === 'Failed' ? (lastFinal.message ?? 'the last run failed') : 'the last run did not fail',
      old,
      now,
      gen,
    ),
  ];
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

export interface BackupInputs {
  resource: Resource<KafkaBackupSpec>;
  jobs: JobLike[];
  pods: PodLike[];
  prepared: Prepared;
  now: Date;
}

/** KafkaBackup: scheduled snapshot runs, run-now, or one continuous run. */
export function planBackup(i: BackupInputs): Plan {
  const { resource, now } = i;
  const spec = resource.spec;
  const old = resource.status ?? {};
  const gen = resource.metadata.generation;
  const limit = spec.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  const actions: Action[] = [];
  const runJobs = i.jobs.filter((j) => !j.metadata.labels?.[LABEL_STEP]);
  const history = mergeHistory(old.history, runJobs, i.pods, limit);
  actions.push(...finishEvents('KafkaBackup', old.history, history));
  const active = history.find((r) => !isFinal(r) && runJobs.some((j) => j.metadata.name === r.job));
  const status: ResourceStatus = {
    ...old,
    observedGeneration: gen,
    history,
    ...(history[0] ? { lastRun: history[0] } : {}),
  };
  delete status.progress;

  let ready: Condition;
  if (!i.prepared.ok) {
    ready = condition('Ready', false, i.prepared.reason, i.prepared.message, old.conditions, now, gen);
    const wasSame = old.conditions?.find(
      (c) =>
        c.type === 'Ready' &&
        c.status === 'False' &&
        c.reason === ready.reason &&
        c.message === ready.message &&
        c.observedGeneration === gen,
    );
    if (!wasSame)
      actions.push({ type: 'event', eventType: 'Warning', reason: i.prepared.reason, message: i.prepared.message });
    status.conditions = [ready, ...outcomeConditions(history[0], old.conditions, now, gen, active)];
    return { actions, status };
  }
  const run = i.prepared.run;
  let readyMessage = 'the spec is valid';

  if ((spec.mode ?? 'snapshot') === 'continuous') {
    const want = `${truncateName(resource.metadata.name, 45)}-continuous-${gen ?? 0}`;
    const stale = i.jobs.filter(
      (j) => j.metadata.name !== want && !isFinal(runRecordOf(j, i.pods)) && /-continuous-\d+$/.test(j.metadata.name),
    );
    for (const j of stale)
      actions.push(
        { type: 'deleteJob', name: j.metadata.name },
        {
          type: 'event',
          eventType: 'Normal',
          reason: 'RunStopped',
          message: `stopping ${j.metadata.name}: the spec changed`,
        },
      );
    const exists = i.jobs.some((j) => j.metadata.name === want);
    // the old generation's Pod may still be finishing its files after its Job went: the new one
    // would find the line held, so it starts once that Pod has ended
    const lingering = i.pods.some((p) => {
      const run = p.metadata.labels?.[LABEL_RUN];
      return run !== undefined && run !== want && /-continuous-\d+$/.test(run) && !podEnded(p);
    });
    if (!exists && stale.length === 0 && !lingering) {
      actions.push({ type: 'createRun', run: run(want) });
      actions.push({
        type: 'event',
        eventType: 'Normal',
        reason: 'RunCreated',
        message: `started continuous backup ${want}`,
      });
    }
    readyMessage = 'continuous backup';
    delete status.nextRun;
  } else {
    // run-now: one run per distinct annotation value
    const runNow = resource.metadata.annotations?.[ANNOTATION_RUN_NOW];
    if (runNow && old['runNowHandled'] !== runNow) {
      const name = `${truncateName(resource.metadata.name, 45)}-now-${shortHash(runNow)}`;
      if (active) {
        actions.push({
          type: 'event',
          eventType: 'Normal',
          reason: 'RunNowWaiting',
          message: `run-now waits for ${active.job} to finish`,
        });
      } else {
        if (!i.jobs.some((j) => j.metadata.name === name)) {
          actions.push({ type: 'createRun', run: run(name, now) });
          actions.push({
            type: 'event',
            eventType: 'Normal',
            reason: 'RunCreated',
            message: `started run ${name} (annotation ${ANNOTATION_RUN_NOW})`,
          });
        }
        status['runNowHandled'] = runNow;
      }
    }
    if (spec.schedule) {
      const since = new Date(old.lastScheduledTime ?? resource.metadata.creationTimestamp ?? now.toISOString());
      let due: ReturnType<typeof dueRun>;
      try {
        due = dueRun(spec.schedule as Schedule, since, now);
      } catch (e) {
        if (!(e instanceof ScheduleError)) throw e;
        status.conditions = [
          condition('Ready', false, 'InvalidSchedule', e.message, old.conditions, now, gen),
          ...outcomeConditions(history[0], old.conditions, now, gen, active),
        ];
        return { actions, status };
      }
      if (due.next) status.nextRun = due.next.toISOString();
      if (due.missed > 0)
        actions.push({
          type: 'event',
          eventType: 'Warning',
          reason: 'RunsMissed',
          message: `${due.missed} scheduled time(s) passed while the operator could not run them (startingDeadlineSeconds)`,
        });
      if (due.due) {
        const name = scheduledJobName(resource.metadata.name, due.due);
        const pendingRunNow = actions.some((a) => a.type === 'createRun');
        if (active || pendingRunNow) {
          actions.push({
            type: 'event',
            eventType: 'Warning',
            reason: 'RunSkipped',
            message: `scheduled time ${due.due.toISOString()} skipped: ${active ? active.job : 'a run'} is still active`,
          });
        } else if (!i.jobs.some((j) => j.metadata.name === name) && !history.some((r) => r.job === name)) {
          actions.push({ type: 'createRun', run: run(name, due.due) });
          actions.push({
            type: 'event',
            eventType: 'Normal',
            reason: 'RunCreated',
            message: `started scheduled run ${name} for ${due.due.toISOString()}`,
          });
        }
        status.lastScheduledTime = due.due.toISOString();
      } else if (!old.lastScheduledTime) status.lastScheduledTime = since.toISOString();
      readyMessage = spec.schedule.suspend ? 'the schedule is suspended' : `next run ${status.nextRun ?? 'never'}`;
    } else delete status.nextRun;
  }
  if (i.prepared.retention && history[0]?.phase === 'Succeeded')
    actions.push(...planRetention(history[0], i.jobs, i.pods, i.prepared.retention));
  // Jobs beyond the history limit go (finished ones only); their records are in status until they age out
  const kept = new Set(history.map((r) => r.job));
  for (const j of runJobs)
    if (!kept.has(j.metadata.name) && isFinal(runRecordOf(j, i.pods)))
      actions.push({ type: 'deleteJob', name: j.metadata.name });
  // step Jobs of older runs go once finished
  for (const j of i.jobs.filter((j) => j.metadata.labels?.[LABEL_STEP]))
    if (!j.metadata.name.startsWith(stepPrefix(history[0]?.job ?? '')) && isFinal(runRecordOf(j, i.pods)))
      actions.push({ type: 'deleteJob', name: j.metadata.name });

  ready = condition(
    'Ready',
    true,
    spec.schedule?.suspend ? 'Suspended' : 'Valid',
    readyMessage,
    old.conditions,
    now,
    gen,
  );
  const wasReady = old.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  if (!wasReady) actions.push({ type: 'event', eventType: 'Normal', reason: 'Ready', message: readyMessage });
  const created = actions.find(
    (a): a is Extract<Action, { type: 'createRun' }> => a.type === 'createRun' && !a.run.step,
  );
  const nowActive = active ?? (created ? ({ job: created.run.jobName, phase: 'Pending' } as RunRecord) : undefined);
  status.conditions = [ready, ...outcomeConditions(history[0], old.conditions, now, gen, nowActive)];
  return { actions, status };
}

const stepPrefix = (runJob: string) => `${truncateName(runJob, 55)}-`;
export const stepJobName = (runJob: string, step: 'forget' | 'prune') => `${stepPrefix(runJob)}${step}`;

/**
 * Retention after the newest successful run: forget (if keep policies are set), then prune. The
 * run's record carries the progress (retention: Forgetting, Pruning, Done, Failed), so each step
 * runs once; the step Jobs are named after the run.
 */
function planRetention(
  run: RunRecord,
  jobs: JobLike[],
  pods: PodLike[],
  make: (step: 'forget' | 'prune', jobName: string) => RunSpec | undefined,
): Action[] {
  if (run.retention === 'Done' || run.retention === 'Failed') return [];
  const actions: Action[] = [];
  for (const step of ['forget', 'prune'] as const) {
    const name = stepJobName(run.job, step);
    const spec = make(step, name);
    if (!spec) continue;
    const job = jobs.find((j) => j.metadata.name === name);
    const record = job ? runRecordOf(job, pods) : undefined;
    if (!job) {
      actions.push({ type: 'createRun', run: spec });
      actions.push({
        type: 'event',
        eventType: 'Normal',
        reason: 'RetentionStarted',
        message: `${step} after run ${run.job}: ${name}`,
      });
      run.retention = step === 'forget' ? 'Forgetting' : 'Pruning';
      return actions;
    }
    if (record?.phase === 'Failed') {
      run.retention = 'Failed';
      run.retentionMessage = `${step} failed (${record.reason ?? 'RunFailed'}): ${record.message ?? ''}`;
      actions.push({ type: 'event', eventType: 'Warning', reason: 'RetentionFailed', message: run.retentionMessage });
      return actions;
    }
    if (record?.phase !== 'Succeeded') {
      run.retention = step === 'forget' ? 'Forgetting' : 'Pruning';
      return actions;
    }
  }
  run.retention = 'Done';
  actions.push({
    type: 'event',
    eventType: 'Normal',
    reason: 'RetentionDone',
    message: `retention applied after run ${run.job}`,
  });
  return actions;
}

export interface OneShotInputs {
  kind: Kind;
  resource: Resource<unknown>;
  jobs: JobLike[];
  pods: PodLike[];
  prepared: Prepared;
  now: Date;
}

/** The Job of a one-shot resource (restore, offset reset, rollback): one per resource, by uid. */
export function oneShotJobName(resource: Resource<unknown>): string {
  return `${truncateName(resource.metadata.name, 52)}-${(resource.metadata.uid ?? 'nouid').slice(0, 8)}`;
}

/** KafkaRestore, KafkaOffsetReset, KafkaOffsetRollback: run once; the status tells how it went. */
export function planOneShot(i: OneShotInputs): Plan {
  const { resource, now, kind } = i;
  const old = resource.status ?? {};
  const gen = resource.metadata.generation;
  const name = oneShotJobName(resource);
  const actions: Action[] = [];
  const history = mergeHistory(
    old.history,
    i.jobs.filter((j) => j.metadata.name === name),
    i.pods,
    1,
  );
  actions.push(...finishEvents(kind, old.history, history));
  const last = history[0];
  const status: ResourceStatus = { ...old, observedGeneration: gen, history, ...(last ? { lastRun: last } : {}) };
  const active = last && !isFinal(last) ? last : undefined;
  if (!last) {
    if (!i.prepared.ok) {
      const ready = condition('Ready', false, i.prepared.reason, i.prepared.message, old.conditions, now, gen);
      const wasSame = old.conditions?.find(
        (c) => c.type === 'Ready' && c.reason === ready.reason && c.message === ready.message,
      );
      if (!wasSame)
        actions.push({ type: 'event', eventType: 'Warning', reason: i.prepared.reason, message: i.prepared.message });
      status.phase = 'Invalid';
      status.conditions = [ready, ...outcomeConditions(undefined, old.conditions, now, gen, undefined)];
      return { actions, status };
    }
    if (!i.jobs.some((j) => j.metadata.name === name)) {
      actions.push({ type: 'createRun', run: i.prepared.run(name) });
      actions.push({
        type: 'event',
        eventType: 'Normal',
        reason: 'RunCreated',
        message: `started ${kind} run ${name}`,
      });
    }
    status.phase = 'Pending';
    status.conditions = [
      condition('Ready', true, 'Valid', 'the spec is valid', old.conditions, now, gen),
      ...outcomeConditions(undefined, old.conditions, now, gen, { job: name, phase: 'Pending' }),
    ];
    return { actions, status };
  }
  status.phase = last.phase;
  status.conditions = [
    condition('Ready', true, 'Valid', 'the spec is valid', old.conditions, now, gen),
    ...outcomeConditions(last, old.conditions, now, gen, active),
  ];
  return { actions, status };
}
