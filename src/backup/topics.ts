/**
 * The topics and partitions a run follows: each topic recorded in the manifest (id, configs,
 * partition count; a re-created one retires its old state), its partitions' leaders, and a
 * PartitionWriter per partition. Used when the run starts (prepare.ts) and when the cluster grows
 * during a continuous run (cluster-follower.ts).
 */
import type { PartitionState, TopicState } from '../format/manifest.ts';
import { ListOffsetTimestamp, listOffsets, pkey, type TopicDescription } from '../kafka/admin-helpers.ts';
import { logger } from '../util/log.ts';
import type { BackupOptions } from './options.ts';
import { PartitionWriter } from './partition-writer.ts';
import type { RunContext } from './run-context.ts';
import { successorSnapshot } from './snapshots.ts';

const log = logger('backup');

export type TopicsContext = Pick<
  RunContext,
  | 'o'
  | 'runId'
  | 'blocks'
  | 'admin'
  | 'manifest'
  | 'snapshot'
  | 'writers'
  | 'topicInfo'
  | 'leaders'
  | 'leaderEpochs'
  | 'progress'
  | 'kafka'
>;

/**
 * Records topics (ids, configs, partition counts) in the manifest; a re-created topic retires its
 * old state (returned: the names re-created). During a continuous run, the running snapshot then
 * ends with the old incarnation and a successor follows the new one (src/backup/snapshots.ts).
 */
export function registerTopics(
  ctx: TopicsContext,
  names: string[],
  described: Map<string, TopicDescription>,
  configs: Map<string, { overrides: Record<string, string>; effective: Record<string, string> }>,
  now: string,
): Set<string> {
  const m = ctx.manifest;
  const recreated = new Set<string>();
  for (const name of names) {
    const d = described.get(name);
    if (!d) continue;
    const c = configs.get(name) ?? { overrides: {}, effective: {} };
    const existing = m.topics[name];
    if (existing && existing.topic_id !== d.topicId) {
      log.warn('topic was deleted and re-created since the last backup; the old data stays listed as retired', {
        topic: name,
        old_topic_id: existing.topic_id,
        new_topic_id: d.topicId,
      });
      m.retired_topics.push({
        name,
        topic_id: existing.topic_id,
        retired_at: now,
        reason: `re-created with topic id ${d.topicId}`,
        state: existing,
      });
      delete m.topics[name];
      recreated.add(name);
      if (ctx.snapshot && ctx.snapshot.state === 'in-progress' && ctx.snapshot.end_offsets[name]) {
        const next = successorSnapshot(ctx.snapshot, name, d.topicId, new Date(now), m.snapshots);
        log.info('snapshot ends with the old incarnation of a re-created topic; a new snapshot follows the new one', {
          topic: name,
          ended: ctx.snapshot.id,
          snapshot: next.id,
        });
        m.snapshots.push(next);
        ctx.snapshot = next;
      }
    }
    if (ctx.snapshot) (ctx.snapshot.topic_ids ??= {})[name] = d.topicId;
    const t: TopicState = m.topics[name] ?? {
      topic_id: d.topicId,
      partition_count: d.partitions.length,
      replication_factor: d.replicationFactor,
      configs: {},
      timestamp_type: 'CreateTime',
      partitions: {},
    };
    t.partition_count = d.partitions.length;
    t.replication_factor = d.replicationFactor;
    t.configs = c.overrides;
    t.timestamp_type = c.effective['message.timestamp.type'] === 'LogAppendTime' ? 'LogAppendTime' : 'CreateTime';
    (t as TopicState & { cleanup_policy?: string }).cleanup_policy = c.effective['cleanup.policy'] ?? 'delete';
    m.topics[name] = t;
    ctx.topicInfo.set(name, d);
    noteLeaders(ctx, d);
  }
  return recreated;
}

/** The loop groups fetches by these leaders; the fetcher sends the epochs so a stale leader refuses. */
export function noteLeaders(ctx: Pick<RunContext, 'leaders' | 'leaderEpochs'>, d: TopicDescription): void {
  for (const p of d.partitions) {
    ctx.leaders.set(pkey(d.name, p.partition), p.leader);
    ctx.leaderEpochs.set(pkey(d.name, p.partition), p.leaderEpoch);
  }
}

/** A PartitionWriter per partition, starting where the line left off (or at backup.start when new). */
export async function createWriters(
  ctx: TopicsContext,
  parts: { topic: string; partition: number }[],
  lso: Map<string, number>,
  start: BackupOptions['start'] = ctx.o.start,
): Promise<void> {
  const o = { ...ctx.o, start };
  const m = ctx.manifest;
  // Start positions for partitions this line has not seen.
  const unseen = parts.filter((p) => !m.topics[p.topic]!.partitions[String(p.partition)]);
  let starts = new Map<string, number>();
  if (unseen.length) {
    if (o.start === 'earliest')
      starts = await ctx.kafka('listing start offsets', () =>
        listOffsets(ctx.admin, unseen, ListOffsetTimestamp.earliest),
      );
    else if (o.start === 'latest')
      starts = new Map(unseen.map((p) => [pkey(p.topic, p.partition), lso.get(pkey(p.topic, p.partition)) ?? 0]));
    else {
      const ts = typeof o.start === 'number' ? o.start : Date.parse(o.start);
      const byTime = await ctx.kafka('listing offsets by time', () => listOffsets(ctx.admin, unseen, BigInt(ts)));
      for (const p of unseen) {
        const k = pkey(p.topic, p.partition);
        const v = byTime.get(k);
        starts.set(k, v === undefined || v < 0 ? (lso.get(k) ?? 0) : v);
      }
    }
    // partitions added to a topic the line already follows hold nothing it has seen: they are
    // backed up from their first offset, whatever backup.start says about new topics
    const grown = unseen.filter((p) => Object.keys(m.topics[p.topic]!.partitions).length > 0);
    if (grown.length && o.start !== 'earliest') {
      const first = await ctx.kafka('listing start offsets', () =>
        listOffsets(ctx.admin, grown, ListOffsetTimestamp.earliest),
      );
      for (const [k, v] of first) starts.set(k, v);
    }
  }
  for (const { topic, partition } of parts) {
    const t = m.topics[topic]!;
    const k = pkey(topic, partition);
    const ps: PartitionState = (t.partitions[String(partition)] ??= {
      start_offset: starts.get(k) ?? 0,
      next_offset: starts.get(k) ?? 0,
      files: [],
      gaps: [],
    });
    const end = o.mode === 'snapshot' ? ctx.snapshot.end_offsets[topic]![String(partition)]! : Number.POSITIVE_INFINITY;
    const w = new PartitionWriter(
      {
        backupId: o.backupId,
        runId: ctx.runId,
        topic,
        topicId: t.topic_id,
        partition,
        compacted: ((t as TopicState & { cleanup_policy?: string }).cleanup_policy ?? '').includes('compact'),
        codec: o.codec,
        level: o.level,
        fileChecksum: o.fileChecksum,
        batchSize: o.batchSize,
        maxBatchBytes: o.maxBatchBytes,
        segmentMaxBytes: o.segmentMaxBytes,
        segmentMaxIntervalMs: o.segmentMaxIntervalSecs * 1000,
        storage: o.storage,
        blocks: ctx.blocks,
        onStored: (raw, stored, records) => {
          ctx.progress.rawBytes += raw;
          ctx.progress.storedBytes += stored;
          ctx.progress.records += records;
          const tp = (ctx.progress.topics[topic] ??= { records: 0, bytes: 0 });
          tp.records += records;
          tp.bytes += raw;
        },
      },
      ps.next_offset,
      end,
    );
    // KIP-320 across runs: the first fetch tells whether the log still holds what was read
    if (ps.leader_epoch !== undefined) w.lastFetchedEpoch = w.committedEpoch = ps.leader_epoch;
    ctx.writers.set(k, w);
  }
  ctx.progress.partitionsTotal = ctx.writers.size;
}
