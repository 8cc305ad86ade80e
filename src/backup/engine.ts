/**
 * The backup engine: resolves topics, opens (or continues) the backup line, fetches every
 * selected partition with one multi-partition Fetch per broker, writes data files through
 * PartitionWriter, and commits what changed at every checkpoint (src/repository/line.ts).
 *
 * Memory: at most `maxConcurrentPartitions` partitions hold a slot (an open block and data file)
 * at a time; a partition with two blocks waiting for storage is left out of fetches until they
 * are written (backpressure), so a slow store slows fetching instead of filling memory.
 *
 * This file is the run itself: lease, slots, the loop that launches fetches through the source
 * cluster's circuit breaker and handles their failures, the finish and the fail-safe. Its parts
 * share a RunContext (run-context.ts): prepare.ts starts the run, topics.ts records topics and
 * creates writers, cluster-follower.ts follows the cluster, fetcher.ts is the fetch path,
 * checkpointer.ts commits, captures offsets and applies retention, result.ts reports.
 */
import { InterruptedError, KafkaError, PartialFailureError } from '../errors.ts';
import type { Snapshot } from '../format/manifest.ts';
import { pkey } from '../kafka/admin-helpers.ts';
import { createAdmin, kafkaError } from '../kafka/client.ts';
import { captureConsumerOffsets } from '../offsets/capture.ts';
import { BackupLine, FencedError } from '../repository/line.ts';
import { probeConditionalWrites } from '../storage/probe.ts';
import { CircuitBreaker, CircuitOpenError } from '../util/circuit-breaker.ts';
import { logger } from '../util/log.ts';
import { Checkpointer } from './checkpointer.ts';
import { ClusterFollower } from './cluster-follower.ts';
import { Fetcher } from './fetcher.ts';
import type { BackupOptions } from './options.ts';
import type { PartitionWriter } from './partition-writer.ts';
import { prepare } from './prepare.ts';
import { type BackupResult, buildResult, snapshotProgress } from './result.ts';
import { LEASE_TTL_MS, RunContext, sleep } from './run-context.ts';

const log = logger('backup');
/**
 * Fetch requests in flight per broker, each with its own share of the partitions (on one
 * connection the broker answers them in order). 2 measured no faster than 1 on the 2-core
 * benchmark machine, where backup is CPU-bound (docs/performance.md); more cores may differ.
 */
const FETCHES_PER_BROKER = 1;

export type { BackupResult, TopicGone } from './result.ts';

export async function runBackup(o: BackupOptions): Promise<BackupResult> {
  const engine = new BackupEngine(o);
  return engine.run();
}

class BackupEngine {
  private readonly o: BackupOptions;
  private readonly ctx: RunContext;
  private readonly checkpointer: Checkpointer;
  private readonly fetcher: Fetcher;
  private readonly follower: ClusterFollower;
  private wake: (() => void) | null = null;
  private woken = false;
  private fatal: Error | null = null;
  /** Fetches from the source cluster go through it: a failing cluster is not hammered. */
  private readonly breaker: CircuitBreaker;

  constructor(o: BackupOptions) {
    this.o = o;
    this.ctx = new RunContext(o);
    this.checkpointer = new Checkpointer(this.ctx);
    this.fetcher = new Fetcher(this.ctx);
    this.follower = new ClusterFollower(this.ctx, this.checkpointer);
    const cb = o.circuitBreaker;
    this.breaker = new CircuitBreaker({
      name: `Kafka cluster ${o.source.bootstrap_servers.join(',')}`,
      failureThreshold: cb?.failure_threshold ?? 5,
      resetTimeoutSecs: cb?.reset_timeout_secs ?? 30,
      halfOpenRequests: cb?.half_open_requests ?? 1,
      ...(o.giveUpAfterSecs > 0 ? { giveUpAfterSecs: o.giveUpAfterSecs } : {}),
      // a broker refusing one request for a known reason is not an outage
      isFailure: (e) => !(e instanceof KafkaError && !e.canRetry),
      onStateChange: ({ from, to }) =>
        (to === 'open' ? log.warn : log.info)(`source Kafka circuit breaker ${to}`, { from, to }),
    });
  }

  /** Current state of the source cluster's breaker (metrics). */
  get breakerState(): string {
    return this.breaker.state;
  }

  /** Wakes the loop; a wake while the loop is busy is kept for its next wait. */
  private notify(): void {
    const w = this.wake;
    this.wake = null;
    if (w) w();
    else this.woken = true;
  }

  private waitForWork(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      const prev = this.wake;
      this.wake = () => {
        clearTimeout(t);
        prev?.();
        resolve();
      };
    });
  }

  async run(): Promise<BackupResult> {
    const o = this.o;
    this.ctx.line = new BackupLine(o.storage, o.backupId);
    this.ctx.admin = createAdmin(o.source, 'source');
    const onAbort = () => {
      this.ctx.stopping = true;
      this.notify();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (o.signal?.aborted) onAbort(); // stopped while the command was still starting
    let leaseTimer: NodeJS.Timeout | undefined;
    try {
      // fencing (one writer per line) holds only where create-if-absent writes are honoured
      await probeConditionalWrites(o.storage, o.backupId);
      await this.ctx.line.acquireLease(this.ctx.runId, LEASE_TTL_MS);
      leaseTimer = setInterval(() => {
        this.ctx.line.renewLease(LEASE_TTL_MS).catch((e) => log.warn('lease renewal failed', { error: e }));
      }, LEASE_TTL_MS / 3);
      await prepare(this.ctx);
      await this.loop();
      return await this.finish();
    } catch (e) {
      await this.failSafe(e as Error);
      throw e;
    } finally {
      clearInterval(leaseTimer);
      o.signal?.removeEventListener('abort', onAbort);
      await this.ctx.line.releaseLease().catch(() => undefined);
      await this.ctx.admin.close().catch(() => undefined);
    }
  }

  private eligible(w: PartitionWriter): boolean {
    if (this.ctx.failedTopics.has(w.o.topic) || w.error) return false;
    if (this.o.mode === 'snapshot') return !w.done;
    return w.lastStable < 0 || w.lastStable > w.position;
  }

  /** Grants and releases partition slots; bounded memory comes from here. */
  private schedule(): void {
    for (const w of this.ctx.slots) {
      const finished = this.o.mode === 'snapshot' ? w.done || this.ctx.failedTopics.has(w.o.topic) : false;
      const idle =
        this.o.mode === 'continuous' &&
        w.lastStable >= 0 &&
        w.position >= w.lastStable &&
        this.ctx.slots.size >= this.o.maxConcurrentPartitions;
      if ((finished || idle) && w.pendingBlocks === 0) {
        if (finished || w.hasOpenFile) w.closeFile();
        this.ctx.slots.delete(w);
        if (finished) this.ctx.progress.partitionsDone++;
      }
    }
    for (const w of this.ctx.writers.values()) {
      if (this.ctx.slots.size >= this.o.maxConcurrentPartitions) break;
      if (!this.ctx.slots.has(w) && this.eligible(w)) this.ctx.slots.add(w);
    }
  }

  private async loop(): Promise<void> {
    const o = this.o;
    let backoff = 200;
    let failingSince = 0;
    /** Fetches in flight per broker, and the partitions they carry (a partition is in at most one). */
    const inFlight = new Map<number, number>();
    const fetching = new Set<PartitionWriter>();
    const running = new Set<Promise<void>>();
    while (!this.ctx.stopping && !this.fatal) {
      for (const w of this.ctx.writers.values()) if (w.error) throw w.error;
      if (this.follower.leaving.size) await this.follower.releaseLeavingTopics(fetching);
      if (o.mode === 'continuous') await this.follower.followCluster();
      this.schedule();
      if (
        o.mode === 'snapshot' &&
        this.ctx.slots.size === 0 &&
        [...this.ctx.writers.values()].every((w) => w.done || this.ctx.failedTopics.has(w.o.topic))
      )
        break;
      if (this.ctx.metadataStale) {
        try {
          await this.follower.refreshMetadata();
        } catch (e) {
          failingSince ||= Date.now();
          if (o.giveUpAfterSecs > 0 && Date.now() - failingSince > o.giveUpAfterSecs * 1000)
            throw kafkaError(e, `reading metadata for ${o.giveUpAfterSecs}s`, o.source);
          log.warn('metadata refresh failed; retrying', { error: e });
          await sleep(backoff, o.signal);
          backoff = Math.min(backoff * 2, 5000);
          continue;
        }
      }
      // Group slot holders by leader. Up to FETCHES_PER_BROKER fetches per broker are in flight,
      // each with its own share of the partitions, so processing one response overlaps with the
      // broker preparing the next.
      const byBroker = new Map<number, PartitionWriter[]>();
      const perBroker = new Map<number, number>();
      for (const w of this.ctx.slots) {
        // a topic that left (deleted or re-created) is not fetched again: its writers are released
        // once no fetch carries them, and fetching them on would keep that from ever happening
        if (w.done || this.ctx.failedTopics.has(w.o.topic) || this.follower.leaving.has(w.o.topic)) continue;
        const leader = this.ctx.leaders.get(pkey(w.o.topic, w.o.partition)) ?? -1;
        if (leader < 0) {
          this.ctx.metadataStale = true;
          continue;
        }
        perBroker.set(leader, (perBroker.get(leader) ?? 0) + 1);
        if (fetching.has(w) || w.pendingBlocks >= 2) continue;
        const list = byBroker.get(leader) ?? [];
        list.push(w);
        byBroker.set(leader, list);
      }
      const launches: [number, PartitionWriter[]][] = [];
      for (const [nodeId, ready] of byBroker) {
        const share = Math.max(1, Math.ceil((perBroker.get(nodeId) ?? ready.length) / FETCHES_PER_BROKER));
        for (let i = 0; i < ready.length && (inFlight.get(nodeId) ?? 0) < FETCHES_PER_BROKER; i += share) {
          const chunk = ready.slice(i, i + share);
          launches.push([nodeId, chunk]);
          inFlight.set(nodeId, (inFlight.get(nodeId) ?? 0) + 1);
          for (const w of chunk) fetching.add(w);
        }
      }
      for (const [nodeId, parts] of launches) {
        const p = this.breaker
          .call(() => this.fetcher.fetchFrom(nodeId, parts))
          .then(() => {
            backoff = 200;
            failingSince = 0;
          })
          .catch(async (e: Error) => {
            if (!(e instanceof CircuitOpenError))
              o.onError?.('kafka', e instanceof KafkaError && !e.canRetry ? 'permanent' : 'transient');
            if (e instanceof KafkaError && !e.canRetry) {
              this.fatal = e;
              return;
            }
            if (e instanceof CircuitOpenError) {
              if (e.gaveUp) {
                this.fatal = new KafkaError(`the source cluster kept failing for ${o.giveUpAfterSecs}s: ${e.message}`, {
                  hint: 'check the brokers; run the same command again to resume from the last checkpoint',
                  cause: e,
                });
                return;
              }
              await sleep(Math.max(50, e.retryAt.getTime() - Date.now()), o.signal);
              return;
            }
            failingSince ||= Date.now();
            if (o.giveUpAfterSecs > 0 && Date.now() - failingSince > o.giveUpAfterSecs * 1000) {
              this.fatal = kafkaError(e, `fetching from broker ${nodeId} for ${o.giveUpAfterSecs}s`, o.source);
              return;
            }
            log.warn('fetch failed; refreshing metadata and retrying', { broker: nodeId, error: e });
            this.ctx.metadataStale = true;
            await sleep(backoff, o.signal);
            backoff = Math.min(backoff * 2, 5000);
          })
          .finally(() => {
            inFlight.set(nodeId, (inFlight.get(nodeId) ?? 1) - 1);
            for (const w of parts) fetching.delete(w);
            running.delete(p);
            this.notify();
          });
        running.add(p);
      }
      await this.checkpointer.maybeCheckpoint();
      this.o.onProgress?.(snapshotProgress(this.ctx));
      await this.waitForWork(launches.length === 0 && running.size === 0 ? 20 : 250);
    }
    await Promise.allSettled(running);
    if (this.fatal) throw this.fatal;
  }

  private async closeAll(): Promise<void> {
    for (const w of this.ctx.writers.values()) w.closeFile();
    const results = await Promise.allSettled([...this.ctx.writers.values()].map((w) => w.drain()));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  private async finish(): Promise<BackupResult> {
    const o = this.o;
    await this.closeAll();
    delete this.ctx.snapshot.pending; // everything read is in a finished file now
    const interrupted =
      this.ctx.stopping && o.mode === 'snapshot' && [...this.ctx.writers.values()].some((w) => !w.done);
    if (!interrupted && o.captureOffsets) {
      try {
        this.ctx.snapshot.consumer_offsets = await captureConsumerOffsets(
          this.ctx.admin,
          o.storage,
          o.backupId,
          this.ctx.snapshot.id,
          [...this.ctx.topicInfo.keys()],
        );
      } catch (e) {
        log.warn('capturing consumer group offsets failed; the backup itself is complete', { error: e });
      }
    }
    if (!interrupted && o.beforeSnapshotCommit)
      Object.assign(
        this.ctx.snapshot,
        await o.beforeSnapshotCommit({
          snapshotId: this.ctx.snapshot.id,
          topics: [...this.ctx.topicInfo.keys()],
          endOffsets: this.ctx.snapshot.end_offsets,
        }),
      );
    const state: Snapshot['state'] = interrupted ? 'interrupted' : this.ctx.failedTopics.size ? 'failed' : 'complete';
    await this.checkpointer.checkpoint(state);
    // the next run (and every reader) then opens the line from one checkpoint
    await this.ctx.line.consolidateNow(this.ctx.manifest);
    if (this.o.retention && this.o.retention.apply !== 'never') await this.checkpointer.applyRetention();
    // The loop ends as soon as the last partition is done, before it reports, and the final
    // commit adds the last files: without this report, metrics and progress never show the end.
    this.o.onProgress?.(snapshotProgress(this.ctx));
    const result = buildResult(this.ctx, state, this.follower.gone);
    log.info('backup finished', {
      state,
      records: result.records,
      files: result.files,
      duration_ms: result.duration_ms,
    });
    if (interrupted)
      throw new InterruptedError(`backup ${o.backupId} was interrupted before reaching its snapshot's end offsets`, {
        hint: 'run the same command again: it resumes where this run stopped, with the same snapshot',
      });
    if (this.ctx.failedTopics.size)
      throw Object.assign(
        new PartialFailureError(
          `backup ${o.backupId}: ${this.ctx.failedTopics.size} topic(s) failed, the rest completed`,
          [...this.ctx.failedTopics].map(([what, msg]) => ({ what, error: new Error(msg) })),
        ),
        { result },
      );
    return result;
  }

  /** On failure: abort open files, and record what was committed so a re-run resumes from there. */
  private async failSafe(error: Error): Promise<void> {
    // before the run's snapshot exists (it failed while starting) there is nothing to record
    if (!this.ctx.manifest || !this.ctx.snapshot) return;
    await Promise.allSettled([...this.ctx.writers.values()].map((w) => w.abort()));
    // a fenced run must not write: another writer owns the line now
    if (error instanceof FencedError) return;
    try {
      this.ctx.snapshot.error = error.message;
      await this.checkpointer.checkpoint();
    } catch (e) {
      log.warn('could not record the last checkpoint after the failure; the previous one stands', { error: e });
    }
  }
}
