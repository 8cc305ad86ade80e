/**
 * The backup engine: resolves topics, opens (or continues) the backup line, fetches every
 * selected partition with one multi-partition Fetch per broker, writes data files through
 * PartitionWriter, and commits what changed at every checkpoint (src/repository/line.ts).
 *
 * Memory: at most `maxConcurrentPartitions` partitions hold a slot (an open block and data file)
 * at a time; a partition with two blocks waiting for storage is left out of fetches until they
 * are written (backpressure), so a slow store slows fetching instead of filling memory.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Admin, Connection } from '@platformatic/kafka';
import { InterruptedError, KafkaError, PartialFailureError, UsageError } from '../errors.ts';
import type { Manifest, PartitionState, Snapshot, TopicState } from '../format/manifest.ts';
import { MANIFEST_FORMAT, MANIFEST_VERSION } from '../format/manifest.ts';
import {
  describeTopics,
  IsolationLevel,
  ListOffsetTimestamp,
  listOffsets,
  pkey,
  type TopicDescription,
  topicConfigs,
} from '../kafka/admin-helpers.ts';
import { createAdmin, kafkaError } from '../kafka/client.ts';
import { type RawFetchPartition, rawFetchV17 } from '../kafka/fetch-raw-v17.ts';
import { captureConsumerOffsets } from '../offsets/capture.ts';
import { forget } from '../repository/forget.ts';
import { BackupLine, FencedError } from '../repository/line.ts';
import { readMaintenance } from '../repository/maintenance.ts';
import type { Additions } from '../repository/state.ts';
import { recordedSnapshotTime } from '../repository/test-hooks.ts';
import { probeConditionalWrites } from '../storage/probe.ts';
import { CircuitBreaker, CircuitOpenError } from '../util/circuit-breaker.ts';
import { logger } from '../util/log.ts';
import { VERSION } from '../version.ts';
import { divergenceOf, truncatedLogError } from './divergence.ts';
import { FetchOrder } from './fetch-order.ts';
import type { BackupOptions, BackupProgress } from './options.ts';
import { PartitionWriter } from './partition-writer.ts';
import { snapshotId, successorSnapshot } from './snapshots.ts';
import { type TopicChange, topicChange } from './topic-changes.ts';
import { selectTopics } from './topic-patterns.ts';

const log = logger('backup');
const LEASE_TTL_MS = 30_000;
/** Continuous mode captures consumer-group offsets this often (each capture is kept, timestamped). */
const CAPTURE_INTERVAL_MS = 60_000;
/**
 * Fetch requests in flight per broker, each with its own share of the partitions (on one
 * connection the broker answers them in order). 2 measured no faster than 1 on the 2-core
 * benchmark machine, where backup is CPU-bound (docs/performance.md); more cores may differ.
 */
const FETCHES_PER_BROKER = 1;

/** Kafka error codes the fetch loop handles by refreshing metadata (leader moved, broker restarting). */
const RETRIABLE_PARTITION_ERRORS = new Set([3, 5, 6, 9, 56, 74, 75, 100]);
const OFFSET_OUT_OF_RANGE = 1;

export interface BackupResult {
  backup_id: string;
  snapshot_id: string;
  run_id: string;
  mode: 'snapshot' | 'continuous';
  state: Snapshot['state'];
  generation: number;
  duration_ms: number;
  records: number;
  raw_bytes: number;
  stored_bytes: number;
  files: number;
  topics: { topic: string; partitions: number; records: number; bytes: number }[];
  failures: { topic: string; error: string }[];
  /** Continuous mode: followed topics deleted (or re-created, a new incarnation) during the run. */
  topics_gone: TopicGone[];
}

export interface TopicGone {
  topic: string;
  topic_id: string;
  reason: 'deleted' | 'recreated';
  at: string;
}

function newRunId(): string {
  return `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

const sleep = (ms: number, signal?: AbortSignal) =>
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

export async function runBackup(o: BackupOptions): Promise<BackupResult> {
  const engine = new BackupEngine(o);
  return engine.run();
}

class BackupEngine {
  private readonly o: BackupOptions;
  private readonly runId = newRunId();
  private readonly started = Date.now();
  private admin!: Admin;
  private line!: BackupLine;
  private manifest!: Manifest;
  private snapshot!: Snapshot;
  private readonly writers = new Map<string, PartitionWriter>();
  private readonly topicInfo = new Map<string, TopicDescription>();
  private readonly leaders = new Map<string, number>();
  /** Each partition's leader epoch from metadata, sent as current_leader_epoch (KIP-320). */
  private readonly leaderEpochs = new Map<string, number>();
  /** Continuous mode: followed topics found deleted or re-created, whose writers are being let go. */
  private readonly leaving = new Set<string>();
  private readonly gone: TopicGone[] = [];
  private readonly slots = new Set<PartitionWriter>();
  private readonly failedTopics = new Map<string, string>();
  private stopping = false;
  private wake: (() => void) | null = null;
  private woken = false;
  private metadataStale = false;
  private lastCheckpoint = Date.now();
  private readonly progress: BackupProgress = {
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
  private throttleWindowStart = Date.now();
  private throttleBytes = 0;
  private fatal: Error | null = null;
  private clusterAnswered = false;
  private lastDiscovery = Date.now();
  private lastCapture = Date.now();
  private lastRetention = Date.now();
  private lastEndsRefresh = 0;
  /** Fetches from the source cluster go through it: a failing cluster is not hammered. */
  private readonly breaker: CircuitBreaker;
  /** Partitions that returned records go to the back of the next fetch requests (no starvation). */
  private readonly fetchOrder = new FetchOrder<PartitionWriter>();

  constructor(o: BackupOptions) {
    this.o = o;
    const cb = o.circuitBreaker;
    this.breaker = new CircuitBreaker({
      name: `Kafka cluster ${o.source.bootstrap_servers.join(',')}`,
      failureThreshold: cb?.failure_threshold ?? 5,
      resetTimeoutSecs: cb?.reset_timeout_secs ?? 30,
      halfOpenRequests: cb?.half_open_requests ?? 1,
      ...(o.giveUpAfterSecs > 0 ? { giveUpAfterSecs: o.giveUpAfterSecs } : {}),
      // a broker refusing one request for a known reason is not an outage
      isFailure: (e) => !(e instanceof KafkaError && !e.canRetry),
      onStateChange: ({ from, to }) =>
        (to === 'open' ? log.warn : log.info)(`source Kafka circuit breaker ${to}`, { from, to }),
    });
  }

  /** Current state of the source cluster's breaker (metrics). */
  get breakerState(): string {
    return this.breaker.state;
  }

  /** Wakes the loop; a wake while the loop is busy is kept for its next wait. */
  private notify(): void {
    const w = this.wake;
    this.wake = null;
    if (w) w();
    else this.woken = true;
  }

  private waitForWork(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      const prev = this.wake;
      this.wake = () => {
        clearTimeout(t);
        prev?.();
        resolve();
      };
    });
  }

  async run(): Promise<BackupResult> {
    const o = this.o;
    this.line = new BackupLine(o.storage, o.backupId);
    this.admin = createAdmin(o.source, 'source');
    const onAbort = () => {
      this.stopping = true;
      this.notify();
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    if (o.signal?.aborted) onAbort(); // stopped while the command was still starting
    let leaseTimer: NodeJS.Timeout | undefined;
    try {
      // fencing (one writer per line) holds only where create-if-absent writes are honoured
      await probeConditionalWrites(o.storage, o.backupId);
      await this.line.acquireLease(this.runId, LEASE_TTL_MS);
      leaseTimer = setInterval(() => {
        this.line.renewLease(LEASE_TTL_MS).catch((e) => log.warn('lease renewal failed', { error: e }));
      }, LEASE_TTL_MS / 3);
      await this.prepare();
      await this.loop();
      return await this.finish();
    } catch (e) {
      await this.failSafe(e as Error);
      throw e;
    } finally {
      clearInterval(leaseTimer);
      o.signal?.removeEventListener('abort', onAbort);
      await this.line.releaseLease().catch(() => undefined);
      await this.admin.close().catch(() => undefined);
    }
  }

  /**
   * A call to the source cluster while the run starts. Once the cluster has answered, a call that
   * fails for a passing reason (a broker restarting, a leader moving) is tried again for up to
   * give_up_after_secs (30 s when unset), so a broker bounce at the wrong moment does not fail the
   * run; an unreachable cluster still fails at its first call, at once.
   */
  private async kafka<T>(what: string, fn: () => Promise<T>): Promise<T> {
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

  /** Topics, snapshot end offsets, start positions, and the first generation of this run. */
  private async prepare(): Promise<void> {
    const o = this.o;
    const writer = { run_id: this.runId, host: hostname(), pid: process.pid, tool_version: VERSION };
    // offsets and metadata only: the writer never needs the file lists of earlier runs
    const prev = await this.line.openForWrite(writer);
    const md = await this.kafka('reading cluster metadata', () => this.admin.metadata({}));
    if (prev && prev.source.cluster_id !== md.id && !o.allowSourceChange) {
      throw new UsageError(
        `backup line ${o.backupId} holds data of Kafka cluster ${prev.source.cluster_id}, but ${o.source.bootstrap_servers.join(',')} is cluster ${md.id}`,
        {
          hint: 'use another backup_id for this cluster, or set backup.allow_source_change: true if the cluster was rebuilt on purpose',
        },
      );
    }
    const all = await this.kafka('listing topics', () => this.admin.listTopics({ includeInternals: true }));
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
    const described = await this.kafka('describing topics', () => describeTopics(this.admin, selected, true));
    const configs = await this.kafka('reading topic configs', () => topicConfigs(this.admin, selected));

    const now = new Date().toISOString();
    const m: Manifest = prev ?? {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      backup_id: o.backupId,
      generation: 0,
      created_at: now,
      writer: { run_id: this.runId, host: '', pid: 0, tool_version: VERSION },
      source: { cluster_id: md.id, bootstrap_servers: o.source.bootstrap_servers },
      topics: {},
      snapshots: [],
      retired_topics: [],
    };
    m.source = { cluster_id: md.id, bootstrap_servers: o.source.bootstrap_servers };
    m.retired_topics ??= [];

    this.manifest = m;
    const recreated = this.registerTopics(selected, described, configs, now);

    const parts = [...this.topicInfo.values()].flatMap((t) =>
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
    const lso = await this.kafka('listing end offsets', () =>
      listOffsets(this.admin, parts, ListOffsetTimestamp.latest, IsolationLevel.readCommitted),
    );
    if (o.mode === 'snapshot' && resumable && resumable.mode === 'snapshot' && !otherHistory) {
      this.snapshot = resumable;
      this.snapshot.state = 'in-progress';
      this.snapshot.run_id = this.runId;
      log.info('resuming interrupted snapshot', { snapshot: resumable.id });
    } else {
      if (resumable) resumable.state = resumable.state === 'in-progress' ? 'failed' : resumable.state;
      this.snapshot = {
        id: snapshotId(new Date(), this.runId, m.snapshots),
        run_id: this.runId,
        mode: o.mode,
        state: 'in-progress',
        started_at: recordedSnapshotTime(now),
        end_offsets: {},
        ...(o.tags?.length ? { tags: [...o.tags] } : {}),
      };
      m.snapshots.push(this.snapshot);
    }
    for (const { topic, partition } of parts) {
      (this.snapshot.topic_ids ??= {})[topic] = m.topics[topic]!.topic_id;
      const ends = (this.snapshot.end_offsets[topic] ??= {});
      if (ends[String(partition)] === undefined) ends[String(partition)] = lso.get(pkey(topic, partition)) ?? 0;
    }

    await this.createWriters(parts, lso);
    this.progress.partitionsTotal = this.writers.size;
    m.writer = writer;
    this.manifest = m;
    await this.line.commit(m);
    log.info('backup started', {
      backup_id: o.backupId,
      snapshot: this.snapshot.id,
      mode: o.mode,
      topics: selected.length,
      partitions: this.writers.size,
      generation: m.generation,
    });
  }

  /**
   * Records topics (ids, configs, partition counts) in the manifest; a re-created topic retires its
   * old state (returned: the names re-created). During a continuous run, the running snapshot then
   * ends with the old incarnation and a successor follows the new one (src/backup/snapshots.ts).
   */
  private registerTopics(
    names: string[],
    described: Map<string, TopicDescription>,
    configs: Map<string, { overrides: Record<string, string>; effective: Record<string, string> }>,
    now: string,
  ): Set<string> {
    const m = this.manifest;
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
        if (this.snapshot && this.snapshot.state === 'in-progress' && this.snapshot.end_offsets[name]) {
          const next = successorSnapshot(this.snapshot, name, d.topicId, new Date(now), m.snapshots);
          log.info('snapshot ends with the old incarnation of a re-created topic; a new snapshot follows the new one', {
            topic: name,
            ended: this.snapshot.id,
            snapshot: next.id,
          });
          m.snapshots.push(next);
          this.snapshot = next;
        }
      }
      if (this.snapshot) (this.snapshot.topic_ids ??= {})[name] = d.topicId;
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
      this.topicInfo.set(name, d);
      this.noteLeaders(d);
    }
    return recreated;
  }

  private noteLeaders(d: TopicDescription): void {
    for (const p of d.partitions) {
      this.leaders.set(pkey(d.name, p.partition), p.leader);
      this.leaderEpochs.set(pkey(d.name, p.partition), p.leaderEpoch);
    }
  }

  /** A PartitionWriter per partition, starting where the line left off (or at backup.start when new). */
  private async createWriters(
    parts: { topic: string; partition: number }[],
    lso: Map<string, number>,
    start: BackupOptions['start'] = this.o.start,
  ): Promise<void> {
    const o = { ...this.o, start };
    const m = this.manifest;
    // Start positions for partitions this line has not seen.
    const unseen = parts.filter((p) => !m.topics[p.topic]!.partitions[String(p.partition)]);
    let starts = new Map<string, number>();
    if (unseen.length) {
      if (o.start === 'earliest')
        starts = await this.kafka('listing start offsets', () =>
          listOffsets(this.admin, unseen, ListOffsetTimestamp.earliest),
        );
      else if (o.start === 'latest')
        starts = new Map(unseen.map((p) => [pkey(p.topic, p.partition), lso.get(pkey(p.topic, p.partition)) ?? 0]));
      else {
        const ts = typeof o.start === 'number' ? o.start : Date.parse(o.start);
        const byTime = await this.kafka('listing offsets by time', () => listOffsets(this.admin, unseen, BigInt(ts)));
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
        const first = await this.kafka('listing start offsets', () =>
          listOffsets(this.admin, grown, ListOffsetTimestamp.earliest),
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
      const end =
        o.mode === 'snapshot' ? this.snapshot.end_offsets[topic]![String(partition)]! : Number.POSITIVE_INFINITY;
      const w = new PartitionWriter(
        {
          backupId: o.backupId,
          runId: this.runId,
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
          onStored: (raw, stored, records) => {
            this.progress.rawBytes += raw;
            this.progress.storedBytes += stored;
            this.progress.records += records;
            const tp = (this.progress.topics[topic] ??= { records: 0, bytes: 0 });
            tp.records += records;
            tp.bytes += raw;
          },
        },
        ps.next_offset,
        end,
      );
      // KIP-320 across runs: the first fetch tells whether the log still holds what was read
      if (ps.leader_epoch !== undefined) w.lastFetchedEpoch = w.committedEpoch = ps.leader_epoch;
      this.writers.set(k, w);
    }
    this.progress.partitionsTotal = this.writers.size;
  }

  /**
   * Continuous mode: refresh the end offsets of partitions without a slot (so they get one when
   * data arrives), and follow new topics that match the patterns (from their earliest offset).
   */
  private async followCluster(): Promise<void> {
    const o = this.o;
    const now = Date.now();
    if (now - this.lastEndsRefresh >= o.pollIntervalMs) {
      this.lastEndsRefresh = now;
      const idle = [...this.writers.values()].filter((w) => !this.slots.has(w) && !this.failedTopics.has(w.o.topic));
      if (idle.length) {
        const ends = await listOffsets(
          this.admin,
          idle.map((w) => ({ topic: w.o.topic, partition: w.o.partition })),
          ListOffsetTimestamp.latest,
          IsolationLevel.readCommitted,
        ).catch(() => {
          // e.g. a followed topic was deleted: the metadata refresh finds out which
          this.metadataStale = true;
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
    this.metadataStale = true;
    try {
      const all = await this.admin.listTopics({ includeInternals: true });
      const fresh = selectTopics(all, o.topics).filter(
        (n) => !this.topicInfo.has(n) && !this.failedTopics.has(n) && !this.leaving.has(n),
      );
      if (!fresh.length) return;
      const described = await describeTopics(this.admin, fresh, true);
      const configs = await topicConfigs(this.admin, fresh);
      this.registerTopics(fresh, described, configs, new Date().toISOString());
      const parts = fresh.flatMap((t) =>
        (this.topicInfo.get(t)?.partitions ?? []).map((p) => ({ topic: t, partition: p.partition })),
      );
      const lso = await listOffsets(this.admin, parts, ListOffsetTimestamp.latest, IsolationLevel.readCommitted);
      for (const { topic, partition } of parts)
        (this.snapshot.end_offsets[topic] ??= {})[String(partition)] = lso.get(pkey(topic, partition)) ?? 0;
      await this.createWriters(parts, lso, 'earliest');
      log.info('new topics match the patterns; following them from their earliest offset', { topics: fresh });
    } catch (e) {
      log.warn('topic discovery failed; retrying later', { error: e });
    }
  }

  private eligible(w: PartitionWriter): boolean {
    if (this.failedTopics.has(w.o.topic) || w.error) return false;
    if (this.o.mode === 'snapshot') return !w.done;
    return w.lastStable < 0 || w.lastStable > w.position;
  }

  /** Grants and releases partition slots; bounded memory comes from here. */
  private schedule(): void {
    for (const w of this.slots) {
      const finished = this.o.mode === 'snapshot' ? w.done || this.failedTopics.has(w.o.topic) : false;
      const idle =
        this.o.mode === 'continuous' &&
        w.lastStable >= 0 &&
        w.position >= w.lastStable &&
        this.slots.size >= this.o.maxConcurrentPartitions;
      if ((finished || idle) && w.pendingBlocks === 0) {
        if (finished || w.hasOpenFile) w.closeFile();
        this.slots.delete(w);
        if (finished) this.progress.partitionsDone++;
      }
    }
    for (const w of this.writers.values()) {
      if (this.slots.size >= this.o.maxConcurrentPartitions) break;
      if (!this.slots.has(w) && this.eligible(w)) this.slots.add(w);
    }
  }

  private async connectionFor(nodeId: number): Promise<Connection> {
    const conns = await this.admin.connectToBrokers([nodeId]);
    const c = conns.get(nodeId);
    if (!c) throw new KafkaError(`no connection to broker ${nodeId}`, { canRetry: true });
    return c;
  }

  /** Leaders and epochs of the followed topics, and what happened to each topic (src/backup/topic-changes.ts). */
  private async refreshMetadata(): Promise<void> {
    const followed = [...this.topicInfo.keys()].filter((t) => !this.failedTopics.has(t) && !this.leaving.has(t));
    const existing = new Set(await this.admin.listTopics({ includeInternals: true }));
    const described = await describeTopics(
      this.admin,
      followed.filter((t) => existing.has(t)),
      true,
    );
    for (const name of followed) {
      const before = this.topicInfo.get(name)!;
      const change = topicChange(before, described.get(name));
      if (change.kind === 'deleted' || change.kind === 'recreated') {
        this.topicGone(name, before.topicId, change);
        continue;
      }
      const d = described.get(name)!;
      this.noteLeaders(d);
      if (change.kind === 'grown') await this.followNewPartitions(d, change.added);
    }
    this.metadataStale = false;
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
      this.failedTopics.set(name, what);
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
  private async releaseLeavingTopics(fetching: Set<PartitionWriter>): Promise<void> {
    const ready = [...this.leaving].filter((t) => ![...fetching].some((w) => w.o.topic === t));
    if (!ready.length) return;
    const ws = [...this.writers.values()].filter((w) => ready.includes(w.o.topic));
    for (const w of ws) {
      w.closeFile();
      this.slots.delete(w);
    }
    await Promise.all(ws.map((w) => w.drain()));
    await this.checkpoint(undefined, true);
    for (const w of ws) this.writers.delete(pkey(w.o.topic, w.o.partition));
    for (const t of ready) {
      this.topicInfo.delete(t);
      this.leaving.delete(t);
    }
    this.progress.partitionsTotal = this.writers.size;
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
      this.topicInfo.set(d.name, d);
      return;
    }
    const parts = added.map((partition) => ({ topic: d.name, partition }));
    const lso = await listOffsets(this.admin, parts, ListOffsetTimestamp.latest, IsolationLevel.readCommitted);
    for (const { partition } of parts) this.snapshot.end_offsets[d.name]![String(partition)] ??= 0;
    this.manifest.topics[d.name]!.partition_count = d.partitions.length;
    this.topicInfo.set(d.name, d);
    await this.createWriters(parts, lso, 'earliest');
    log.info('partitions were added to a followed topic; following them from their first offset', {
      topic: d.name,
      partitions: added,
    });
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
  private async fetchFrom(nodeId: number, parts: PartitionWriter[]): Promise<void> {
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
      topicId: this.topicInfo.get(topic)!.topicId,
      partitions: ws.map((w) => ({
        partition: w.o.partition,
        // KIP-320: the leader refuses a stale epoch (FENCED_LEADER_EPOCH, refresh and retry) and
        // compares last_fetched_epoch with its log (a diverging epoch: see handleDivergence)
        currentLeaderEpoch: this.leaderEpochs.get(pkey(w.o.topic, w.o.partition)) ?? -1,
        fetchOffset: BigInt(w.position),
        lastFetchedEpoch: w.lastFetchedEpoch,
        partitionMaxBytes,
      })),
    }));
    const conn = await this.connectionFor(nodeId);
    const maxWait = this.o.mode === 'snapshot' ? 50 : 500;
    const res = await rawFetchV17.async(
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
    const byId = new Map([...this.topicInfo.values()].map((t) => [t.topicId, t.name]));
    let bytes = 0;
    const outOfRange: PartitionWriter[] = [];
    for (const tr of res.responses) {
      const topic = byId.get(tr.topicId);
      if (!topic) continue;
      for (const p of tr.partitions) {
        const w = this.writers.get(pkey(topic, p.partitionIndex));
        if (!w) continue;
        if (p.errorCode !== 0) {
          this.handlePartitionError(w, p, outOfRange);
          continue;
        }
        if (p.divergingEpoch) {
          this.handleDivergence(w, p.divergingEpoch);
          continue;
        }
        bytes += p.records?.length ?? 0;
        if (p.records?.length) this.fetchOrder.served(w);
        w.ingest(p);
      }
    }
    if (outOfRange.length) await this.handleOutOfRange(outOfRange);
    await this.throttle(bytes);
  }

  private handlePartitionError(w: PartitionWriter, p: RawFetchPartition, outOfRange: PartitionWriter[]): void {
    if (p.errorCode === OFFSET_OUT_OF_RANGE) outOfRange.push(w);
    else if (RETRIABLE_PARTITION_ERRORS.has(p.errorCode)) {
      if (p.currentLeader.leaderId >= 0) this.leaders.set(pkey(w.o.topic, w.o.partition), p.currentLeader.leaderId);
      this.metadataStale = true;
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
    if (!this.failedTopics.has(w.o.topic)) this.failedTopics.set(w.o.topic, e.message);
  }

  /** Offsets removed by retention before we fetched them become a recorded gap, not an error. */
  private async handleOutOfRange(ws: PartitionWriter[]): Promise<void> {
    const parts = ws.map((w) => ({ topic: w.o.topic, partition: w.o.partition }));
    const earliest = await listOffsets(this.admin, parts, ListOffsetTimestamp.earliest);
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

  private async loop(): Promise<void> {
    const o = this.o;
    let backoff = 200;
    let failingSince = 0;
    /** Fetches in flight per broker, and the partitions they carry (a partition is in at most one). */
    const inFlight = new Map<number, number>();
    const fetching = new Set<PartitionWriter>();
    const running = new Set<Promise<void>>();
    while (!this.stopping && !this.fatal) {
      for (const w of this.writers.values()) if (w.error) throw w.error;
      if (this.leaving.size) await this.releaseLeavingTopics(fetching);
      if (o.mode === 'continuous') await this.followCluster();
      this.schedule();
      if (
        o.mode === 'snapshot' &&
        this.slots.size === 0 &&
        [...this.writers.values()].every((w) => w.done || this.failedTopics.has(w.o.topic))
      )
        break;
      if (this.metadataStale) {
        try {
          await this.refreshMetadata();
        } catch (e) {
          failingSince ||= Date.now();
          if (o.giveUpAfterSecs > 0 && Date.now() - failingSince > o.giveUpAfterSecs * 1000)
            throw kafkaError(e, `reading metadata for ${o.giveUpAfterSecs}s`, o.source);
          log.warn('metadata refresh failed; retrying', { error: e });
          await sleep(backoff, o.signal);
          backoff = Math.min(backoff * 2, 5000);
          continue;
        }
      }
      // Group slot holders by leader. Up to FETCHES_PER_BROKER fetches per broker are in flight,
      // each with its own share of the partitions, so processing one response overlaps with the
      // broker preparing the next.
      const byBroker = new Map<number, PartitionWriter[]>();
      const perBroker = new Map<number, number>();
      for (const w of this.slots) {
        // a topic that left (deleted or re-created) is not fetched again: its writers are released
        // once no fetch carries them, and fetching them on would keep that from ever happening
        if (w.done || this.failedTopics.has(w.o.topic) || this.leaving.has(w.o.topic)) continue;
        const leader = this.leaders.get(pkey(w.o.topic, w.o.partition)) ?? -1;
        if (leader < 0) {
          this.metadataStale = true;
          continue;
        }
        perBroker.set(leader, (perBroker.get(leader) ?? 0) + 1);
        if (fetching.has(w) || w.pendingBlocks >= 2) continue;
        const list = byBroker.get(leader) ?? [];
        list.push(w);
        byBroker.set(leader, list);
      }
      const launches: [number, PartitionWriter[]][] = [];
      for (const [nodeId, ready] of byBroker) {
        const share = Math.max(1, Math.ceil((perBroker.get(nodeId) ?? ready.length) / FETCHES_PER_BROKER));
        for (let i = 0; i < ready.length && (inFlight.get(nodeId) ?? 0) < FETCHES_PER_BROKER; i += share) {
          const chunk = ready.slice(i, i + share);
          launches.push([nodeId, chunk]);
          inFlight.set(nodeId, (inFlight.get(nodeId) ?? 0) + 1);
          for (const w of chunk) fetching.add(w);
        }
      }
      for (const [nodeId, parts] of launches) {
        const p = this.breaker
          .call(() => this.fetchFrom(nodeId, parts))
          .then(() => {
            backoff = 200;
            failingSince = 0;
          })
          .catch(async (e: Error) => {
            if (!(e instanceof CircuitOpenError))
              o.onError?.('kafka', e instanceof KafkaError && !e.canRetry ? 'permanent' : 'transient');
            if (e instanceof KafkaError && !e.canRetry) {
              this.fatal = e;
              return;
            }
            if (e instanceof CircuitOpenError) {
              if (e.gaveUp) {
                this.fatal = new KafkaError(`the source cluster kept failing for ${o.giveUpAfterSecs}s: ${e.message}`, {
                  hint: 'check the brokers; run the same command again to resume from the last checkpoint',
                  cause: e,
                });
                return;
              }
              await sleep(Math.max(50, e.retryAt.getTime() - Date.now()), o.signal);
              return;
            }
            failingSince ||= Date.now();
            if (o.giveUpAfterSecs > 0 && Date.now() - failingSince > o.giveUpAfterSecs * 1000) {
              this.fatal = kafkaError(e, `fetching from broker ${nodeId} for ${o.giveUpAfterSecs}s`, o.source);
              return;
            }
            log.warn('fetch failed; refreshing metadata and retrying', { broker: nodeId, error: e });
            this.metadataStale = true;
            await sleep(backoff, o.signal);
            backoff = Math.min(backoff * 2, 5000);
          })
          .finally(() => {
            inFlight.set(nodeId, (inFlight.get(nodeId) ?? 1) - 1);
            for (const w of parts) fetching.delete(w);
            running.delete(p);
            this.notify();
          });
        running.add(p);
      }
      await this.maybeCheckpoint();
      this.o.onProgress?.(this.snapshotProgress());
      await this.waitForWork(launches.length === 0 && running.size === 0 ? 20 : 250);
    }
    await Promise.allSettled(running);
    if (this.fatal) throw this.fatal;
  }

  private snapshotProgress(): BackupProgress {
    const now = Date.now();
    let remaining = 0;
    let known = false;
    let oldest = Number.POSITIVE_INFINITY;
    let pendingSince = Number.POSITIVE_INFINITY;
    for (const w of this.writers.values()) {
      const since = w.pendingSince;
      if (since > 0) pendingSince = Math.min(pendingSince, since);
      const end = Number.isFinite(w.end) ? w.end : w.lastStable;
      if (end < 0) continue;
      known = true;
      // Counted from what is durable (committedEnd), not from the fetch position: records read
      // but still in memory or in an unfinished file are not backed up yet.
      const behind = Math.max(0, end - w.committedEnd);
      remaining += behind;
      if (behind > 0 && w.newestStored >= 0) oldest = Math.min(oldest, w.newestStored);
    }
    const pendingAge = Number.isFinite(pendingSince) ? Math.max(0, (now - pendingSince) / 1000) : 0;
    this.progress.oldestPendingSecs = pendingAge;
    this.progress.recordsRemaining = known ? remaining : -1;
    let lag = !known ? -1 : remaining === 0 ? 0 : Number.isFinite(oldest) ? Math.max(0, (now - oldest) / 1000) : -1;
    // what storage holds is at least as old as the oldest record read but not yet durable
    if (known && pendingAge > lag) lag = pendingAge;
    this.progress.lagSeconds = lag;
    return this.progress;
  }

  /**
   * Continuous mode: the snapshot records what is read but not yet listed, for `status` (which
   * reads storage only). Returns true when the oldest such record changed since the last
   * generation (none -> some, some -> none, or a file finished), so that this checkpoint commits
   * even without new files and `status` learns of records waiting; a changing count alone does
   * not force a generation.
   */
  private notePending(): boolean {
    if (this.o.mode !== 'continuous') return false;
    let since = Number.POSITIVE_INFINITY;
    const offsets: Record<string, number> = {};
    for (const w of this.writers.values()) {
      const n = w.pendingOffsets;
      if (n > 0) offsets[w.o.topic] = (offsets[w.o.topic] ?? 0) + n;
      const s = w.pendingSince;
      if (s > 0) since = Math.min(since, s);
    }
    const before = this.snapshot.pending?.oldest_read_at;
    if (Number.isFinite(since)) this.snapshot.pending = { oldest_read_at: new Date(since).toISOString(), offsets };
    else delete this.snapshot.pending;
    return this.snapshot.pending?.oldest_read_at !== before;
  }

  /** Commits a generation when files completed since the last one (at most every checkpoint interval). */
  private async maybeCheckpoint(force = false): Promise<void> {
    // Recovery point: a file is closed on the loop pass after its oldest record has waited
    // segment_max_interval (not only at checkpoint time, which added up to one more interval),
    // and whatever blocks are still being written (the write chain keeps the order), so the
    // next checkpoint, within checkpoint_interval, lists it.
    if (this.o.mode === 'continuous') for (const w of this.writers.values()) if (w.fileIsOld) w.closeFile();
    if (!force && Date.now() - this.lastCheckpoint < this.o.checkpointIntervalSecs * 1000) return;
    if (this.o.mode === 'continuous') await this.capturePeriodically();
    await this.checkpoint(undefined, this.notePending());
    const r = this.o.retention;
    if (
      this.o.mode === 'continuous' &&
      r?.apply === 'periodic' &&
      Date.now() - this.lastRetention >= r.intervalSecs * 1000
    )
      await this.applyRetention();
  }

  /**
   * backup.retention: drops data older than max_age through the same maintenance commit as
   * `forget --max-age`, written beside this run's commits; this run's next commit takes it in
   * (BackupLine.commit). A failure is logged: retention is tried again at the next interval.
   */
  private async applyRetention(): Promise<void> {
    const r = this.o.retention;
    if (!r) return;
    this.lastRetention = Date.now();
    try {
      const report = await forget(this.o.storage, this.o.backupId, {
        policy: {},
        maxAgeMs: r.maxAgeMs,
        maxAgeLabel: r.maxAgeLabel,
        op: 'retention',
        writer: { run_id: this.runId, host: hostname(), pid: process.pid, tool_version: VERSION },
      });
      const last = (await readMaintenance(this.o.storage, this.o.backupId).catch(() => null))?.last_prune;
      this.progress.retention = {
        horizonMs: Date.parse(report.horizon!),
        droppedBytes: (this.progress.retention?.droppedBytes ?? 0) + (report.seq !== null ? report.dropped_bytes : 0),
        oldestRestorableMs: report.oldest_restorable,
        lastPruneMs: last ? Date.parse(last.at) : null,
      };
      if (report.seq !== null)
        log.info('retention applied', {
          horizon: report.horizon,
          partitions: report.drops.length,
          dropped_bytes: report.dropped_bytes,
          forgotten: report.forgotten_by_max_age.length,
          seq: report.seq,
        });
    } catch (e) {
      log.warn('applying backup.retention failed; it is tried again later', { error: e });
    }
  }

  /** Continuous mode: a timestamped capture of the consumer-group offsets every minute. */
  private async capturePeriodically(): Promise<void> {
    if (!this.o.captureOffsets || Date.now() - this.lastCapture < CAPTURE_INTERVAL_MS) return;
    this.lastCapture = Date.now();
    try {
      this.snapshot.consumer_offsets = await captureConsumerOffsets(
        this.admin,
        this.o.storage,
        this.o.backupId,
        this.snapshot.id,
        [...this.topicInfo.keys()],
      );
    } catch (e) {
      log.warn('capturing consumer group offsets failed; retrying at the next interval', { error: e });
    }
  }

  private async checkpoint(final?: Snapshot['state'], dirty = false): Promise<void> {
    this.lastCheckpoint = Date.now();
    let changed = final !== undefined || dirty;
    const added: Additions = new Map();
    for (const w of this.writers.values()) {
      const { files, gaps, nextOffset, leaderEpoch } = w.takeCommitted();
      const ps = this.manifest.topics[w.o.topic]!.partitions[String(w.o.partition)]!;
      if (files.length || gaps.length || ps.next_offset !== nextOffset) changed = true;
      if (leaderEpoch >= 0) ps.leader_epoch = leaderEpoch;
      if (files.length || gaps.length) {
        const byPartition = added.get(w.o.topic) ?? new Map();
        byPartition.set(w.o.partition, { files, gaps });
        added.set(w.o.topic, byPartition);
      }
      ps.next_offset = nextOffset;
      this.progress.files += files.length;
      if (this.o.mode === 'continuous') this.snapshot.end_offsets[w.o.topic]![String(w.o.partition)] = nextOffset;
    }
    if (!final && this.o.mode === 'continuous' && (await this.beforeCommit(added.size > 0, changed))) changed = true;
    if (!changed) return;
    if (final) {
      this.snapshot.state = final;
      this.snapshot.finished_at = recordedSnapshotTime(new Date().toISOString());
    }
    await this.line.commit(this.manifest, added);
    await this.line.renewLease(LEASE_TTL_MS);
    log.debug('checkpoint', { generation: this.manifest.generation });
  }

  /**
   * backup.schema_registry in continuous mode: a capture covering the files this commit lists.
   * True when it changed the snapshot (a capture that caught up commits by itself).
   */
  private async beforeCommit(listing: boolean, committing: boolean): Promise<boolean> {
    if (!this.o.atCheckpoint) return false;
    const s = this.snapshot;
    const topics = [...this.topicInfo.keys()];
    const got = await this.o.atCheckpoint({ snapshotId: s.id, topics, endOffsets: s.end_offsets, listing, committing });
    Object.assign(s, got);
    return got !== undefined;
  }

  private async closeAll(): Promise<void> {
    for (const w of this.writers.values()) w.closeFile();
    const results = await Promise.allSettled([...this.writers.values()].map((w) => w.drain()));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  private async finish(): Promise<BackupResult> {
    const o = this.o;
    await this.closeAll();
    delete this.snapshot.pending; // everything read is in a finished file now
    const interrupted = this.stopping && o.mode === 'snapshot' && [...this.writers.values()].some((w) => !w.done);
    if (!interrupted && o.captureOffsets) {
      try {
        this.snapshot.consumer_offsets = await captureConsumerOffsets(
          this.admin,
          o.storage,
          o.backupId,
          this.snapshot.id,
          [...this.topicInfo.keys()],
        );
      } catch (e) {
        log.warn('capturing consumer group offsets failed; the backup itself is complete', { error: e });
      }
    }
    if (!interrupted && o.beforeSnapshotCommit)
      Object.assign(
        this.snapshot,
        await o.beforeSnapshotCommit({
          snapshotId: this.snapshot.id,
          topics: [...this.topicInfo.keys()],
          endOffsets: this.snapshot.end_offsets,
        }),
      );
    const state: Snapshot['state'] = interrupted ? 'interrupted' : this.failedTopics.size ? 'failed' : 'complete';
    await this.checkpoint(state);
    // the next run (and every reader) then opens the line from one checkpoint
    await this.line.consolidateNow(this.manifest);
    if (this.o.retention && this.o.retention.apply !== 'never') await this.applyRetention();
    const result = this.result(state);
    log.info('backup finished', {
      state,
      records: result.records,
      files: result.files,
      duration_ms: result.duration_ms,
    });
    if (interrupted)
      throw new InterruptedError(`backup ${o.backupId} was interrupted before reaching its snapshot's end offsets`, {
        hint: 'run the same command again: it resumes where this run stopped, with the same snapshot',
      });
    if (this.failedTopics.size)
      throw Object.assign(
        new PartialFailureError(
          `backup ${o.backupId}: ${this.failedTopics.size} topic(s) failed, the rest completed`,
          [...this.failedTopics].map(([what, msg]) => ({ what, error: new Error(msg) })),
        ),
        { result },
      );
    return result;
  }

  private result(state: Snapshot['state']): BackupResult {
    const topics = new Map<string, { topic: string; partitions: number; records: number; bytes: number }>();
    for (const w of this.writers.values()) {
      const t = topics.get(w.o.topic) ?? { topic: w.o.topic, partitions: 0, records: 0, bytes: 0 };
      t.partitions++;
      topics.set(w.o.topic, t);
    }
    for (const [name, tp] of Object.entries(this.progress.topics)) {
      const t = topics.get(name);
      if (t) {
        t.records = tp.records;
        t.bytes = tp.bytes;
      }
    }
    return {
      backup_id: this.o.backupId,
      snapshot_id: this.snapshot.id,
      run_id: this.runId,
      mode: this.o.mode,
      state,
      generation: this.manifest.generation,
      duration_ms: Date.now() - this.started,
      records: this.progress.records,
      raw_bytes: this.progress.rawBytes,
      stored_bytes: this.progress.storedBytes,
      files: this.progress.files,
      topics: [...topics.values()],
      failures: [...this.failedTopics].map(([topic, error]) => ({ topic, error })),
      topics_gone: this.gone,
    };
  }

  /** On failure: abort open files, and record what was committed so a re-run resumes from there. */
  private async failSafe(error: Error): Promise<void> {
    // before the run's snapshot exists (it failed while starting) there is nothing to record
    if (!this.manifest || !this.snapshot) return;
    await Promise.allSettled([...this.writers.values()].map((w) => w.abort()));
    // a fenced run must not write: another writer owns the line now
    if (error instanceof FencedError) return;
    try {
      this.snapshot.error = error.message;
      await this.checkpoint();
    } catch (e) {
      log.warn('could not record the last checkpoint after the failure; the previous one stands', { error: e });
    }
  }
}
