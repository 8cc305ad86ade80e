/**
 * Checkpoints: what the writers finished since the last one is committed to the line as a new
 * generation (src/repository/line.ts), at most every checkpoint_interval. Continuous mode also
 * captures consumer-group offsets and applies backup.retention on their own intervals, at
 * checkpoint time, so that what they write is taken in by the next commit.
 */
import { hostname } from 'node:os';
import type { Snapshot } from '../format/manifest.ts';
import { captureConsumerOffsets } from '../offsets/capture.ts';
import { forget } from '../repository/forget.ts';
import { readMaintenance } from '../repository/maintenance.ts';
import type { Additions } from '../repository/state.ts';
import { recordedSnapshotTime } from '../repository/test-hooks.ts';
import { logger } from '../util/log.ts';
import { VERSION } from '../version.ts';
import type { BackupOptions } from './options.ts';
import { LEASE_TTL_MS, type RunContext } from './run-context.ts';

const log = logger('backup');
/** Continuous mode captures consumer-group offsets this often (each capture is kept, timestamped). */
const CAPTURE_INTERVAL_MS = 60_000;

type CheckpointContext = Pick<
  RunContext,
  'o' | 'runId' | 'admin' | 'line' | 'manifest' | 'snapshot' | 'writers' | 'topicInfo' | 'progress'
>;

export class Checkpointer {
  private readonly o: BackupOptions;
  private readonly ctx: CheckpointContext;
  private lastCheckpoint = Date.now();
  private lastCapture = Date.now();
  private lastRetention = Date.now();

  constructor(ctx: CheckpointContext) {
    this.ctx = ctx;
    this.o = ctx.o;
  }

  /**
   * Continuous mode: the snapshot records what is read but not yet listed, for `status` (which
   * reads storage only). Returns true when the oldest such record changed since the last
   * generation (none -> some, some -> none, or a file finished), so that this checkpoint commits
   * even without new files and `status` learns of records waiting; a changing count alone does
   * not force a generation.
   */
  private notePending(): boolean {
    if (this.o.mode !== 'continuous') return false;
    let since = Number.POSITIVE_INFINITY;
    const offsets: Record<string, number> = {};
    for (const w of this.ctx.writers.values()) {
      const n = w.pendingOffsets;
      if (n > 0) offsets[w.o.topic] = (offsets[w.o.topic] ?? 0) + n;
      const s = w.pendingSince;
      if (s > 0) since = Math.min(since, s);
    }
    const before = this.ctx.snapshot.pending?.oldest_read_at;
    if (Number.isFinite(since)) this.ctx.snapshot.pending = { oldest_read_at: new Date(since).toISOString(), offsets };
    else delete this.ctx.snapshot.pending;
    return this.ctx.snapshot.pending?.oldest_read_at !== before;
  }

  /** Commits a generation when files completed since the last one (at most every checkpoint interval). */
  async maybeCheckpoint(force = false): Promise<void> {
    // Recovery point: a file is closed on the loop pass after its oldest record has waited
    // segment_max_interval (not only at checkpoint time, which added up to one more interval),
    // and whatever blocks are still being written (the write chain keeps the order), so the
    // next checkpoint, within checkpoint_interval, lists it.
    if (this.o.mode === 'continuous') for (const w of this.ctx.writers.values()) if (w.fileIsOld) w.closeFile();
    if (!force && Date.now() - this.lastCheckpoint < this.o.checkpointIntervalSecs * 1000) return;
    if (this.o.mode === 'continuous') await this.capturePeriodically();
    await this.checkpoint(undefined, this.notePending());
    const r = this.o.retention;
    if (
      this.o.mode === 'continuous' &&
      r?.apply === 'periodic' &&
      Date.now() - this.lastRetention >= r.intervalSecs * 1000
    )
      await this.applyRetention();
  }

  /**
   * backup.retention: drops data older than max_age through the same maintenance commit as
   * `forget --max-age`, written beside this run's commits; this run's next commit takes it in
   * (BackupLine.commit). A failure is logged: retention is tried again at the next interval.
   */
  async applyRetention(): Promise<void> {
    const r = this.o.retention;
    if (!r) return;
    this.lastRetention = Date.now();
    try {
      const report = await forget(this.o.storage, this.o.backupId, {
        policy: {},
        maxAgeMs: r.maxAgeMs,
        maxAgeLabel: r.maxAgeLabel,
        op: 'retention',
        writer: { run_id: this.ctx.runId, host: hostname(), pid: process.pid, tool_version: VERSION },
      });
      const last = (await readMaintenance(this.o.storage, this.o.backupId).catch(() => null))?.last_prune;
      this.ctx.progress.retention = {
        horizonMs: Date.parse(report.horizon!),
        droppedBytes:
          (this.ctx.progress.retention?.droppedBytes ?? 0) + (report.seq !== null ? report.dropped_bytes : 0),
        oldestRestorableMs: report.oldest_restorable,
        lastPruneMs: last ? Date.parse(last.at) : null,
      };
      if (report.seq !== null)
        log.info('retention applied', {
          horizon: report.horizon,
          partitions: report.drops.length,
          dropped_bytes: report.dropped_bytes,
          forgotten: report.forgotten_by_max_age.length,
          seq: report.seq,
        });
    } catch (e) {
      log.warn('applying backup.retention failed; it is tried again later', { error: e });
    }
  }

  /** Continuous mode: a timestamped capture of the consumer-group offsets every minute. */
  private async capturePeriodically(): Promise<void> {
    if (!this.o.captureOffsets || Date.now() - this.lastCapture < CAPTURE_INTERVAL_MS) return;
    this.lastCapture = Date.now();
    try {
      this.ctx.snapshot.consumer_offsets = await captureConsumerOffsets(
        this.ctx.admin,
        this.o.storage,
        this.o.backupId,
        this.ctx.snapshot.id,
        [...this.ctx.topicInfo.keys()],
      );
    } catch (e) {
      log.warn('capturing consumer group offsets failed; retrying at the next interval', { error: e });
    }
  }

  async checkpoint(final?: Snapshot['state'], dirty = false): Promise<void> {
    this.lastCheckpoint = Date.now();
    let changed = final !== undefined || dirty;
    const added: Additions = new Map();
    for (const w of this.ctx.writers.values()) {
      const { files, gaps, nextOffset, leaderEpoch } = w.takeCommitted();
      const ps = this.ctx.manifest.topics[w.o.topic]!.partitions[String(w.o.partition)]!;
      if (files.length || gaps.length || ps.next_offset !== nextOffset) changed = true;
      if (leaderEpoch >= 0) ps.leader_epoch = leaderEpoch;
      if (files.length || gaps.length) {
        const byPartition = added.get(w.o.topic) ?? new Map();
        byPartition.set(w.o.partition, { files, gaps });
        added.set(w.o.topic, byPartition);
      }
      ps.next_offset = nextOffset;
      this.ctx.progress.files += files.length;
      if (this.o.mode === 'continuous') this.ctx.snapshot.end_offsets[w.o.topic]![String(w.o.partition)] = nextOffset;
    }
    if (!final && this.o.mode === 'continuous' && (await this.beforeCommit(added.size > 0, changed))) changed = true;
    if (!changed) return;
    if (final) {
      this.ctx.snapshot.state = final;
      this.ctx.snapshot.finished_at = recordedSnapshotTime(new Date().toISOString());
    }
    await this.ctx.line.commit(this.ctx.manifest, added);
    await this.ctx.line.renewLease(LEASE_TTL_MS);
    log.debug('checkpoint', { generation: this.ctx.manifest.generation });
  }

  /**
   * backup.schema_registry in continuous mode: a capture covering the files this commit lists.
   * True when it changed the snapshot (a capture that caught up commits by itself).
   */
  private async beforeCommit(listing: boolean, committing: boolean): Promise<boolean> {
    if (!this.o.atCheckpoint) return false;
    const s = this.ctx.snapshot;
    const topics = [...this.ctx.topicInfo.keys()];
    const got = await this.o.atCheckpoint({ snapshotId: s.id, topics, endOffsets: s.end_offsets, listing, committing });
    Object.assign(s, got);
    return got !== undefined;
  }
}
