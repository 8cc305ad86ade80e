/**
 * The offset plan: for every selected group, target topic and partition, the offset the group
 * will be moved to, how it was found, the group's current offset there, and the lag after the
 * move. Reads the target (group states, current offsets, end offsets, offsets by time, headers)
 * and the backup (record timestamps); writes nothing.
 */
import { KafkaError, UsageError } from '../errors.ts';
import type { Manifest } from '../format/manifest.ts';
import { type PartitionKey, pkey } from '../kafka/admin-helpers.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { logger } from '../util/log.ts';
import { type Cluster, type GroupState, timeKey } from './cluster.ts';
import type { RestoreContext, SourcePositions } from './context.ts';
import type { Commit, GroupOffsetsMap, GroupStatus, OffsetPlan, OffsetStrategy, PlanEntry } from './model.ts';
import { SourceTimestamps } from './source-data.ts';
import { type Candidate, mapGroups, mergeCandidates, selectGroups, TopicRunIndex } from './translate.ts';

const log = logger('offsets');

export interface PlanInput {
  backupId: string;
  /** The backup line's manifest (newest generation): snapshots, data files for timestamps. */
  manifest: Manifest;
  storage: StorageBackend;
  snapshotId: string | null;
  restore: RestoreContext | null;
  /** Source -> target topic names when there is no restore to follow (default: same name). */
  topicMapping: Record<string, string>;
  positions: SourcePositions;
  target: Cluster;
  groups: string[];
  groupMapping: Record<string, string>;
  strategy: OffsetStrategy;
  toDatetime?: number | undefined;
  toOffset?: number | undefined;
  concurrency: number;
}

export interface PlanOutcome {
  plan: OffsetPlan;
  /** Every committed offset of the target groups (all topics) at planning time. */
  current: GroupOffsetsMap;
  states: Map<string, GroupState>;
}

/** A pending target position: a fixed offset, or one to look up. */
type Need =
  | { kind: 'offset'; offset: number; rule: string }
  | { kind: 'time'; ts: number; rule: string }
  | { kind: 'earliest' | 'latest'; rule: string }
  | { kind: 'clamp'; offset: number; rule: string };

interface Pending {
  group: string;
  source_group: string;
  topic: string;
  source_topic: string;
  partition: number;
  sources: { partition: number; offset: number }[];
  strategy: OffsetStrategy;
  need: Need;
  metadata: string | null;
  note?: string;
}

export function sameMetadata(a: string | null | undefined, b: string | null | undefined): boolean {
  return (a ?? '') === (b ?? '');
}

export async function buildOffsetPlan(input: PlanInput): Promise<PlanOutcome> {
  const { restore, strategy } = input;
  const notes = [...input.positions.notes];
  // restored topics: source -> target
  const topicPairs = new Map<string, string>();
  if (restore) for (const t of restore.report.topics) topicPairs.set(t.source, t.target);
  else
    for (const t of Object.keys(input.manifest.topics))
      if (!input.snapshotId || input.manifest.snapshots.find((s) => s.id === input.snapshotId)?.end_offsets[t])
        topicPairs.set(t, input.topicMapping[t] ?? t);

  if (strategy === 'exact' && !restore?.mapping)
    throw new UsageError(
      restore
        ? `restore ${restore.restoreId} has no offset map (${restore.mappingKey}); the exact strategy needs it`
        : `backup ${input.backupId} has no finished restore to follow; the exact strategy needs a restore's offset map`,
      {
        hint: 'pass the restore with --restore-id, or choose --strategy header (restored with include_original_offset_header), timestamp, earliest, latest, to-datetime or to-offset',
        code: 'NO_MAPPING',
      },
    );
  if (strategy === 'to-datetime' && input.toDatetime === undefined)
    throw new UsageError('strategy to-datetime needs a time', { hint: 'pass --to-datetime 2025-01-01T00:00:00Z' });
  if (strategy === 'to-offset' && input.toOffset === undefined)
    throw new UsageError('strategy to-offset needs an offset', { hint: 'pass --to-offset N' });

  // groups
  const all = input.positions.groups;
  const sel = selectGroups(Object.keys(all), input.groups);
  const where =
    input.positions.from.kind === 'capture'
      ? `the capture ${input.positions.from.key}`
      : input.positions.from.kind === 'live'
        ? `the source cluster ${input.positions.from.bootstrap_servers.join(',')}`
        : 'the source';
  if (sel.unknown.length)
    throw new UsageError(
      `unknown consumer group(s): ${sel.unknown.join(', ')} (no committed offsets on a backed-up topic in ${where})`,
      {
        hint: `groups there: ${Object.keys(all).sort().slice(0, 20).join(', ') || 'none'}${Object.keys(all).length > 20 ? ', …' : ''}`,
        code: 'UNKNOWN_GROUP',
      },
    );
  const onRestored = (g: string) => Object.keys(all[g] ?? {}).some((t) => topicPairs.has(t));
  const explicit = new Set(input.groups.filter((p) => !p.startsWith('~') && !/[*?]/.test(p)));
  const noOffsets = sel.selected.filter((g) => explicit.has(g) && !onRestored(g));
  if (noOffsets.length)
    throw new UsageError(`group(s) ${noOffsets.join(', ')} have no committed offsets on the restored topics`, {
      hint: `restored topics: ${[...topicPairs.keys()].join(', ') || 'none'}; their offsets are on: ${noOffsets.map((g) => `${g}: ${Object.keys(all[g] ?? {}).join(',')}`).join('; ')}`,
      code: 'NO_OFFSETS',
    });
  const skipped = sel.selected
    .filter((g) => !onRestored(g))
    .map((g) => ({ group: g, reason: 'no offsets on the restored topics' }));
  const groups = sel.selected.filter(onRestored);
  if (groups.length === 0)
    throw new UsageError(
      `no consumer group with offsets on the restored topics matches ${input.groups.length ? input.groups.join(', ') : '*'}`,
      {
        hint: `${sel.unmatched.length ? `patterns without a match: ${sel.unmatched.join(', ')}; ` : ''}groups in ${where}: ${Object.keys(all).sort().slice(0, 20).join(', ') || 'none'}`,
        code: 'NO_GROUPS',
      },
    );
  const targetOf = mapGroups(groups, input.groupMapping);

  // target topics in use
  const usedSources = new Set<string>();
  for (const g of groups) for (const t of Object.keys(all[g]!)) if (topicPairs.has(t)) usedSources.add(t);
  const targetTopics = [...usedSources].map((s) => topicPairs.get(s)!);
  const counts = await input.target.partitionCounts(targetTopics);
  const missing = [...usedSources].filter((s) => !counts.has(topicPairs.get(s)!));
  if (missing.length)
    throw new KafkaError(
      `the target cluster ${input.target.conn.bootstrap_servers.join(',')} has no topic ${missing.map((s) => `${topicPairs.get(s)} (restored from ${s})`).join(', ')}`,
      {
        hint: restore
          ? `restore ${restore.restoreId} wrote to a cluster that has these topics; point --bootstrap (target.bootstrap_servers) at it`
          : 'restore the topics first, or set restore.topic_mapping to the names they have on the target',
        code: 'TARGET_TOPIC_MISSING',
      },
    );

  // per topic: how to translate
  const indexes = new Map<string, TopicRunIndex | null>();
  const topicStrategy = new Map<string, OffsetStrategy>();
  for (const src of usedSources) {
    const tgt = topicPairs.get(src)!;
    let index: TopicRunIndex | null = null;
    if (strategy === 'exact') {
      const mt = restore!.mapping!.topics[tgt];
      index = new TopicRunIndex(mt?.partitions ?? {});
    } else if (strategy === 'header') {
      const scan = await input.target.scanOriginalHeaders(tgt, src);
      index = new TopicRunIndex(scan.runs.partitions());
      if (scan.records === 0)
        notes.push(
          `topic ${tgt}: no record carries original-offset headers for ${src}; every position resolves to the end of the partition`,
        );
    } else if (strategy === 'timestamp' && restore?.mapping?.topics[tgt]) {
      index = new TopicRunIndex(restore.mapping.topics[tgt]!.partitions);
    }
    indexes.set(tgt, index);
    let used = strategy;
    if ((strategy === 'exact' || strategy === 'header') && index?.repartitioned) {
      used = 'timestamp';
      notes.push(
        `topic ${tgt} was repartitioned (records of one source partition went to several target partitions): the timestamp strategy is used for it; records may be read again, none is skipped if timestamps grow with offsets`,
      );
    }
    topicStrategy.set(tgt, used);
  }

  // target groups: states and current offsets
  const targetGroups = groups.map((g) => targetOf.get(g)!);
  const [states, current] = await Promise.all([
    input.target.groupStates(targetGroups),
    input.target.readOffsets(targetGroups, input.concurrency),
  ]);

  // pending entries
  const timestamps = new SourceTimestamps(
    input.storage,
    input.manifest,
    16,
    input.manifest.snapshots.find((s) => s.id === input.snapshotId),
  );
  const pending: Pending[] = [];
  const srcTs = new Map<string, Promise<number | null>>();
  const sourceTs = (topic: string, p: number, o: number): Promise<number | null> => {
    const k = timeKey(topic, p, o);
    let v = srcTs.get(k);
    if (!v) {
      v = timestamps.firstAtOrAfter(topic, p, o);
      srcTs.set(k, v);
    }
    return v;
  };
  for (const g of groups) {
    const tg = targetOf.get(g)!;
    for (const [src, parts] of Object.entries(all[g]!).sort(([a], [b]) => a.localeCompare(b))) {
      const tgt = topicPairs.get(src);
      if (!tgt) continue;
      const count = counts.get(tgt)!;
      const used = topicStrategy.get(tgt)!;
      const index = indexes.get(tgt) ?? null;
      const commits = Object.entries(parts)
        .map(([p, c]) => ({ partition: Number(p), ...c }))
        .sort((a, b) => a.partition - b.partition);
      const base = { group: tg, source_group: g, topic: tgt, source_topic: src, strategy: used };
      if (used === 'exact' || used === 'header') {
        const byTarget = new Map<number, (Candidate & { metadata: string | null })[]>();
        const fixed: Pending[] = [];
        for (const c of commits) {
          const tr = index!.translate(c.partition, c.offset);
          if (tr) {
            const list = byTarget.get(tr.partition) ?? [];
            list.push({
              sourcePartition: c.partition,
              sourceOffset: c.offset,
              offset: tr.offset,
              rule: tr.rule,
              metadata: c.metadata,
            });
            byTarget.set(tr.partition, list);
            continue;
          }
          // no record of this source partition was restored
          if (c.partition >= count || index!.sourcesOf(c.partition).length > 0) {
            notes.push(
              `group ${g}: ${src}-${c.partition} had no restored record and its target partition is unknown; left out`,
            );
            continue;
          }
          const baseline = restore?.baselines?.[tgt]?.[String(c.partition)];
          fixed.push({
            ...base,
            partition: c.partition,
            sources: [{ partition: c.partition, offset: c.offset }],
            need:
              baseline !== undefined && used === 'exact'
                ? { kind: 'offset', offset: baseline, rule: 'no-restored-record' }
                : { kind: 'latest', rule: 'no-restored-record' },
            metadata: c.metadata,
            note: 'no record of this source partition was restored: the position where the restore began writing',
          });
        }
        for (const [tp, cands] of byTarget) {
          const m = mergeCandidates(cands);
          const chosen = cands.find((c) => c === m.chosen) as (typeof cands)[number];
          pending.push({
            ...base,
            partition: tp,
            sources: cands.map((c) => ({ partition: c.sourcePartition, offset: c.sourceOffset })),
            need: { kind: 'offset', offset: m.offset, rule: m.merged ? `merged:${chosen.rule}` : chosen.rule },
            metadata: chosen.metadata,
            ...(m.merged
              ? {
                  note: `source partitions ${cands.map((c) => c.sourcePartition).join(', ')} feed this partition: the earliest position is used (records of the others may be read again)`,
                }
              : {}),
          });
        }
        pending.push(...fixed);
      } else if (used === 'timestamp') {
        // per target partition, the earliest timestamp of the records the group reads next
        const perTarget = new Map<
          number,
          { ts: number | null; sources: { partition: number; offset: number }[]; metadata: string | null }
        >();
        for (const c of commits) {
          let tps: number[];
          if (index) {
            tps = index.lanesOf(c.partition).map((l) => l.targetPartition);
            if (tps.length === 0 && index.repartitioned) continue;
            if (tps.length === 0 && c.partition < count) tps = [c.partition];
          } else tps = c.partition < count ? [c.partition] : [];
          if (tps.length === 0) {
            notes.push(`group ${g}: ${src}-${c.partition} has no target partition in ${tgt}; left out`);
            continue;
          }
          const ts = await sourceTs(src, c.partition, c.offset);
          for (const tp of tps) {
            const e = perTarget.get(tp) ?? { ts: null, sources: [], metadata: c.metadata };
            e.sources.push({ partition: c.partition, offset: c.offset });
            if (ts !== null && (e.ts === null || ts < e.ts)) e.ts = ts;
            perTarget.set(tp, e);
          }
        }
        for (const [tp, e] of [...perTarget].sort((a, b) => a[0] - b[0]))
          pending.push({
            ...base,
            partition: tp,
            sources: e.sources,
            need: e.ts === null ? { kind: 'latest', rule: 'end' } : { kind: 'time', ts: e.ts, rule: 'by-timestamp' },
            metadata: e.sources.length === 1 ? e.metadata : null,
            ...(e.ts === null ? { note: 'the group had read every backed-up record: the end of the partition' } : {}),
          });
      } else {
        const need: Need =
          used === 'earliest'
            ? { kind: 'earliest', rule: 'earliest' }
            : used === 'latest'
              ? { kind: 'latest', rule: 'latest' }
              : used === 'to-datetime'
                ? { kind: 'time', ts: input.toDatetime!, rule: 'to-datetime' }
                : { kind: 'clamp', offset: input.toOffset!, rule: 'to-offset' };
        for (let tp = 0; tp < count; tp++) {
          const srcCommit = commits.find((c) => c.partition === tp);
          pending.push({
            ...base,
            partition: tp,
            sources: srcCommit ? [{ partition: tp, offset: srcCommit.offset }] : [],
            need,
            metadata: null,
          });
        }
      }
    }
  }

  // lookups, batched
  const parts = new Map<PartitionKey, { topic: string; partition: number }>();
  for (const p of pending) parts.set(pkey(p.topic, p.partition), { topic: p.topic, partition: p.partition });
  const partList = [...parts.values()];
  const needsEarliest = pending.some((p) => p.need.kind === 'earliest' || p.need.kind === 'clamp');
  const [ends, earliest, byTime] = await Promise.all([
    input.target.offsets(partList, 'latest'),
    needsEarliest ? input.target.offsets(partList, 'earliest') : Promise.resolve(new Map<PartitionKey, number>()),
    input.target.offsetsForTimes(
      pending.flatMap((p) =>
        p.need.kind === 'time' ? [{ topic: p.topic, partition: p.partition, ts: p.need.ts }] : [],
      ),
    ),
  ]);

  const entries: PlanEntry[] = pending.map((p) => {
    const k = pkey(p.topic, p.partition);
    const end = ends.get(k) ?? 0;
    let offset: number;
    let rule = p.need.rule;
    let note = p.note;
    switch (p.need.kind) {
      case 'offset':
        offset = p.need.offset;
        break;
      case 'earliest':
        offset = earliest.get(k) ?? 0;
        break;
      case 'latest':
        offset = end;
        break;
      case 'time': {
        const o = byTime.get(timeKey(p.topic, p.partition, p.need.ts)) ?? -1;
        if (o < 0) {
          offset = end;
          rule = `${rule}:end`;
          note ??= `no record at or after ${new Date(p.need.ts).toISOString()}: the end of the partition`;
        } else offset = o;
        break;
      }
      case 'clamp': {
        const lo = earliest.get(k) ?? 0;
        offset = Math.min(Math.max(p.need.offset, lo), end);
        if (offset !== p.need.offset) note ??= `offset ${p.need.offset} is outside [${lo}, ${end}]: clamped`;
        break;
      }
    }
    const cur = current[p.group]?.[p.topic]?.[String(p.partition)] ?? null;
    const single = p.sources.length === 1 ? p.sources[0]! : null;
    const entry: PlanEntry = {
      group: p.group,
      source_group: p.source_group,
      topic: p.topic,
      partition: p.partition,
      source_topic: p.source_topic,
      source_partition: single?.partition ?? null,
      source_offset: single?.offset ?? null,
      ...(p.sources.length > 1 ? { sources: p.sources } : {}),
      target_offset: offset,
      strategy: p.strategy,
      rule,
      metadata: p.metadata,
      current_offset: cur?.offset ?? null,
      end_offset: end,
      lag: Math.max(0, end - offset),
      action: cur && cur.offset === offset && sameMetadata(cur.metadata, p.metadata) ? 'unchanged' : 'set',
      ...(note ? { note } : {}),
    };
    return entry;
  });
  entries.sort((a, b) => a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic) || a.partition - b.partition);

  const statuses: GroupStatus[] = groups.map((g) => {
    const tg = targetOf.get(g)!;
    const s = states.get(tg) ?? { state: 'absent', members: 0, active: false };
    return { source_group: g, group: tg, state: s.state, members: s.members, active: s.active };
  });
  log.debug('offset plan built', { groups: groups.length, entries: entries.length });
  const plan: OffsetPlan = {
    format: 'kafka-backup/offset-plan',
    version: 1,
    created_at: new Date().toISOString(),
    backup_id: input.backupId,
    snapshot_id: restore?.report.snapshot_id ?? input.snapshotId,
    restore_id: restore?.restoreId ?? null,
    strategy,
    offsets_from: input.positions.from,
    target: { bootstrap_servers: input.target.conn.bootstrap_servers },
    groups: statuses,
    entries,
    skipped,
    notes: [...new Set(notes)],
  };
  return { plan, current, states };
}

/** The commit an entry asks for. */
export function commitOf(e: PlanEntry): Commit {
  return { offset: e.target_offset, metadata: e.metadata };
}
