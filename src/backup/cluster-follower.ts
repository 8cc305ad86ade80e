/**
 * Continuous following of the source cluster: the end offsets of partitions waiting for a slot,
 * topics that start to match the patterns, and what metadata says of the followed ones (leaders,
 * added partitions, a topic deleted or re-created). The engine's loop calls it between fetches.
 */
import {
  describeTopics,
  IsolationLevel,
  ListOffsetTimestamp,
  listOffsets,
  pkey,
  type TopicDescription,
  topicConfigs,
} from '../kafka/admin-helpers.ts';
import { logger } from '../util/log.ts';
import type { Checkpointer } from './checkpointer.ts';
import type { BackupOptions } from './options.ts';
import type { PartitionWriter } from './partition-writer.ts';
import type { TopicGone } from './result.ts';
import type { RunContext } from './run-context.ts';
import { type TopicChange, topicChange } from './topic-changes.ts';
import { selectTopics } from './topic-patterns.ts';
import { createWriters, noteLeaders, registerTopics, type TopicsContext } from './topics.ts';

const log = logger('backup');

type FollowContext = TopicsContext & Pick<RunContext, 'slots' | 'failedTopics' | 'metadataStale'>;

export class ClusterFollower {
  private readonly o: BackupOptions;
  private readonly ctx: FollowContext;
  /** Releasing a leaving topic's writers commits their last files first. */
  private readonly checkpointer: Pick<Checkpointer, 'checkpoint'>;
  /** Continuous mode: followed topics found deleted or re-created, whose writers are being let go. */
  readonly leaving = new Set<string>();
  /** The result's topics_gone. */
  readonly gone: TopicGone[] = [];
  private lastDiscovery = Date.now();
  private lastEndsRefresh = 0;

  constructor(ctx: FollowContext, checkpointer: Pick<Checkpointer, 'checkpoint'>) {
    this.ctx = ctx;
    this.o = ctx.o;
    this.checkpointer = checkpointer;
  }

  /**
   * Continuous mode: refresh the end offsets of partitions without a slot (so they get one when
   * data arrives), and follow new topics that match the patterns (from their earliest offset).
   */
  async followCluster(): Promise<void> {
    const o = this.o;
    const now = Date.now();
    if (now - this.lastEndsRefresh >= o.pollIntervalMs) {
      this.lastEndsRefresh = now;
      const idle = [...this.ctx.writers.values()].filter(
        (w) => !this.ctx.slots.has(w) && !this.ctx.failedTopics.has(w.o.topic),
      );
      if (idle.length) {
        const ends = await listOffsets(
          this.ctx.admin,
          idle.map((w) => ({ topic: w.o.topic, partition: w.o.partition })),
          ListOffsetTimestamp.latest,
          IsolationLevel.readCommitted,
        ).catch(() => {
          // e.g. a followed topic was deleted: the metadata refresh finds out which
          this.ctx.metadataStale = true;
          return null;
        });
        if (ends)
          for (const w of idle) {
            const e = ends.get(pkey(w.o.topic, w.o.partition));
            if (e !== undefined) w.lastStable = e;
          }
      }
    }
    if (now - this.lastDiscovery < Math.max(2_000, o.pollIntervalMs * 10)) return;
    this.lastDiscovery = now;
    // followed topics are checked too: added partitions, deletion, re-creation (refreshMetadata)
    this.ctx.metadataStale = true;
    try {
      const all = await this.ctx.admin.listTopics({ includeInternals: true });
      const fresh = selectTopics(all, o.topics).filter(
        (n) => !this.ctx.topicInfo.has(n) && !this.ctx.failedTopics.has(n) && !this.leaving.has(n),
      );
      if (!fresh.length) return;
      const described = await describeTopics(this.ctx.admin, fresh, true);
      const configs = await topicConfigs(this.ctx.admin, fresh);
      registerTopics(this.ctx, fresh, described, configs, new Date().toISOString());
      const parts = fresh.flatMap((t) =>
        (this.ctx.topicInfo.get(t)?.partitions ?? []).map((p) => ({ topic: t, partition: p.partition })),
      );
      const lso = await listOffsets(this.ctx.admin, parts, ListOffsetTimestamp.latest, IsolationLevel.readCommitted);
      for (const { topic, partition } of parts)
        (this.ctx.snapshot.end_offsets[topic] ??= {})[String(partition)] = lso.get(pkey(topic, partition)) ?? 0;
      await createWriters(this.ctx, parts, lso, 'earliest');
      log.info('new topics match the patterns; following them from their earliest offset', { topics: fresh });
    } catch (e) {
      log.warn('topic discovery failed; retrying later', { error: e });
    }
  }

  /** Leaders and epochs of the followed topics, and what happened to each topic (src/backup/topic-changes.ts). */
  async refreshMetadata(): Promise<void> {
    const followed = [...this.ctx.topicInfo.keys()].filter(
      (t) => !this.ctx.failedTopics.has(t) && !this.leaving.has(t),
    );
    const existing = new Set(await this.ctx.admin.listTopics({ includeInternals: true }));
    const described = await describeTopics(
      this.ctx.admin,
      followed.filter((t) => existing.has(t)),
      true,
    );
    for (const name of followed) {
      const before = this.ctx.topicInfo.get(name)!;
      const change = topicChange(before, described.get(name));
      if (change.kind === 'deleted' || change.kind === 'recreated') {
        this.topicGone(name, before.topicId, change);
        continue;
      }
      const d = described.get(name)!;
      noteLeaders(this.ctx, d);
      if (change.kind === 'grown') await this.followNewPartitions(d, change.added);
    }
    this.ctx.metadataStale = false;
  }

  /**
   * A followed topic was deleted, or re-created (a new topic id). A snapshot run fails the topic:
   * its snapshot cannot reach the end offsets it promised. A continuous run reports it (warning,
   * metric, `topics_gone` in the result) and lets the topic's writers go after their files are
   * listed (releaseLeavingTopics); a re-created topic is then followed as a new incarnation by the
   * next discovery. Neither is an offset reset: the new topic's offsets are another history.
   */
  private topicGone(name: string, topicId: string, change: TopicChange & { kind: 'deleted' | 'recreated' }): void {
    const what =
      change.kind === 'deleted'
        ? 'topic was deleted during the backup'
        : `topic was deleted and re-created during the backup (new id ${change.topicId})`;
    if (this.o.mode === 'snapshot') {
      this.ctx.failedTopics.set(name, what);
      log.error(`${what}; what was stored so far stays listed`, { topic: name });
      return;
    }
    log.warn(`${what}; what was stored so far stays listed under its topic id`, {
      topic: name,
      topic_id: topicId,
      ...(change.kind === 'recreated' ? { new_topic_id: change.topicId } : {}),
    });
    this.gone.push({ topic: name, topic_id: topicId, reason: change.kind, at: new Date().toISOString() });
    this.o.onTopicGone?.(change.kind);
    this.leaving.add(name);
  }

  /**
   * Lets go of the writers of topics that left (topicGone), once no fetch carries them: their
   * open files are closed and listed by a checkpoint while the topic's state is still the old
   * incarnation's, then they leave the run.
   */
  async releaseLeavingTopics(fetching: Set<PartitionWriter>): Promise<void> {
    const ready = [...this.leaving].filter((t) => ![...fetching].some((w) => w.o.topic === t));
    if (!ready.length) return;
    const ws = [...this.ctx.writers.values()].filter((w) => ready.includes(w.o.topic));
    for (const w of ws) {
      w.closeFile();
      this.ctx.slots.delete(w);
    }
    await Promise.all(ws.map((w) => w.drain()));
    await this.checkpointer.checkpoint(undefined, true);
    for (const w of ws) this.ctx.writers.delete(pkey(w.o.topic, w.o.partition));
    for (const t of ready) {
      this.ctx.topicInfo.delete(t);
      this.leaving.delete(t);
    }
    this.ctx.progress.partitionsTotal = this.ctx.writers.size;
    // a re-created topic is looked for at once
    this.lastDiscovery = 0;
  }

  /**
   * Partitions added to a followed topic. A continuous run follows them at once, from their first
   * offset; a snapshot run keeps the end offsets it started with (the next run backs them up from
   * their first offset, createWriters).
   */
  private async followNewPartitions(d: TopicDescription, added: number[]): Promise<void> {
    if (this.o.mode === 'snapshot') {
      log.info('partitions were added during the snapshot; the next run backs them up from their first offset', {
        topic: d.name,
        partitions: added,
      });
      this.ctx.topicInfo.set(d.name, d);
      return;
    }
    const parts = added.map((partition) => ({ topic: d.name, partition }));
    const lso = await listOffsets(this.ctx.admin, parts, ListOffsetTimestamp.latest, IsolationLevel.readCommitted);
    for (const { partition } of parts) this.ctx.snapshot.end_offsets[d.name]![String(partition)] ??= 0;
    this.ctx.manifest.topics[d.name]!.partition_count = d.partitions.length;
    this.ctx.topicInfo.set(d.name, d);
    await createWriters(this.ctx, parts, lso, 'earliest');
    log.info('partitions were added to a followed topic; following them from their first offset', {
      topic: d.name,
      partitions: added,
    });
  }
}
