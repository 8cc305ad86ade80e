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
 *
 * Files: a job's read-and-produce loop is job.ts; the restore's own state objects and resumption
 * state.ts; the result and its warnings result.ts; leaders and per-broker senders leaders.ts.
 */
import { selectTopics } from '../backup/topic-patterns.ts';
import { isNotFound, KafkaError, UsageError } from '../errors.ts';
import { BlockPool } from '../format/block-pool.ts';
import { describeTopics, IsolationLevel, ListOffsetTimestamp, listOffsets, pkey } from '../kafka/admin-helpers.ts';
import { createAdmin, kafkaError } from '../kafka/client.ts';
import { openExistingLine } from '../repository/line.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { logger } from '../util/log.ts';
import { retry } from '../util/retry.ts';
import { runJob } from './job.ts';
import { Leaders } from './leaders.ts';
import { digestOf, type MappingBuilder, type OffsetMapping } from './offset-map.ts';
import type { RestoreOptions, RestoreProgress } from './options.ts';
import { buildPlan, chooseSnapshot, type TargetTopicInfo } from './plan.ts';
import { initProducerId, ResyncNeeded } from './producer.ts';
import { RateLimiter } from './rate-limiter.ts';
import { type RestoreResult, retentionWarnings, summary } from './result.ts';
import { interruptedSnapshot, type PlanState, restoreKeys } from './state.ts';
import { checkTimestampTypes, prepareTopics, type TopicReport } from './topics.ts';

const log = logger('restore');
const MAX_RESYNCS = 10;

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

export type { RestoreResult } from './result.ts';
export { restoreKeys } from './state.ts';
export type { StorageBackend };
