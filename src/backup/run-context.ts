/**
 * What one backup run's parts share: who the run is, the line it writes, the manifest and snapshot
 * it is building, the partitions it follows (their writers, leaders and slots) and its progress.
 * Each part (prepare, topics, cluster follower, fetcher, checkpointer, result) declares with a
 * Pick<RunContext, ...> which of these it uses, and keeps its own bookkeeping (timers, throttle
 * window, topics leaving) to itself, so what one part may touch of another is written down.
 */
import { randomBytes } from 'node:crypto';
import type { Admin } from '@platformatic/kafka';
import type { Manifest, Snapshot } from '../format/manifest.ts';
import type { TopicDescription } from '../kafka/admin-helpers.ts';
import { kafkaError } from '../kafka/client.ts';
import type { BackupLine } from '../repository/line.ts';
import { logger } from '../util/log.ts';
import { BlockPool } from './block-pool.ts';
import type { BackupOptions, BackupProgress } from './options.ts';
import type { PartitionWriter } from './partition-writer.ts';

const log = logger('backup');
/** The writer lease on the line: renewed at a third of it, and at every checkpoint. */
export const LEASE_TTL_MS = 30_000;

function newRunId(): string {
  return `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

/** Unlike util/retry's sleep, a stop ends the wait without an error: the loop then winds down itself. */
export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

export class RunContext {
  readonly o: BackupOptions;
  readonly runId = newRunId();
  readonly started = Date.now();
  /** Set when the run starts (engine.run), before any part uses them. */
  admin!: Admin;
  line!: BackupLine;
  /** Set by prepare; failSafe tells by their absence that the run failed while starting. */
  manifest!: Manifest;
  /** Replaced when a re-created topic ends the running snapshot (topics.ts): always read it from here. */
  snapshot!: Snapshot;
  readonly writers = new Map<string, PartitionWriter>();
  readonly topicInfo = new Map<string, TopicDescription>();
  readonly leaders = new Map<string, number>();
  /** Each partition's leader epoch from metadata, sent as current_leader_epoch (KIP-320). */
  readonly leaderEpochs = new Map<string, number>();
  readonly slots = new Set<PartitionWriter>();
  /** Block buffers, shared by the writers (only slot holders fill blocks). */
  readonly blocks: BlockPool;
  readonly failedTopics = new Map<string, string>();
  readonly progress: BackupProgress = {
    records: 0,
    rawBytes: 0,
    storedBytes: 0,
    files: 0,
    partitionsDone: 0,
    partitionsTotal: 0,
    recordsRemaining: -1,
    lagSeconds: -1,
    oldestPendingSecs: 0,
    topics: {},
  };
  stopping = false;
  /** Set by whoever learns that leaders or topics may have changed; the loop refreshes metadata. */
  metadataStale = false;
  private clusterAnswered = false;

  constructor(o: BackupOptions) {
    this.o = o;
    // A slot holder has a block being filled and up to three being written (a fetch brings up to
    // 4 × max_batch_bytes per partition); a buffer dropped for want of room here is garbage the
    // collector finds late, and a new one is allocated for the next block: keep them all.
    this.blocks = BlockPool.forBlocks(o.maxBatchBytes, 4 * o.maxConcurrentPartitions);
  }

  /**
   * A call to the source cluster while the run starts. Once the cluster has answered, a call that
   * fails for a passing reason (a broker restarting, a leader moving) is tried again for up to
   * give_up_after_secs (30 s when unset), so a broker bounce at the wrong moment does not fail the
   * run; an unreachable cluster still fails at its first call, at once.
   */
  async kafka<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const limitMs = (this.o.giveUpAfterSecs > 0 ? this.o.giveUpAfterSecs : 30) * 1000;
    const started = Date.now();
    for (let backoff = 200; ; backoff = Math.min(backoff * 2, 5000)) {
      try {
        const r = await fn();
        this.clusterAnswered = true;
        return r;
      } catch (e) {
        const ke = kafkaError(e, what, this.o.source);
        if (!this.clusterAnswered || !ke.canRetry || this.stopping || Date.now() - started + backoff > limitMs)
          throw ke;
        log.warn(`${what} failed; retrying`, { error: ke.message });
        await sleep(backoff, this.o.signal);
      }
    }
  }
}
