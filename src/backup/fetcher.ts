/**
 * The fetch path: one multi-partition Fetch (v17, raw record batches) to one broker for the
 * partitions it leads, handing each partition's records to its PartitionWriter, and what a
 * partition's answer may say instead: a moved leader (refresh metadata), a diverged log (KIP-320),
 * offsets already removed by retention (a recorded gap). Also the byte-rate throttle.
 */
import type { Connection } from '@platformatic/kafka';
import { KafkaError } from '../errors.ts';
import { IsolationLevel, ListOffsetTimestamp, listOffsets, pkey } from '../kafka/admin-helpers.ts';
import { type RawFetchPartition, rawFetchV17Views } from '../kafka/fetch-raw-v17.ts';
import { logger } from '../util/log.ts';
import { divergenceOf, truncatedLogError } from './divergence.ts';
import { FetchOrder } from './fetch-order.ts';
import type { BackupOptions } from './options.ts';
import type { PartitionWriter } from './partition-writer.ts';
import { type RunContext, sleep } from './run-context.ts';

const log = logger('backup');
/** Kafka error codes the fetch loop handles by refreshing metadata (leader moved, broker restarting). */
const RETRIABLE_PARTITION_ERRORS = new Set([3, 5, 6, 9, 56, 74, 75, 100]);
const OFFSET_OUT_OF_RANGE = 1;

type FetchContext = Pick<
  RunContext,
  'o' | 'admin' | 'writers' | 'topicInfo' | 'leaders' | 'leaderEpochs' | 'failedTopics' | 'metadataStale'
>;

export class Fetcher {
  private readonly o: BackupOptions;
  private readonly ctx: FetchContext;
  private throttleWindowStart = Date.now();
  private throttleBytes = 0;
  /** Partitions that returned records go to the back of the next fetch requests (no starvation). */
  private readonly fetchOrder = new FetchOrder<PartitionWriter>();

  constructor(ctx: FetchContext) {
    this.ctx = ctx;
    this.o = ctx.o;
  }

  private async connectionFor(nodeId: number): Promise<Connection> {
    const conns = await this.ctx.admin.connectToBrokers([nodeId]);
    const c = conns.get(nodeId);
    if (!c) throw new KafkaError(`no connection to broker ${nodeId}`, { canRetry: true });
    return c;
  }

  private async throttle(bytes: number): Promise<void> {
    if (this.o.maxBytesPerSec <= 0) return;
    this.throttleBytes += bytes;
    const elapsed = (Date.now() - this.throttleWindowStart) / 1000;
    const allowed = elapsed * this.o.maxBytesPerSec;
    if (this.throttleBytes > allowed) await sleep(((this.throttleBytes - allowed) / this.o.maxBytesPerSec) * 1000);
    if (elapsed > 10) {
      this.throttleWindowStart = Date.now();
      this.throttleBytes = 0;
    }
  }

  /** One broker's fetch loop. */
  async fetchFrom(nodeId: number, parts: PartitionWriter[]): Promise<void> {
    // The broker fills the response in request order up to fetch_max_bytes: the partitions
    // served least recently go first (src/backup/fetch-order.ts). Grouping by topic keeps the
    // order of each topic's first partition and, within a topic, the partitions' order.
    const byTopic = new Map<string, PartitionWriter[]>();
    for (const w of this.fetchOrder.order(parts)) {
      const list = byTopic.get(w.o.topic) ?? [];
      list.push(w);
      byTopic.set(w.o.topic, list);
    }
    // Each partition may return its share of fetch_max_bytes (between 1 and 4 x max_batch_bytes):
    // with few partitions, 1 MiB each made round trips the bottleneck (main scenario: -13 % time,
    // -0.8 CPU s per GiB with 2 MiB; the response stays within fetch_max_bytes).
    // A throttled backup keeps max_batch_bytes so that its rate stays smooth, not bursts.
    const partitionMaxBytes =
      this.o.maxBytesPerSec > 0
        ? this.o.maxBatchBytes
        : Math.min(
            4 * this.o.maxBatchBytes,
            Math.max(this.o.maxBatchBytes, Math.floor(this.o.fetchMaxBytes / parts.length)),
          );
    const request = [...byTopic].map(([topic, ws]) => ({
      topicId: this.ctx.topicInfo.get(topic)!.topicId,
      partitions: ws.map((w) => ({
        partition: w.o.partition,
        // KIP-320: the leader refuses a stale epoch (FENCED_LEADER_EPOCH, refresh and retry) and
        // compares last_fetched_epoch with its log (a diverging epoch: see handleDivergence)
        currentLeaderEpoch: this.ctx.leaderEpochs.get(pkey(w.o.topic, w.o.partition)) ?? -1,
        fetchOffset: BigInt(w.position),
        lastFetchedEpoch: w.lastFetchedEpoch,
        // Within the partition's free room of two blocks (PartitionWriter.fetchRoom), but at
        // least one block: asked for less, a partition with a block waiting made many small
        // fetches (+7 % CPU per GiB). So a partition holds at most about three blocks, not the
        // four or five a 2-4 MiB share cut into (backup peak RSS -11 MiB, docs/performance.md).
        partitionMaxBytes: Math.min(partitionMaxBytes, Math.max(w.fetchRoom, this.o.maxBatchBytes)),
      })),
    }));
    const conn = await this.connectionFor(nodeId);
    const maxWait = this.o.mode === 'snapshot' ? 50 : 500;
    const res = await rawFetchV17Views.async(
      conn,
      maxWait,
      1,
      this.o.fetchMaxBytes,
      IsolationLevel.readCommitted,
      0,
      -1,
      request,
      [],
      '',
    );
    const byId = new Map([...this.ctx.topicInfo.values()].map((t) => [t.topicId, t.name]));
    let bytes = 0;
    const outOfRange: PartitionWriter[] = [];
    for (const tr of res.responses) {
      const topic = byId.get(tr.topicId);
      if (!topic) continue;
      for (const p of tr.partitions) {
        const w = this.ctx.writers.get(pkey(topic, p.partitionIndex));
        if (!w) continue;
        if (p.errorCode !== 0) {
          this.handlePartitionError(w, p, outOfRange);
          continue;
        }
        if (p.divergingEpoch) {
          this.handleDivergence(w, p.divergingEpoch);
          continue;
        }
        const n = recordBytes(p);
        bytes += n;
        if (n > 0) this.fetchOrder.served(w);
        w.ingest(p);
      }
    }
    if (outOfRange.length) await this.handleOutOfRange(outOfRange);
    await this.throttle(bytes);
  }

  private handlePartitionError(w: PartitionWriter, p: RawFetchPartition, outOfRange: PartitionWriter[]): void {
    if (p.errorCode === OFFSET_OUT_OF_RANGE) outOfRange.push(w);
    else if (RETRIABLE_PARTITION_ERRORS.has(p.errorCode)) {
      if (p.currentLeader.leaderId >= 0) this.ctx.leaders.set(pkey(w.o.topic, w.o.partition), p.currentLeader.leaderId);
      this.ctx.metadataStale = true;
      log.debug('partition needs new metadata', {
        topic: w.o.topic,
        partition: w.o.partition,
        error_code: p.errorCode,
      });
    } else {
      throw new KafkaError(`fetching ${w.o.topic}-${w.o.partition} failed with Kafka error code ${p.errorCode}`, {
        hint: 'check broker logs and the ACLs of this principal (Read on the topic)',
      });
    }
  }

  /**
   * The leader's log diverged from what this run read (KIP-320). When it still holds everything
   * read, fetching goes on with its epoch; when it was truncated below the position (an unclean
   * leader election), the topic fails with LOG_TRUNCATED: the records read stay listed as read,
   * and the partition's other history at those offsets is never appended to them.
   */
  private handleDivergence(w: PartitionWriter, diverging: { epoch: number; endOffset: bigint }): void {
    const d = divergenceOf(w.position, diverging);
    if (!d.lost) {
      w.lastFetchedEpoch = d.epoch;
      return;
    }
    const e = truncatedLogError(w.o.topic, w.o.partition, d, w.lastFetchedEpoch);
    log.error(e.message, { topic: w.o.topic, partition: w.o.partition, from: d.from, to: d.to });
    this.o.onError?.('kafka', 'permanent');
    if (!this.ctx.failedTopics.has(w.o.topic)) this.ctx.failedTopics.set(w.o.topic, e.message);
  }

  /** Offsets removed by retention before we fetched them become a recorded gap, not an error. */
  private async handleOutOfRange(ws: PartitionWriter[]): Promise<void> {
    const parts = ws.map((w) => ({ topic: w.o.topic, partition: w.o.partition }));
    const earliest = await listOffsets(this.ctx.admin, parts, ListOffsetTimestamp.earliest);
    for (const w of ws) {
      const e = earliest.get(pkey(w.o.topic, w.o.partition)) ?? 0;
      if (e > w.position) {
        log.warn('records were removed by retention before they could be backed up; recorded as a gap', {
          topic: w.o.topic,
          partition: w.o.partition,
          from: w.position,
          to: e,
        });
        w.skipTo(e, 'retention');
      } else if (w.lastFetchedEpoch >= 0) {
        // a leader that no longer knows the epoch (its history before the log start is gone)
        // answers OFFSET_OUT_OF_RANGE to last_fetched_epoch: fetched again without it, a position
        // beyond the log end still fails below
        log.debug('leader does not know the last fetched epoch; fetching without it', {
          topic: w.o.topic,
          partition: w.o.partition,
          epoch: w.lastFetchedEpoch,
        });
        w.lastFetchedEpoch = -1;
      } else {
        throw new KafkaError(
          `offset ${w.position} of ${w.o.topic}-${w.o.partition} is beyond the partition's end: the log was truncated (unclean leader election?)`,
          { hint: 'inspect the partition; start a new backup line (new backup_id) if the topic was rebuilt' },
        );
      }
    }
  }
}

function recordBytes(p: RawFetchPartition): number {
  let n = p.records?.length ?? 0;
  for (const v of p.recordViews ?? []) n += v.length;
  return n;
}
