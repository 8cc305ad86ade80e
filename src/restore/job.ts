/**
 * One restore job: a target partition (or a topic, when repartitioning) restored from its
 * stream of data files in order, exactly once across crashes (engine.ts explains how).
 * The records a previous run already restored are skipped and the last of them is checked in the
 * target; every batch's landing offset and the partitions' final end offsets are checked too.
 */
import { performance } from 'node:perf_hooks';
import type { Admin } from '@platformatic/kafka';
import { murmur2 } from '@platformatic/kafka';
import { IntegrityError, UsageError } from '../errors.ts';
import { type BatchHeader, compressionOf, isControl, isLogAppendTime, splitBatches } from '../format/batch.ts';
import type { BlockLease, BlockPool } from '../format/block-pool.ts';
import { KAFKA_CODEC_IDS } from '../format/kafka-compression.ts';
import { decodeRecords, encodeBatch, type KafkaRecord, restampBatch } from '../format/records.ts';
import { readSegment } from '../format/segment.ts';
import { describeTopics, IsolationLevel, ListOffsetTimestamp, listOffsets, pkey } from '../kafka/admin-helpers.ts';
import { rawFetchV17 } from '../kafka/fetch-raw-v17.ts';
import { patchBatchIds } from '../schema-registry/batch-patch.ts';
import type { RewriteCounts, SchemaIdRewriter } from '../schema-registry/rewriter.ts';
import { retry } from '../util/retry.ts';
import { RecordSelector } from './filters.ts';
import { isInDoubtTimeout, waitForInDoubtAppends } from './in-doubt.ts';
import { InFlightWindow } from './in-flight.ts';
import { MappingBuilder } from './offset-map.ts';
import { ORIGINAL_HEADERS, type RestoreOptions, type RestoreProgress } from './options.ts';
import { PendingRecords } from './pending-records.ts';
import type { RestoreJob } from './plan.ts';
import { type LeaderSource, PartitionProducer, type ProducerIdentity } from './producer.ts';
import type { RateLimiter } from './rate-limiter.ts';
import type { PlanState } from './state.ts';

/**
 * How long a resumed job waits for appended-but-uncommitted records when give_up_after_secs is
 * 0: well past replica.lag.time.max.ms (30 s), after which a stuck follower leaves the ISR.
 */
const IN_DOUBT_WAIT_MS = 300_000;
const LANDING_HINT =
  'no other producer may write the target partitions during a restore; check the target (kafka-console-consumer), then restore into an empty topic (restore.recreate_topics: true, or a new restore.topic_mapping) with a new restore_id';

export interface JobResult {
  produced: number;
  mapping: Map<number, MappingBuilder>;
}

/** One job, from the start of its stream; records already in the target are skipped and checked. */
export async function runJob(
  job: RestoreJob,
  o: RestoreOptions,
  plan: PlanState,
  admin: Admin,
  leaders: LeaderSource,
  identity: ProducerIdentity,
  limits: { records: RateLimiter; bytes: RateLimiter },
  progress: RestoreProgress,
  schemaIds: SchemaIdRewriter | null,
  pool: BlockPool,
): Promise<JobResult> {
  const targetParts = job.targetPartitions;
  // Batches a killed run got appended but not yet replicated are above the high watermark that
  // ListOffsets reports: wait until they are committed (or truncated) before counting `end`.
  await retry(
    () =>
      waitForInDoubtAppends(
        admin,
        (p) => leaders.leaderOf(job.targetTopic, p),
        () => leaders.invalidate(),
        job.targetTopic,
        targetParts,
        o.giveUpAfterSecs > 0 ? o.giveUpAfterSecs * 1000 : IN_DOUBT_WAIT_MS,
      ),
    // retried on anything but the end of the wait (a new topic's partitions may have no leader yet)
    { maxRetries: 10, initialDelayMs: 200, maxDelayMs: 3_000, isRetryable: (e) => !isInDoubtTimeout(e) },
  );
  // the target partitions' end offsets (a new topic's partitions may briefly have no leader)
  const targetEnds = () =>
    retry(
      () =>
        listOffsets(
          admin,
          targetParts.map((p) => ({ topic: job.targetTopic, partition: p })),
          ListOffsetTimestamp.latest,
          IsolationLevel.readUncommitted,
        ),
      { maxRetries: 10, initialDelayMs: 200, maxDelayMs: 3_000, isRetryable: () => true },
    );
  const ends = await targetEnds();
  const baseline = new Map<number, number>();
  const toSkip = new Map<number, number>();
  const written = new Map<number, number>(); // records of the stream seen so far per target partition
  const mapping = new Map<number, MappingBuilder>();
  const producers = new Map<number, PartitionProducer>();
  const inflight = new Map<number, InFlightWindow>();
  let sendError: Error | null = null;
  const pendingRecords = new Map<number, PendingRecords>();
  const resumeEnd = new Map<number, number>();
  /** The stream reached the last record a previous run restored: check the target holds exactly it. */
  const checkResumePoint = (tp: number, expected: KafkaRecord): Promise<void> => {
    ids?.take(); // patched to compare only: a previous run produced it
    return verifyLast(admin, leaders, job.targetTopic, tp, resumeEnd.get(tp)! - 1, expected);
  };
  for (const tp of targetParts) {
    const b = plan.baselines[job.targetTopic]?.[String(tp)];
    if (b === undefined)
      throw new UsageError(`restore state has no baseline for ${job.targetTopic}-${tp}; the plan changed`);
    const end = ends.get(pkey(job.targetTopic, tp)) ?? b;
    if (end < b)
      throw new IntegrityError(
        `target partition ${job.targetTopic}-${tp} ends at ${end}, before the restore's baseline ${b}: records were deleted from it during the restore`,
      );
    baseline.set(tp, b);
    toSkip.set(tp, end - b);
    resumeEnd.set(tp, end);
    written.set(tp, 0);
    mapping.set(tp, new MappingBuilder());
    producers.set(
      tp,
      new PartitionProducer(job.targetTopic, tp, identity, leaders, { giveUpAfterSecs: o.giveUpAfterSecs }),
    );
    inflight.set(tp, new InFlightWindow());
  }
  const fixedCodec = o.compression === 'source' ? null : KAFKA_CODEC_IDS[o.compression];
  const fast = o.compression === 'source' && !o.includeOriginalOffsetHeader && !job.repartition;
  // restore.schema_registry: ids rewritten in place; a topic without registry data or an identity map skips it
  const ids = schemaIds && !schemaIds.skip ? schemaIds : null;
  const patchIds = (rec: KafkaRecord, topic: string, partition: number): KafkaRecord => {
    if (!ids) return rec;
    const where = () => `record ${topic}-${partition} offset ${rec.offset}`;
    if (rec.key) ids.patch(rec.key, 0, rec.key.length, where);
    if (rec.value) ids.patch(rec.value, 0, rec.value.length, where);
    return rec;
  };

  /** Waits for every request in flight to tp; rethrows the first failure once all settled. */
  const settle = async (tp: number): Promise<void> => {
    await inflight.get(tp)!.settle();
    if (sendError) throw sendError;
  };
  /**
   * Where this restore's records land is known in advance: the stream's k-th record of tp goes
   * to baseline + k (the offset map says so). A batch the broker appends elsewhere means another
   * producer wrote into the partition (or acknowledged records were lost), so the map would be
   * wrong: stop at once and say so.
   */
  const checkLanding = (tp: number, expected: number, got: number, records: number): void => {
    if (got < 0 || got === expected) return;
    const why =
      got > expected
        ? `another producer wrote ${got - expected} records into it during the restore (or records of an interrupted run were committed after this run counted them)`
        : `${expected - got} records this restore wrote before are no longer in it (truncated by the broker?)`;
    sendError ??= new IntegrityError(
      `target partition ${job.targetTopic}-${tp}: a batch of ${records} records landed at offset ${got}, not at ${expected}: ${why}`,
      [],
      { hint: LANDING_HINT },
    );
  };
  /** `counted`: what patching the batch's schema ids counted, confirmed once it is acknowledged. */
  const enqueue = async (
    tp: number,
    batch: Buffer,
    records: number,
    expectedBase: number,
    counted: RewriteCounts | undefined,
    /** The block `batch` may be a view of: held until the batch is acknowledged (or fails). */
    block: BlockLease | undefined,
  ): Promise<void> => {
    if (sendError) {
      await settle(tp);
    }
    await limits.records.take(records);
    await limits.bytes.take(batch.length);
    const sentAt = performance.now();
    const p = producers
      .get(tp)!
      .send(batch)
      .then((offset) => {
        checkLanding(tp, expectedBase, offset, records);
        if (counted) ids?.confirm(counted);
        o.onProduced?.((performance.now() - sentAt) / 1000);
        progress.records += records;
        progress.bytes += batch.length;
        o.onProgress?.(progress);
      })
      .catch((e: Error) => {
        sendError ??= e;
      });
    const window = inflight.get(tp)!;
    window.add(p, batch.length, block);
    await window.makeRoom();
    if (sendError) await settle(tp);
  };
  const flushRecords = async (tp: number): Promise<void> => {
    const pr = pendingRecords.get(tp);
    if (!pr || pr.records.length === 0) return;
    pendingRecords.delete(tp);
    const p = producers.get(tp)!;
    const batch = encodeBatch(pr.records, {
      compression: pr.codec,
      producerId: p.identity.producerId,
      producerEpoch: p.identity.producerEpoch,
      baseSequence: p.reserve(pr.records.length),
    });
    pr.encoded();
    await enqueue(tp, batch, pr.records.length, baseline.get(tp)! + pr.first, pr.ids, undefined);
  };
  const addRecord = async (
    tp: number,
    rec: KafkaRecord,
    codec: number,
    block: BlockLease | undefined,
  ): Promise<void> => {
    const counted = ids?.take(); // rec's, patched just before
    let pr = pendingRecords.get(tp);
    if (pr && pr.codec !== codec) {
      await flushRecords(tp);
      pr = undefined;
    }
    if (!pr) {
      // account() already counted rec
      pr = new PendingRecords(codec, written.get(tp)! - 1);
      pendingRecords.set(tp, pr);
    }
    pr.add(rec, block, counted);
    if (pr.full) await flushRecords(tp);
  };
  /** Counts one stream record for tp; returns true when it was already restored (skip it). */
  const account = (tp: number, sourcePartition: number, sourceOffset: number, count = 1): number => {
    const k = written.get(tp)!;
    written.set(tp, k + count);
    mapping.get(tp)!.add(sourcePartition, sourceOffset, baseline.get(tp)! + k, count);
    const skip = toSkip.get(tp)!;
    return Math.min(skip, count);
  };

  try {
    for (const range of job.ranges) {
      const selector = new RecordSelector({
        from: range.from,
        to: range.to,
        pointInTime: o.pointInTime,
        windowStart: o.timeWindowStart,
        windowEnd: o.timeWindowEnd,
      });
      const fixedTarget = job.partitionMap?.[String(range.partition)];
      const route = (rec: KafkaRecord): number => {
        if (fixedTarget !== undefined) return fixedTarget;
        const n = job.repartition!.targetCount;
        if (rec.key !== null) return (murmur2(rec.key) & 0x7fffffff) % n;
        return range.partition % n;
      };
      for (const file of range.files) {
        if (selector.stopped) break;
        const stream = await o.storage.load(file.key);
        const blocks = readSegment(file.key, stream, { expected: file, pool });
        try {
          for await (const block of blocks) {
            try {
              if (selector.stopped) break;
              for (const h of splitBatches(block.raw)) {
                if (isControl(h)) continue;
                const verdict = selector.judgeBatch(h, block);
                if (verdict === 'none') continue;
                const contiguous = h.recordsCount === h.lastOffsetDelta + 1;
                if (verdict === 'all' && fast && contiguous && !isLogAppendTime(h) && fixedTarget !== undefined) {
                  const tp = fixedTarget;
                  const skipped = account(tp, range.partition, Number(h.baseOffset), h.recordsCount);
                  if (skipped === h.recordsCount) {
                    toSkip.set(tp, toSkip.get(tp)! - skipped);
                    if (toSkip.get(tp) === 0) {
                      const recs = decodeRecords(block.raw, h);
                      await checkResumePoint(tp, patchIds(recs[recs.length - 1]!, range.topic, range.partition));
                    }
                    continue;
                  }
                  if (skipped === 0) {
                    await flushRecords(tp);
                    const p = producers.get(tp)!;
                    const patched = ids
                      ? patchBatchIds(
                          block.raw,
                          h,
                          ids,
                          (i) => `record ${range.topic}-${range.partition} offset ${Number(h.baseOffset) + i}`,
                        )
                      : { buf: block.raw, h };
                    const b = restampBatch(patched.buf, patched.h, {
                      producerId: p.identity.producerId,
                      producerEpoch: p.identity.producerEpoch,
                      baseSequence: p.reserve(h.recordsCount),
                    });
                    await enqueue(
                      tp,
                      b,
                      h.recordsCount,
                      baseline.get(tp)! + written.get(tp)! - h.recordsCount,
                      ids?.take(),
                      block.lease,
                    );
                    continue;
                  }
                  // a batch that is partly restored already: undo the accounting and take the record path
                  written.set(tp, written.get(tp)! - h.recordsCount);
                  mapping.set(tp, rebuildWithout(mapping.get(tp)!, h.recordsCount));
                }
                await recordPath(h, block.raw, block);
              }
            } finally {
              block.lease?.release();
            }
          }
        } catch (e) {
          if (e instanceof Error && e.name === 'SegmentCorruptError')
            throw new IntegrityError(`restore of ${range.topic}-${range.partition} stopped: ${e.message}`, [file.key], {
              hint: `nothing after the bad block was produced; run 'kafka-backup validate --deep' and restore the file from a copy`,
            });
          throw e;
        }
      }

      async function recordPath(
        h: BatchHeader,
        raw: Buffer,
        block: { firstOffset: number; lastOffset: number; lease?: BlockLease },
      ): Promise<void> {
        const codec = fixedCodec ?? compressionOf(h);
        for (const rec of decodeRecords(raw, h)) {
          if (!selector.accept(rec, block)) {
            if (selector.stopped) return;
            continue;
          }
          const tp = route(rec);
          if (account(tp, range.partition, rec.offset) === 1) {
            toSkip.set(tp, toSkip.get(tp)! - 1);
            if (toSkip.get(tp) === 0)
              await checkResumePoint(
                tp,
                transform(patchIds(rec, range.topic, range.partition), range.topic, range.partition, o),
              );
            continue;
          }
          await addRecord(
            tp,
            transform(patchIds(rec, range.topic, range.partition), range.topic, range.partition, o),
            codec,
            block.lease,
          );
        }
      }
    }
    for (const tp of targetParts) {
      await flushRecords(tp);
      await settle(tp);
    }
  } finally {
    await Promise.allSettled([...inflight.values()].map((w) => w.settle()));
  }
  for (const tp of targetParts) {
    const left = toSkip.get(tp)!;
    if (left > 0)
      throw new IntegrityError(
        `target partition ${job.targetTopic}-${tp} holds ${left} more records than this restore would write: another writer used it`,
        [],
        {
          hint: 'restore into an empty topic, or set a new restore_id; no other producer may write target partitions during a restore',
        },
      );
  }
  // End of the job: each target partition must end exactly where this restore's writes put it
  // (baseline + every record of its stream). More means another producer appended after or
  // between our batches; fewer means acknowledged records were lost. Either way the offset map
  // would be wrong, so the restore fails (exit 3) instead of hiding it there.
  const finalEnds = await targetEnds();
  for (const tp of targetParts) {
    const expected = baseline.get(tp)! + written.get(tp)!;
    const end = finalEnds.get(pkey(job.targetTopic, tp)) ?? expected;
    if (end === expected) continue;
    throw new IntegrityError(
      end > expected
        ? `target partition ${job.targetTopic}-${tp} ends at ${end}, but this restore's records end at ${expected}: another producer wrote ${end - expected} records into it during the restore`
        : `target partition ${job.targetTopic}-${tp} ends at ${end}, but this restore wrote up to ${expected}: ${expected - end} acknowledged records are missing`,
      [],
      { hint: LANDING_HINT },
    );
  }
  let produced = 0;
  for (const m of mapping.values()) produced += m.records;
  return { produced, mapping };
}

function rebuildWithout(m: MappingBuilder, count: number): MappingBuilder {
  const last = m.runs[m.runs.length - 1]!;
  last[3] -= count;
  if (last[3] === 0) m.runs.pop();
  return m;
}

function transform(rec: KafkaRecord, topic: string, partition: number, o: RestoreOptions): KafkaRecord {
  if (!o.includeOriginalOffsetHeader) return rec;
  return {
    ...rec,
    headers: [
      ...rec.headers,
      [Buffer.from(ORIGINAL_HEADERS.topic), Buffer.from(topic)],
      [Buffer.from(ORIGINAL_HEADERS.partition), Buffer.from(String(partition))],
      [Buffer.from(ORIGINAL_HEADERS.offset), Buffer.from(String(rec.offset))],
      [Buffer.from(ORIGINAL_HEADERS.timestamp), Buffer.from(String(rec.timestamp))],
    ],
  };
}

/** Checks that the record where a previous run stopped is the one this run expected there. */
async function verifyLast(
  admin: Admin,
  leaders: LeaderSource,
  topic: string,
  partition: number,
  offset: number,
  expected: KafkaRecord,
): Promise<void> {
  const leader = await leaders.leaderOf(topic, partition);
  const conn = (await admin.connectToBrokers([leader])).get(leader)!;
  const md = await describeTopics(admin, [topic]);
  const topicId = md.get(topic)!.topicId;
  const res = await rawFetchV17.async(
    conn,
    100,
    1,
    4 << 20,
    IsolationLevel.readUncommitted,
    0,
    -1,
    [
      {
        topicId,
        partitions: [
          {
            partition,
            currentLeaderEpoch: -1,
            fetchOffset: BigInt(offset),
            lastFetchedEpoch: -1,
            partitionMaxBytes: 4 << 20,
          },
        ],
      },
    ],
    [],
    '',
  );
  const p = res.responses[0]?.partitions[0];
  const found = p?.records
    ? splitBatches(p.records)
        .flatMap((h) => decodeRecords(p.records!, h))
        .find((r) => r.offset === offset)
    : undefined;
  const same =
    found !== undefined &&
    eqBuf(found.key, expected.key) &&
    eqBuf(found.value, expected.value) &&
    found.timestamp === expected.timestamp &&
    found.headers.length === expected.headers.length &&
    found.headers.every((h, i) => eqBuf(h[0], expected.headers[i]![0]) && eqBuf(h[1], expected.headers[i]![1]));
  if (!same)
    throw new IntegrityError(
      `target record ${topic}-${partition}@${offset} is not the record this restore wrote there: another writer used the partition`,
      [],
      { hint: 'restore into an empty topic; no other producer may write target partitions during a restore' },
    );
}

function eqBuf(a: Buffer | null, b: Buffer | null): boolean {
  if (a === null || b === null) return a === b;
  return a.equals(b);
}
