/**
 * The start of a run: the line opened for writing, the source cluster checked against the one
 * the line holds, topics resolved, the snapshot chosen (an interrupted one resumed, or a new
 * one with its end offsets), a writer per partition, and the run's first generation committed.
 */
import { hostname } from 'node:os';
import { UsageError } from '../errors.ts';
import type { Manifest } from '../format/manifest.ts';
import { MANIFEST_FORMAT, MANIFEST_VERSION } from '../format/manifest.ts';
import {
  describeTopics,
  IsolationLevel,
  ListOffsetTimestamp,
  listOffsets,
  pkey,
  topicConfigs,
} from '../kafka/admin-helpers.ts';
import { recordedSnapshotTime } from '../repository/test-hooks.ts';
import { logger } from '../util/log.ts';
import { VERSION } from '../version.ts';
import type { RunContext } from './run-context.ts';
import { snapshotId } from './snapshots.ts';
import { selectTopics } from './topic-patterns.ts';
import { createWriters, registerTopics, type TopicsContext } from './topics.ts';

const log = logger('backup');

type PrepareContext = TopicsContext & Pick<RunContext, 'line'>;

/** Topics, snapshot end offsets, start positions, and the first generation of this run. */
export async function prepare(ctx: PrepareContext): Promise<void> {
  const o = ctx.o;
  const writer = { run_id: ctx.runId, host: hostname(), pid: process.pid, tool_version: VERSION };
  // offsets and metadata only: the writer never needs the file lists of earlier runs
  const prev = await ctx.line.openForWrite(writer);
  const md = await ctx.kafka('reading cluster metadata', () => ctx.admin.metadata({}));
  if (prev && prev.source.cluster_id !== md.id && !o.allowSourceChange) {
    throw new UsageError(
      `backup line ${o.backupId} holds data of Kafka cluster ${prev.source.cluster_id}, but ${o.source.bootstrap_servers.join(',')} is cluster ${md.id}`,
      {
        hint: 'use another backup_id for this cluster, or set backup.allow_source_change: true if the cluster was rebuilt on purpose',
      },
    );
  }
  const all = await ctx.kafka('listing topics', () => ctx.admin.listTopics({ includeInternals: true }));
  const selected = selectTopics(all, o.topics);
  if (selected.length === 0 && !o.allowEmpty) {
    throw new UsageError(
      `no topic matches include ${JSON.stringify(o.topics.include ?? ['*'])} exclude ${JSON.stringify(o.topics.exclude ?? [])} on ${o.source.bootstrap_servers.join(',')}`,
      {
        hint: 'check source.topics patterns (globs, or ~regex), or set backup.allow_empty: true',
        code: 'NOTHING_MATCHED',
      },
    );
  }
  const described = await ctx.kafka('describing topics', () => describeTopics(ctx.admin, selected, true));
  const configs = await ctx.kafka('reading topic configs', () => topicConfigs(ctx.admin, selected));

  const now = new Date().toISOString();
  const m: Manifest = prev ?? {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    backup_id: o.backupId,
    generation: 0,
    created_at: now,
    writer: { run_id: ctx.runId, host: '', pid: 0, tool_version: VERSION },
    source: { cluster_id: md.id, bootstrap_servers: o.source.bootstrap_servers },
    topics: {},
    snapshots: [],
    retired_topics: [],
  };
  m.source = { cluster_id: md.id, bootstrap_servers: o.source.bootstrap_servers };
  m.retired_topics ??= [];

  ctx.manifest = m;
  const recreated = registerTopics(ctx, selected, described, configs, now);

  const parts = [...ctx.topicInfo.values()].flatMap((t) =>
    t.partitions.map((p) => ({ topic: t.name, partition: p.partition })),
  );
  // Snapshot: resume the one a crashed or interrupted run left, keeping its end offsets.
  const resumable = [...m.snapshots].reverse().find((s) => s.state !== 'complete');
  // a snapshot of a topic's old incarnation cannot be continued with the new one's offsets
  const otherHistory =
    resumable !== undefined &&
    Object.keys(resumable.end_offsets).some(
      (t) =>
        recreated.has(t) ||
        (resumable.topic_ids?.[t] !== undefined && resumable.topic_ids[t] !== m.topics[t]?.topic_id),
    );
  const lso = await ctx.kafka('listing end offsets', () =>
    listOffsets(ctx.admin, parts, ListOffsetTimestamp.latest, IsolationLevel.readCommitted),
  );
  if (o.mode === 'snapshot' && resumable && resumable.mode === 'snapshot' && !otherHistory) {
    ctx.snapshot = resumable;
    ctx.snapshot.state = 'in-progress';
    ctx.snapshot.run_id = ctx.runId;
    log.info('resuming interrupted snapshot', { snapshot: resumable.id });
  } else {
    if (resumable) resumable.state = resumable.state === 'in-progress' ? 'failed' : resumable.state;
    ctx.snapshot = {
      id: snapshotId(new Date(), ctx.runId, m.snapshots),
      run_id: ctx.runId,
      mode: o.mode,
      state: 'in-progress',
      started_at: recordedSnapshotTime(now),
      end_offsets: {},
      ...(o.tags?.length ? { tags: [...o.tags] } : {}),
    };
    m.snapshots.push(ctx.snapshot);
  }
  for (const { topic, partition } of parts) {
    (ctx.snapshot.topic_ids ??= {})[topic] = m.topics[topic]!.topic_id;
    const ends = (ctx.snapshot.end_offsets[topic] ??= {});
    if (ends[String(partition)] === undefined) ends[String(partition)] = lso.get(pkey(topic, partition)) ?? 0;
  }

  await createWriters(ctx, parts, lso);
  ctx.progress.partitionsTotal = ctx.writers.size;
  m.writer = writer;
  ctx.manifest = m;
  await ctx.line.commit(m);
  log.info('backup started', {
    backup_id: o.backupId,
    snapshot: ctx.snapshot.id,
    mode: o.mode,
    topics: selected.length,
    partitions: ctx.writers.size,
    generation: m.generation,
  });
}
