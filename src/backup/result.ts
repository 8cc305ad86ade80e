/**
 * What a run reports: the progress snapshot passed to onProgress on every loop pass (metrics,
 * the CLI's progress line) and the result a finished run returns. Both only read the run's state.
 */
import type { Snapshot } from '../format/manifest.ts';
import type { BackupProgress } from './options.ts';
import type { RunContext } from './run-context.ts';

export interface BackupResult {
  backup_id: string;
  snapshot_id: string;
  run_id: string;
  mode: 'snapshot' | 'continuous';
  state: Snapshot['state'];
  generation: number;
  duration_ms: number;
  records: number;
  raw_bytes: number;
  stored_bytes: number;
  files: number;
  topics: { topic: string; partitions: number; records: number; bytes: number }[];
  failures: { topic: string; error: string }[];
  /** Continuous mode: followed topics deleted (or re-created, a new incarnation) during the run. */
  topics_gone: TopicGone[];
}

export interface TopicGone {
  topic: string;
  topic_id: string;
  reason: 'deleted' | 'recreated';
  at: string;
}

type ProgressContext = Pick<RunContext, 'writers' | 'progress'>;
type ResultContext = Pick<
  RunContext,
  'o' | 'runId' | 'started' | 'manifest' | 'snapshot' | 'writers' | 'progress' | 'failedTopics'
>;

/** Recomputed on every pass from the writers' durable ends, which move as blocks are stored. */
export function snapshotProgress(ctx: ProgressContext): BackupProgress {
  const now = Date.now();
  let remaining = 0;
  let known = false;
  let oldest = Number.POSITIVE_INFINITY;
  let pendingSince = Number.POSITIVE_INFINITY;
  for (const w of ctx.writers.values()) {
    const since = w.pendingSince;
    if (since > 0) pendingSince = Math.min(pendingSince, since);
    const end = Number.isFinite(w.end) ? w.end : w.lastStable;
    if (end < 0) continue;
    known = true;
    // Counted from what is durable (committedEnd), not from the fetch position: records read
    // but still in memory or in an unfinished file are not backed up yet.
    const behind = Math.max(0, end - w.committedEnd);
    remaining += behind;
    if (behind > 0 && w.newestStored >= 0) oldest = Math.min(oldest, w.newestStored);
  }
  const pendingAge = Number.isFinite(pendingSince) ? Math.max(0, (now - pendingSince) / 1000) : 0;
  ctx.progress.oldestPendingSecs = pendingAge;
  ctx.progress.recordsRemaining = known ? remaining : -1;
  let lag = !known ? -1 : remaining === 0 ? 0 : Number.isFinite(oldest) ? Math.max(0, (now - oldest) / 1000) : -1;
  // what storage holds is at least as old as the oldest record read but not yet durable
  if (known && pendingAge > lag) lag = pendingAge;
  ctx.progress.lagSeconds = lag;
  return ctx.progress;
}

export function buildResult(ctx: ResultContext, state: Snapshot['state'], gone: TopicGone[]): BackupResult {
  const topics = new Map<string, { topic: string; partitions: number; records: number; bytes: number }>();
  for (const w of ctx.writers.values()) {
    const t = topics.get(w.o.topic) ?? { topic: w.o.topic, partitions: 0, records: 0, bytes: 0 };
    t.partitions++;
    topics.set(w.o.topic, t);
  }
  for (const [name, tp] of Object.entries(ctx.progress.topics)) {
    const t = topics.get(name);
    if (t) {
      t.records = tp.records;
      t.bytes = tp.bytes;
    }
  }
  return {
    backup_id: ctx.o.backupId,
    snapshot_id: ctx.snapshot.id,
    run_id: ctx.runId,
    mode: ctx.o.mode,
    state,
    generation: ctx.manifest.generation,
    duration_ms: Date.now() - ctx.started,
    records: ctx.progress.records,
    raw_bytes: ctx.progress.rawBytes,
    stored_bytes: ctx.progress.storedBytes,
    files: ctx.progress.files,
    topics: [...topics.values()],
    failures: [...ctx.failedTopics].map(([topic, error]) => ({ topic, error })),
    topics_gone: gone,
  };
}
