/**
 * The restore engine: plan, checks, topic preparation, then one job per target partition (or
 * per topic when repartitioning) that reads data files in order, verifies every block before
 * using it, and produces with an idempotent producer, exactly once across crashes.
 *
 * Exactly once: before the first produce the restore records each target partition's end
 * offset (its baseline) in plan.json. On every (re)start, the records already restored to a
 * target partition are `end - baseline`; the job skips that many records of its fixed-order
 * stream, checks that the last target record equals the expected source record, and goes on.
 * This needs the restore to be the only writer of its target partitions while it runs; each
 * batch's landing offset and each partition's final end offset are checked against it. A job
 * first waits for appends of a killed run that are not yet replicated (in-doubt.ts). Design
 * and limits: docs/restore.md.
 */
import { performance } from 'node:perf_hooks';
import type { Admin, Connection } from '@platformatic/kafka';
import { murmur2 } from '@platformatic/kafka';
import { selectTopics } from '../backup/topic-patterns.ts';
import { IntegrityError, isNotFound, KafkaError, UsageError } from '../errors.ts';
import { type BatchHeader, compressionOf, isControl, isLogAppendTime, splitBatches } from '../format/batch.ts';
import { type BlockLease, BlockPool } from '../format/block-pool.ts';
import { KAFKA_CODEC_IDS } from '../format/kafka-compression.ts';
import { decodeRecords, encodeBatch, type KafkaRecord, restampBatch } from '../format/records.ts';
import { readSegment } from '../format/segment.ts';
import { describeTopics, IsolationLevel, ListOffsetTimestamp, listOffsets, pkey } from '../kafka/admin-helpers.ts';
import { createAdmin, kafkaError } from '../kafka/client.ts';
import { rawFetchV17 } from '../kafka/fetch-raw-v17.ts';
import { rawProduceV11 } from '../kafka/produce-raw-v11.ts';
import { openExistingLine } from '../repository/line.ts';
import { patchBatchIds } from '../schema-registry/batch-patch.ts';
import type { SchemaRegistryRestoreReport } from '../schema-registry/restore-ids.ts';
import type { RewriteCounts, SchemaIdRewriter } from '../schema-registry/rewriter.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { logger } from '../util/log.ts';
import { retry } from '../util/retry.ts';
import { BrokerSender } from './broker-sender.ts';
import { RecordSelector } from './filters.ts';
import { isInDoubtTimeout, waitForInDoubtAppends } from './in-doubt.ts';
import { InFlightWindow } from './in-flight.ts';
import { digestOf, MappingBuilder, type OffsetMapping } from './offset-map.ts';
import { ORIGINAL_HEADERS, type RestoreOptions, type RestoreProgress } from './options.ts';
import { PendingRecords } from './pending-records.ts';
import {
  buildPlan,
  chooseSnapshot,
  type RestoreJob,
  type RestorePlan,
  restoreIdFor,
  type TargetTopicInfo,
} from './plan.ts';
import {
  initProducerId,
  type LeaderSource,
  PartitionProducer,
  type ProducerIdentity,
  ResyncNeeded,
} from './producer.ts';
import { checkTimestampTypes, prepareTopics, type TopicReport } from './topics.ts';

const log = logger('restore');

/** How long the broker may wait for acks=all before answering a Produce request. */
const PRODUCE_TIMEOUT_MS = 30_000;
const MAX_RESYNCS = 10;
/**
 * How long a resumed job waits for appended-but-uncommitted records when give_up_after_secs is
 * 0: well past replica.lag.time.max.ms (30 s), after which a stuck follower leaves the ISR.
 */
const IN_DOUBT_WAIT_MS = 300_000;
const LANDING_HINT =
  'no other producer may write the target partitions during a restore; check the target (kafka-console-consumer), then restore into an empty topic (restore.recreate_topics: true, or a new restore.topic_mapping) with a new restore_id';

export const restoreKeys = {
  dir: (backupId: string, restoreId: string) => `${backupId}/restores/${restoreId}/`,
  plan: (backupId: string, restoreId: string) => `${backupId}/restores/${restoreId}/plan.json`,
  mapping: (backupId: string, restoreId: string) => `${backupId}/restores/${restoreId}/offset-map.json`,
  report: (backupId: string, restoreId: string) => `${backupId}/restores/${restoreId}/report.json`,
  schemaIdMap: (backupId: string, restoreId: string) => `${backupId}/restores/${restoreId}/schema-id-map.json`,
};

interface PlanState {
  format: 'kafka-backup/restore-plan';
  version: 1;
  restore_id: string;
  backup_id: string;
  snapshot_id: string;
  created_at: string;
  /** target topic -> partition -> end offset before the first produce */
  baselines: Record<string, Record<string, number>>;
}

export interface RestoreResult {
  restore_id: string;
  backup_id: string;
  snapshot_id: string;
  dry_run: boolean;
  resumed: boolean;
  duration_ms: number;
  records: number;
  bytes: number;
  topics: {
    source: string;
    /** The topic id (incarnation) of the source topic restored. */
    source_topic_id?: string;
    target: string;
    partitions: number;
    records: number;
    created: boolean;
    configs: Record<string, string>;
    dropped_configs: Record<string, string>;
  }[];
  warnings: string[];
  /** The selection's time bounds (epoch ms), so offset translation later picks the right capture. */
  point_in_time?: number;
  time_window_end?: number;
  mapping_key?: string;
  report_key?: string;
  plan?: RestorePlan;
  /** restore.schema_registry: what was registered, which ids changed, ids rewritten and unknown. */
  schema_registry?: SchemaRegistryRestoreReport;
  schema_id_map_key?: string;
}

class Leaders implements LeaderSource {
  readonly admin: Admin;
  private map = new Map<string, number>();
  private refreshing: Promise<void> | null = null;
  private readonly senders = new Map<number, BrokerSender>();
  constructor(admin: Admin) {
    this.admin = admin;
  }
  /** Produce requests sent and the batches they carried (batches per request shows how well they share). */
  requestStats(): { produce_requests: number; produce_batches: number } {
    let produce_requests = 0;
    let produce_batches = 0;
    for (const s of this.senders.values()) {
      produce_requests += s.stats.requests;
      produce_batches += s.stats.batches;
    }
    return { produce_requests, produce_batches };
  }
  senderFor(brokerId: number): BrokerSender {
    let s = this.senders.get(brokerId);
    if (!s) {
      const connect = async (): Promise<Connection> => {
        const conn = (await this.admin.connectToBrokers([brokerId])).get(brokerId);
        if (!conn) throw new KafkaError(`no connection to broker ${brokerId}`, { canRetry: true });
        return conn;
      };
      s = new BrokerSender(connect, (conn, topics) => rawProduceV11.async(conn, -1, PRODUCE_TIMEOUT_MS, topics));
      this.senders.set(brokerId, s);
    }
    return s;
  }
  async leaderOf(topic: string, partition: number): Promise<number> {
    let l = this.map.get(pkey(topic, partition));
    if (l === undefined || l < 0) {
      await this.refresh([topic]);
      l = this.map.get(pkey(topic, partition));
    }
    if (l === undefined || l < 0) throw new KafkaError(`no leader for ${topic}-${partition}`, { canRetry: true });
    return l;
  }
  invalidate(): void {
    this.map.clear();
  }
  private async refresh(topics: string[]): Promise<void> {
    this.refreshing ??= describeTopics(this.admin, topics, true)
      .then((d) => {
        for (const t of d.values()) for (const p of t.partitions) this.map.set(pkey(t.name, p.partition), p.leader);
      })
      .finally(() => {
        this.refreshing = null;
      });
    await this.refreshing;
  }
}

class RateLimiter {
  private readonly perSec: number;
  private start = Date.now();
  private used = 0;
  constructor(perSec: number) {
    this.perSec = perSec;
  }
  async take(n: number): Promise<void> {
    if (this.perSec <= 0) return;
    this.used += n;
    const elapsed = (Date.now() - this.start) / 1000;
    const ahead = this.used / this.perSec - elapsed;
    if (ahead > 0) await new Promise((r) => setTimeout(r, ahead * 1000));
    if (elapsed > 10) {
      this.start = Date.now();
      this.used = 0;
    }
  }
}

export async function runRestore(o: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const state = o.stateStorage ?? o.storage;
  // only the topics this restore may need: the file lists of the others are never read
  const inScope = (name: string) =>
    name in o.topicMapping || selectTopics([name], { ...o.topics, include_internal: true }).length > 0;
  const { manifest, opened } = await openExistingLine(o.storage, o.backupId, { topics: inScope });
  const manifestSha = opened.digest;
  const admin = createAdmin(o.target, 'target');
  const k = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw kafkaError(e, what, o.target);
    }
  };
  try {
    const md = await k('reading target cluster metadata', () => admin.metadata({}));
    const existingTopics = new Set(
      await k('listing target topics', () => admin.listTopics({ includeInternals: true })),
    );
    const wanted = Object.keys(manifest.topics).map((t) => o.topicMapping[t] ?? t);
    const present = wanted.filter((t) => existingTopics.has(t));
    const described = await k('describing target topics', () => describeTopics(admin, present, true));
    const targets = new Map<string, TargetTopicInfo>();
    for (const [name, d] of described) targets.set(name, { partitions: d.partitions.length });
    const interrupted = await interruptedSnapshot(state, o, manifest);
    if (interrupted && interrupted !== chooseSnapshot(manifest, o.snapshot).id)
      log.warn(
        'resuming the interrupted restore of an older snapshot; run the restore again afterwards for newer ones',
        {
          snapshot: interrupted,
          latest: chooseSnapshot(manifest, 'latest').id,
        },
      );
    const plan = buildPlan(manifest, interrupted ? { ...o, snapshot: interrupted } : o, targets, md.brokers.size);
    await checkTimestampTypes(admin, plan, o).catch((e: unknown) => {
      throw e instanceof UsageError ? e : kafkaError(e, 'reading target topic configs', o.target);
    });
    const warnings = retentionWarnings(plan);
    for (const w of warnings) log.warn(w);

    const planKey = restoreKeys.plan(o.backupId, plan.restoreId);
    let planState: PlanState | null = null;
    try {
      planState = JSON.parse((await state.get(planKey)).toString('utf8')) as PlanState;
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    // the target registry gets the schemas before any record refers to them (docs/schema-registry.md)
    const schemaIds = o.schemaIds ? await o.schemaIds(plan.snapshot, o.dryRun) : null;
    if (o.dryRun) {
      return {
        ...summary(plan, o, started, 0, 0, [], warnings),
        ...(schemaIds ? { schema_registry: schemaIds.report() } : {}),
        dry_run: true,
        resumed: planState !== null,
        plan,
      };
    }

    let topicReports: TopicReport[] = [];
    if (!planState) {
      topicReports = await prepareTopics(admin, plan, o);
      const parts = plan.jobs.flatMap((j) => j.targetPartitions.map((p) => ({ topic: j.targetTopic, partition: p })));
      // partitions of a topic created a moment ago may still answer NOT_LEADER_OR_FOLLOWER
      const ends = await k('reading target end offsets', () =>
        retry(() => listOffsets(admin, parts, ListOffsetTimestamp.latest, IsolationLevel.readUncommitted), {
          maxRetries: 15,
          initialDelayMs: 200,
          maxDelayMs: 3_000,
          isRetryable: () => true,
        }),
      );
      planState = {
        format: 'kafka-backup/restore-plan',
        version: 1,
        restore_id: plan.restoreId,
        backup_id: o.backupId,
        snapshot_id: plan.snapshot.id,
        created_at: new Date().toISOString(),
        baselines: {},
      };
      for (const p of parts)
        (planState.baselines[p.topic] ??= {})[String(p.partition)] = ends.get(pkey(p.topic, p.partition)) ?? 0;
      await state.put(planKey, Buffer.from(JSON.stringify(planState, null, 1)), { ifAbsent: true });
    } else {
      log.info('resuming restore', { restore_id: plan.restoreId });
    }

    const leaders = new Leaders(admin);
    const progress: RestoreProgress = {
      records: 0,
      bytes: 0,
      recordsTotal: plan.recordsEstimate,
      partitionsDone: 0,
      partitionsTotal: plan.jobs.length,
    };
    const limits = { records: new RateLimiter(o.maxRecordsPerSec), bytes: new RateLimiter(o.maxBytesPerSec) };
    o.onProgress?.(progress); // planned and connected: metrics readiness
    const mappings = new Map<string, Map<number, MappingBuilder>>();
    const perTopic = new Map<string, number>();
    let identity = await k('initialising the idempotent producer', () => initProducerId(admin));
    const queue = [...plan.jobs];
    // decompressed blocks, shared by the jobs: each holds a few while its batches are in flight
    const blocks = new BlockPool(Math.max(1, o.maxConcurrentPartitions));
    let fatal: Error | null = null;
    const runOne = async (): Promise<void> => {
      while (!o.signal?.aborted && !fatal) {
        const job = queue.shift();
        if (!job) return;
        const firstFailure = { at: 0 };
        let jobIdentity = identity;
        let renew = false;
        for (let attempt = 0; ; attempt++) {
          try {
            if (renew) {
              // A resync needs a new producer id. If InitProducerId fails, this attempt fails:
              // the old identity must not be reused, since its sequences on this job's
              // partitions are past 0 and the new PartitionProducers would start from 0 (the
              // broker may then take a batch for a duplicate of an old one and drop it).
              jobIdentity = await k('initialising the idempotent producer', () => initProducerId(admin));
              identity = jobIdentity;
              renew = false;
            }
            const r = await runJob(
              job,
              o,
              planState!,
              admin,
              leaders,
              jobIdentity,
              limits,
              progress,
              schemaIds?.rewriterFor(job.sourceTopic) ?? null,
              blocks,
            );
            const tm = mappings.get(job.targetTopic) ?? new Map<number, MappingBuilder>();
            for (const [tp, b] of r.mapping) tm.set(tp, b);
            mappings.set(job.targetTopic, tm);
            perTopic.set(job.targetTopic, (perTopic.get(job.targetTopic) ?? 0) + r.produced);
            progress.partitionsDone++;
            o.onProgress?.(progress);
            break;
          } catch (e) {
            firstFailure.at ||= Date.now();
            const givenUp = o.giveUpAfterSecs > 0 && Date.now() - firstFailure.at > o.giveUpAfterSecs * 1000;
            const retriable = e instanceof ResyncNeeded || renew;
            if (!retriable || attempt >= MAX_RESYNCS || givenUp) {
              fatal ??=
                e instanceof ResyncNeeded
                  ? new KafkaError(`restore of ${job.id} failed after ${attempt + 1} attempts: ${e.message}`, {
                      hint: 'check the target cluster; run the same command again to resume exactly where it stopped',
                    })
                  : (e as Error);
              return;
            }
            const delay = Math.min(5_000, 200 * 2 ** attempt);
            log.warn(
              renew
                ? 'InitProducerId failed; trying again'
                : 'produce failed; continuing from the target log with a new producer id',
              { job: job.id, reason: (e as Error).message, retry_in_ms: delay },
            );
            await new Promise((r) => setTimeout(r, delay));
            renew = true;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, o.maxConcurrentPartitions) }, () => runOne()));
    if (fatal) throw fatal;
    if (o.signal?.aborted) {
      const { InterruptedError } = await import('../errors.ts');
      throw new InterruptedError(`restore ${plan.restoreId} was interrupted`, {
        hint: 'run the same command again: it resumes exactly where this run stopped',
      });
    }

    const mapping: OffsetMapping = {
      format: 'kafka-backup/offset-map',
      version: 1,
      restore_id: plan.restoreId,
      backup_id: o.backupId,
      snapshot_id: plan.snapshot.id,
      created_at: new Date().toISOString(),
      topics: {},
      manifest_sha256: manifestSha,
      ...(opened.version === 2 ? { manifest_seq: manifest.generation } : {}),
    };
    for (const t of plan.topics) {
      const tm = mappings.get(t.target);
      mapping.topics[t.target] = {
        source_topic: t.source,
        partitions: Object.fromEntries(
          [...(tm ?? new Map<number, MappingBuilder>())].map(([p, b]) => [String(p), b.runs]),
        ),
      };
    }
    const mappingKey = restoreKeys.mapping(o.backupId, plan.restoreId);
    await state.put(mappingKey, Buffer.from(JSON.stringify(mapping)));
    const result: RestoreResult = summary(
      plan,
      o,
      started,
      progress.records,
      progress.bytes,
      topicReports,
      warnings,
      perTopic,
    );
    if (schemaIds) {
      result.schema_id_map_key = restoreKeys.schemaIdMap(o.backupId, plan.restoreId);
      await state.put(
        result.schema_id_map_key,
        Buffer.from(JSON.stringify(schemaIds.artifact(plan.restoreId), null, 1)),
      );
      result.schema_registry = schemaIds.report();
    }
    const reportKey = restoreKeys.report(o.backupId, plan.restoreId);
    await state.put(
      reportKey,
      Buffer.from(
        JSON.stringify({ ...result, mapping_sha256: digestOf(Buffer.from(JSON.stringify(mapping))) }, null, 1),
      ),
    );
    log.info('restore finished', {
      restore_id: plan.restoreId,
      records: progress.records,
      duration_ms: Date.now() - started,
      ...leaders.requestStats(),
    });
    return { ...result, resumed: topicReports.length === 0, mapping_key: mappingKey, report_key: reportKey };
  } finally {
    await admin.close().catch(() => undefined);
  }
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
async function interruptedSnapshot(
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

function summary(
  plan: RestorePlan,
  o: RestoreOptions,
  started: number,
  records: number,
  bytes: number,
  reports: TopicReport[],
  warnings: string[],
  perTopic = new Map<string, number>(),
): RestoreResult {
  return {
    restore_id: plan.restoreId,
    backup_id: o.backupId,
    snapshot_id: plan.snapshot.id,
    dry_run: o.dryRun,
    resumed: false,
    duration_ms: Date.now() - started,
    records,
    bytes,
    topics: plan.topics.map((t) => {
      const r = reports.find((x) => x.topic === t.target);
      return {
        source: t.source,
        ...(t.sourceTopicId ? { source_topic_id: t.sourceTopicId } : {}),
        target: t.target,
        partitions: t.targetPartitions,
        records: perTopic.get(t.target) ?? 0,
        created: r?.created ?? false,
        configs: r?.configs ?? t.configs,
        dropped_configs: { ...t.droppedConfigs, ...(r?.dropped ?? {}) },
      };
    }),
    warnings,
    ...(o.pointInTime !== undefined ? { point_in_time: o.pointInTime } : {}),
    ...(o.timeWindowEnd !== undefined ? { time_window_end: o.timeWindowEnd } : {}),
  };
}

function retentionWarnings(plan: RestorePlan): string[] {
  const out: string[] = [];
  const now = Date.now();
  for (const t of plan.topics) {
    const retention = Number(t.configs['retention.ms'] ?? 604_800_000);
    const policy = t.configs['cleanup.policy'] ?? 'delete';
    if (retention < 0 || !policy.includes('delete') || t.minTimestamp < 0) continue;
    if (t.minTimestamp < now - retention)
      out.push(
        `topic ${t.target}: records from ${new Date(t.minTimestamp).toISOString()} are older than its retention.ms (${retention}); the broker may delete them right after the restore. To keep them set restore.topic_configs: { ${t.target}: { retention.ms: "-1" } }`,
      );
  }
  return out;
}

interface JobResult {
  produced: number;
  mapping: Map<number, MappingBuilder>;
}

/** One job, from the start of its stream; records already in the target are skipped and checked. */
async function runJob(
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

export type { StorageBackend };
