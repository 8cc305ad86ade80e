/**
 * The restore plan (pure): which stored partitions go to which target partitions, over which
 * offset ranges, from which files, and which topics must be created with which configs.
 * Everything a dry run prints and every check that can fail before producing lives here.
 */
import { createHash } from 'node:crypto';
import { selectTopics } from '../backup/topic-patterns.ts';
import { UsageError } from '../errors.ts';
import type { FileEntry, Manifest, Snapshot } from '../format/manifest.ts';
import { topicOf } from '../inspect/summary.ts';
import type { RestoreOptions } from './options.ts';

export interface SourceRange {
  topic: string;
  partition: number;
  /** [from, to) in source offsets. */
  from: number;
  to: number;
  files: FileEntry[];
  /** Upper bound of records in range (whole files); exact counts come from reading. */
  recordsEstimate: number;
  bytesEstimate: number;
}

export interface TopicPlan {
  source: string;
  /** The topic id (incarnation) of the source topic the snapshot holds (absent in plans of older versions). */
  sourceTopicId?: string;
  target: string;
  sourcePartitions: number;
  /** Partition count of the target (existing, or to create). */
  targetPartitions: number;
  exists: boolean;
  create: boolean;
  repartition: boolean;
  replicationFactor: number;
  configs: Record<string, string>;
  /** Configs not carried over, with the reason. */
  droppedConfigs: Record<string, string>;
  largestBatch: number;
  minTimestamp: number;
  maxTimestamp: number;
}

/** One unit of work: source partitions read in order, each record routed to a target partition. */
export interface RestoreJob {
  id: string;
  sourceTopic: string;
  targetTopic: string;
  ranges: SourceRange[];
  /** Target partitions this job writes (no other job writes them). */
  targetPartitions: number[];
  /** Fixed mapping (no repartitioning): source partition -> target partition. */
  partitionMap: Record<string, number> | null;
  repartition: { targetCount: number } | null;
}

export interface RestorePlan {
  restoreId: string;
  backupId: string;
  snapshot: Snapshot;
  topics: TopicPlan[];
  jobs: RestoreJob[];
  recordsEstimate: number;
  bytesEstimate: number;
}

export interface TargetTopicInfo {
  partitions: number;
}

/** Chooses the snapshot: newest complete for 'latest', else by id (listing the ids on a miss). */
export function chooseSnapshot(m: Manifest, wanted: string): Snapshot {
  if (wanted === 'latest') {
    const complete = m.snapshots.filter((s) => s.state === 'complete');
    const s = complete[complete.length - 1];
    if (!s)
      throw new UsageError(`backup ${m.backup_id} has no complete snapshot yet`, {
        hint: `snapshots: ${m.snapshots.map((x) => `${x.id} (${x.state})`).join(', ') || 'none'}; finish the backup first, or name a snapshot explicitly`,
      });
    return s;
  }
  const s = m.snapshots.find((x) => x.id === wanted);
  if (!s)
    throw new UsageError(`backup ${m.backup_id} has no snapshot '${wanted}'`, {
      hint: `snapshots: ${m.snapshots.map((x) => x.id).join(', ') || 'none'} (see 'kafka-backup list')`,
      code: 'UNKNOWN_SNAPSHOT',
    });
  return s;
}

/** Deterministic id: the same backup, snapshot, selection and target give the same id, so a re-run finds its state. */
export function restoreIdFor(o: RestoreOptions, snapshotId: string): string {
  const basis = JSON.stringify({
    b: o.backupId,
    s: snapshotId,
    t: o.target.bootstrap_servers,
    sel: o.topics,
    pit: o.pointInTime ?? null,
    ws: o.timeWindowStart ?? null,
    we: o.timeWindowEnd ?? null,
    ow: o.offsetWindow,
    tm: o.topicMapping,
    pm: o.partitionMapping,
    rp: o.repartitioning,
    h: o.includeOriginalOffsetHeader,
    c: o.compression,
  });
  return `r-${createHash('sha256').update(basis).digest('hex').slice(0, 16)}`;
}

/** Configs a restore never copies: the timestamp type would overwrite restored timestamps. */
const NEVER_COPY: Record<string, string> = {
  'message.timestamp.type': 'restored topics use CreateTime so records keep their original timestamps',
};

export function buildPlan(
  m: Manifest,
  o: RestoreOptions,
  targets: Map<string, TargetTopicInfo>,
  brokerCount: number,
): RestorePlan {
  const snapshot = chooseSnapshot(m, o.snapshot);
  // each topic as the snapshot saw it: a topic re-created since is another incarnation (topicOf)
  const incarnations = new Map(
    Object.keys(snapshot.end_offsets).flatMap((t) => {
      const ts = topicOf(m, t, snapshot);
      return ts ? [[t, ts] as const] : [];
    }),
  );
  const available = [...incarnations.keys()];
  const selected = selectTopics(available, { ...o.topics, include_internal: true });
  for (const src of Object.keys(o.topicMapping))
    if (!available.includes(src))
      throw new UsageError(`restore.topic_mapping names topic '${src}', which is not in snapshot ${snapshot.id}`, {
        hint: `topics in the snapshot: ${available.join(', ')}`,
      });
  const targetOf = (t: string) => o.topicMapping[t] ?? t;
  const seen = new Map<string, string>();
  for (const t of selected) {
    const tgt = targetOf(t);
    const other = seen.get(tgt);
    if (other)
      throw new UsageError(`restore would send topics '${other}' and '${t}' both to target topic '${tgt}'`, {
        hint: 'map each source topic to its own target topic in restore.topic_mapping',
      });
    seen.set(tgt, t);
  }

  const topics: TopicPlan[] = [];
  const jobs: RestoreJob[] = [];
  let recordsEstimate = 0;
  let bytesEstimate = 0;
  for (const src of selected) {
    const ts = incarnations.get(src)!;
    const tgt = targetOf(src);
    const existing = targets.get(tgt);
    const pmap = o.partitionMapping[src] ?? {};
    const sourceCount = ts.partition_count;
    const mappedMax = Math.max(sourceCount - 1, ...Object.values(pmap));
    const targetCount = existing?.partitions ?? mappedMax + 1;
    const repartition = o.repartitioning && existing !== undefined && existing.partitions !== sourceCount;
    if (!repartition) {
      for (const [sp, tp] of Object.entries(pmap)) {
        if (!Number.isInteger(tp) || tp < 0 || tp >= targetCount)
          throw new UsageError(
            `restore.partition_mapping.${src}.${sp} is ${tp}, but target topic ${tgt} has ${targetCount} partitions (0..${targetCount - 1})`,
            { hint: 'map to an existing partition, or set restore.repartitioning: true' },
          );
      }
      if (existing && existing.partitions < sourceCount && Object.keys(pmap).length === 0)
        throw new UsageError(
          `target topic ${tgt} has ${existing.partitions} partitions, fewer than the ${sourceCount} of ${src} in the backup`,
          {
            hint: 'set restore.repartitioning: true to place records by key, or map partitions with restore.partition_mapping',
          },
        );
    }
    const ranges: SourceRange[] = [];
    let largestBatch = 0;
    let minTs = Number.MAX_SAFE_INTEGER;
    let maxTs = -1;
    for (let p = 0; p < sourceCount; p++) {
      const ps = ts.partitions[String(p)];
      if (!ps) continue;
      const end = snapshot.end_offsets[src]?.[String(p)] ?? ps.next_offset;
      const win = o.offsetWindow[src]?.[String(p)];
      const from = Math.max(ps.start_offset, win?.start ?? 0);
      const to = Math.min(end, ps.next_offset, win?.end ?? Number.MAX_SAFE_INTEGER);
      if (to <= from) continue;
      const files = ps.files.filter((f) => f.last_offset >= from && f.first_offset < to && f.records > 0);
      if (!files.length) continue;
      const inWindow = files.filter(
        (f) =>
          (o.timeWindowStart === undefined || f.max_timestamp >= o.timeWindowStart) &&
          (o.timeWindowEnd === undefined || f.min_timestamp < o.timeWindowEnd),
      );
      const range: SourceRange = {
        topic: src,
        partition: p,
        from,
        to,
        files: inWindow,
        recordsEstimate: inWindow.reduce((s, f) => s + f.records, 0),
        bytesEstimate: inWindow.reduce((s, f) => s + f.raw_bytes, 0),
      };
      if (!range.files.length) continue;
      for (const f of inWindow) {
        largestBatch = Math.max(largestBatch, f.max_batch_bytes ?? f.raw_bytes);
        if (f.min_timestamp >= 0) minTs = Math.min(minTs, f.min_timestamp);
        maxTs = Math.max(maxTs, f.max_timestamp);
      }
      ranges.push(range);
      recordsEstimate += range.recordsEstimate;
      bytesEstimate += range.bytesEstimate;
    }
    const configs: Record<string, string> = {};
    const dropped: Record<string, string> = {};
    for (const [k, v] of Object.entries(ts.configs)) {
      if (NEVER_COPY[k]) dropped[k] = NEVER_COPY[k]!;
      else configs[k] = v;
    }
    configs['message.timestamp.type'] = 'CreateTime';
    const neededMax = largestBatch + 1024;
    if (neededMax > Number(configs['max.message.bytes'] ?? 1048588)) configs['max.message.bytes'] = String(neededMax);
    Object.assign(configs, o.topicConfigs[tgt] ?? o.topicConfigs[src] ?? {});
    topics.push({
      source: src,
      sourceTopicId: ts.topic_id,
      target: tgt,
      sourcePartitions: sourceCount,
      targetPartitions: targetCount,
      exists: existing !== undefined,
      create: existing === undefined && o.createTopics,
      repartition,
      replicationFactor: o.replicationFactor ?? Math.min(ts.replication_factor, Math.max(1, brokerCount)),
      configs,
      droppedConfigs: dropped,
      largestBatch,
      minTimestamp: minTs === Number.MAX_SAFE_INTEGER ? -1 : minTs,
      maxTimestamp: maxTs,
    });
    if (!existing && !o.createTopics)
      throw new UsageError(`target topic ${tgt} does not exist and restore.create_topics is false`, {
        hint: 'create it first, or set restore.create_topics: true',
      });
    if (ranges.length === 0) continue;
    if (repartition) {
      jobs.push({
        id: `${src}->${tgt}`,
        sourceTopic: src,
        targetTopic: tgt,
        ranges,
        targetPartitions: Array.from({ length: targetCount }, (_, i) => i),
        partitionMap: null,
        repartition: { targetCount },
      });
    } else {
      const byTarget = new Map<number, SourceRange[]>();
      for (const r of ranges) {
        const tp = pmap[String(r.partition)] ?? r.partition;
        const list = byTarget.get(tp) ?? [];
        list.push(r);
        byTarget.set(tp, list);
      }
      for (const [tp, rs] of byTarget) {
        jobs.push({
          id: `${src}-${rs.map((r) => r.partition).join('+')}->${tgt}-${tp}`,
          sourceTopic: src,
          targetTopic: tgt,
          ranges: rs,
          targetPartitions: [tp],
          partitionMap: Object.fromEntries(rs.map((r) => [String(r.partition), tp])),
          repartition: null,
        });
      }
    }
  }
  if (recordsEstimate === 0 && !o.allowEmpty)
    throw new UsageError(`the restore selection holds no record (snapshot ${snapshot.id})`, {
      hint: 'check restore.topics, the windows and the point in time; or set restore.allow_empty: true',
      code: 'NOTHING_SELECTED',
    });
  return {
    restoreId: o.restoreId ?? restoreIdFor(o, snapshot.id),
    backupId: m.backup_id,
    snapshot,
    topics,
    jobs,
    recordsEstimate,
    bytesEstimate,
  };
}
