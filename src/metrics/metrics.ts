/**
 * Every Prometheus metric kafka-backup publishes, in one private registry per command run
 * (docs/operations.md lists them with their meaning and labels).
 *
 * The numbers come from three places, none of which knows about Prometheus:
 *   - the engines' onProgress (cumulative BackupProgress / RestoreProgress): turned into counter
 *     increments by difference, and gauges;
 *   - the storage stack (src/storage/metered.ts, retry hook, breaker hook): request latency,
 *     errors by class, retries, breaker state, and manifest commits (checkpoints);
 *   - the command itself: ready.
 *
 * The error that ends a command is not a metric (nobody could scrape it: the process exits); it
 * is the exit code and the last log line. A failing backup shows as a vanished target (up == 0),
 * a stale checkpoint, and errors_total rising before it.
 *
 * Topic labels are bounded: the first `maxTopicLabels` topics seen get their own label value,
 * every further topic is counted under topic="_other".
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BackupProgress, RetentionProgress } from '../backup/options.ts';
import { StorageError } from '../errors.ts';
import { commitSeqOfKey } from '../format/line-v2.ts';
import { generationOfKey } from '../format/manifest.ts';
import type { RestoreProgress } from '../restore/options.ts';
import type { StorageMetrics, StorageOp } from '../storage/metered.ts';
import type { CircuitState } from '../util/circuit-breaker.ts';
import { VERSION } from '../version.ts';

export const OTHER_TOPIC = '_other';

/** Breaker state as a number: 0 closed, 1 half-open, 2 open. */
export const BREAKER_STATE_VALUE: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

/** Maps topic names to label values, at most `max` distinct names; later topics become `_other`. */
export class TopicLabels {
  private readonly max: number;
  private readonly known = new Set<string>();
  constructor(max: number) {
    this.max = max;
  }
  label(topic: string): string {
    if (this.known.has(topic)) return topic;
    if (this.known.size < this.max) {
      this.known.add(topic);
      return topic;
    }
    return OTHER_TOPIC;
  }
}

export interface MetricsInfo {
  command: string;
  backupId: string;
  maxTopicLabels: number;
  /** Seconds clock, for tests. */
  now?: () => number;
}

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class KafkaBackupMetrics implements StorageMetrics {
  readonly registry = new Registry();
  private readonly now: () => number;
  private readonly topics: TopicLabels;
  private isReady = false;
  private readonly started: number;
  private lastCheckpoint = 0;

  // common
  private readonly readyGauge: Gauge;
  private readonly errors: Counter<'kind' | 'class'>;
  private topicsGone?: Counter<'reason'>;
  // backup (defined for the backup command only)
  private readonly records!: Counter<'topic'>;
  private readonly bytes!: Counter<'topic'>;
  private readonly storedBytes!: Counter;
  private readonly lag!: Gauge;
  private readonly lagSeconds!: Gauge;
  private readonly pendingAge!: Gauge;
  private readonly eta!: Gauge;
  private readonly ratio!: Gauge;
  private readonly oldestRestorable!: Gauge<'topic'>;
  private readonly retentionDropped!: Counter;
  private readonly retentionHorizon!: Gauge;
  private readonly lastPrune!: Gauge;
  private readonly files!: Counter;
  private readonly partitions!: Gauge<'state'>;
  private readonly generation!: Gauge;
  private readonly checkpointTime!: Gauge;
  // storage
  private readonly latency: Histogram<'op' | 'backend'>;
  private readonly storageErrors: Counter<'op' | 'backend' | 'class'>;
  private readonly retries: Counter<'op' | 'backend'>;
  private readonly breakerState: Gauge<'backend'>;
  // restore (defined for the restore command only)
  private readonly restoreRecords!: Counter;
  private readonly restoreBytes!: Counter;
  private readonly restorePlanned!: Gauge;
  private readonly restoreRatio!: Gauge;
  private readonly restoreEta!: Gauge;
  private readonly restorePartitions!: Gauge<'state'>;
  private readonly produceLatency!: Histogram;
  private readonly offsetGroups!: Gauge<'state'>;
  private readonly schemaIds!: Gauge<'outcome'>;

  /** Last cumulative values seen, to turn progress snapshots into counter increments. */
  private readonly seen = {
    topics: new Map<string, { records: number; bytes: number }>(),
    stored: 0,
    files: 0,
    retentionDropped: 0,
    restoreRecords: 0,
    restoreBytes: 0,
  };
  private firstProgressAt = 0;

  constructor(info: MetricsInfo) {
    this.now = info.now ?? (() => Date.now() / 1000);
    this.started = this.now();
    this.topics = new TopicLabels(info.maxTopicLabels);
    const r = [this.registry];
    const self = this;

    const infoGauge = new Gauge({
      name: 'kafka_backup_info',
      help: 'Always 1; labels name the command, backup line and tool version of this process',
      labelNames: ['command', 'backup_id', 'version'],
      registers: r,
    });
    infoGauge.set({ command: info.command, backup_id: info.backupId, version: VERSION }, 1);
    this.readyGauge = new Gauge({
      name: 'kafka_backup_ready',
      help: '1 once the command has connected and planned its work (same as /ready), else 0',
      registers: r,
    });
    this.readyGauge.set(0);
    this.errors = new Counter({
      name: 'kafka_backup_errors_total',
      help: 'Errors seen during the run by kind (storage, kafka) and class (transient: retried, permanent: not retried)',
      labelNames: ['kind', 'class'],
      registers: r,
    });
    new Gauge({
      name: 'kafka_backup_uptime_seconds',
      help: 'Seconds since this command started',
      registers: r,
      collect() {
        this.set(self.now() - self.started);
      },
    });
    let cpuSeen = 0;
    new Counter({
      name: 'process_cpu_seconds_total',
      help: 'User and system CPU time spent by this process, in seconds',
      registers: r,
      collect() {
        const u = process.cpuUsage();
        const total = (u.user + u.system) / 1e6;
        if (total > cpuSeen) this.inc(total - cpuSeen);
        cpuSeen = Math.max(cpuSeen, total);
      },
    });
    new Gauge({
      name: 'process_resident_memory_bytes',
      help: 'Resident memory size of this process, in bytes',
      registers: r,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });

    if (info.command === 'backup') {
      this.records = new Counter({
        name: 'kafka_backup_records_total',
        help: 'Records read from Kafka and stored, by topic (topics beyond metrics.max_topic_labels count as _other)',
        labelNames: ['topic'],
        registers: r,
      });
      this.bytes = new Counter({
        name: 'kafka_backup_bytes_total',
        help: 'Record-batch bytes read from Kafka and stored (before compression), by topic',
        labelNames: ['topic'],
        registers: r,
      });
      this.storedBytes = new Counter({
        name: 'kafka_backup_stored_bytes_total',
        help: 'Bytes written to storage for data blocks (after compression)',
        registers: r,
      });
      this.lag = new Gauge({
        name: 'kafka_backup_lag_records',
        help: "Records (offsets) not yet durable (still to read, or read but not yet in a finished data file): to the snapshot's end offsets, or to the last known end offsets when following",
        registers: [],
      });
      this.lagSeconds = new Gauge({
        name: 'kafka_backup_lag_seconds',
        help: 'Seconds between now and the newest record stored of the partitions still behind (0 when caught up)',
        registers: [],
      });
      this.pendingAge = new Gauge({
        name: 'kafka_backup_oldest_pending_record_age_seconds',
        help: 'Seconds since the oldest record read from Kafka but not yet in a finished data file was read (0 when none): what a crash now would lose from storage',
        registers: r,
      });
      this.pendingAge.set(0);
      this.eta = new Gauge({
        name: 'kafka_backup_eta_seconds',
        help: 'Snapshot mode: estimated seconds until the snapshot end offsets are reached, at the mean rate so far',
        registers: [],
      });
      this.ratio = new Gauge({
        name: 'kafka_backup_compression_ratio',
        help: 'Bytes read divided by bytes stored, over the whole run (2 = stored data is half the size)',
        registers: [],
      });
      // retention state: registered when the run first applies backup.retention
      this.oldestRestorable = new Gauge({
        name: 'kafka_backup_oldest_restorable_timestamp_seconds',
        help: 'Unix time of the oldest record a restore of the line brings back, by topic, as of the last backup.retention this run applied',
        labelNames: ['topic'],
        registers: [],
      });
      this.retentionDropped = new Counter({
        name: 'kafka_backup_retention_dropped_bytes_total',
        help: "Bytes of data files this run's backup.retention dropped from the line's state: reclaimable, prune deletes them",
        registers: [],
      });
      this.retentionHorizon = new Gauge({
        name: 'kafka_backup_retention_horizon_timestamp_seconds',
        help: 'Unix time of the record-time horizon of the last backup.retention this run applied (data older is dropped)',
        registers: [],
      });
      this.lastPrune = new Gauge({
        name: 'kafka_backup_last_prune_timestamp_seconds',
        help: "Unix time of the line's last prune (maintenance.json), read when backup.retention is applied; 0 when none is recorded",
        registers: [],
      });
      this.files = new Counter({
        name: 'kafka_backup_files_written_total',
        help: 'Data files completed and listed in a manifest generation',
        registers: r,
      });
      this.partitions = new Gauge({
        name: 'kafka_backup_partitions',
        help: 'Partitions of this run: state="total" selected, state="done" reached the snapshot end',
        labelNames: ['state'],
        registers: r,
      });
      this.partitions.set({ state: 'total' }, 0);
      this.partitions.set({ state: 'done' }, 0);
      this.generation = new Gauge({
        name: 'kafka_backup_manifest_generation',
        help: 'Newest manifest generation this run committed (each commit is a checkpoint)',
        registers: [],
      });
      this.checkpointTime = new Gauge({
        name: 'kafka_backup_last_checkpoint_timestamp_seconds',
        help: 'Unix time of the last manifest generation this run committed',
        registers: [],
      });
      new Gauge({
        name: 'kafka_backup_checkpoint_age_seconds',
        help: 'Seconds since the last manifest generation was committed (since start while none was)',
        registers: r,
        collect() {
          this.set(self.now() - (self.lastCheckpoint || self.started));
        },
      });
    }

    this.latency = new Histogram({
      name: 'kafka_backup_storage_request_duration_seconds',
      help: 'Duration of each storage request attempt, by operation and backend (failed attempts included)',
      labelNames: ['op', 'backend'],
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
    this.storageErrors = new Counter({
      name: 'kafka_backup_storage_errors_total',
      help: 'Failed storage request attempts by operation, backend and class (transient, permanent, not-found, already-exists)',
      labelNames: ['op', 'backend', 'class'],
      registers: r,
    });
    this.retries = new Counter({
      name: 'kafka_backup_storage_retries_total',
      help: 'Storage calls retried after a transient failure, by operation and backend',
      labelNames: ['op', 'backend'],
      registers: r,
    });
    this.breakerState = new Gauge({
      name: 'kafka_backup_circuit_breaker_state',
      help: 'Storage circuit breaker: 0 closed, 1 half-open, 2 open',
      labelNames: ['backend'],
      registers: r,
    });

    if (info.command === 'restore') {
      this.restoreRecords = new Counter({
        name: 'kafka_backup_restore_records_total',
        help: 'Records produced to the target cluster and acknowledged',
        registers: r,
      });
      this.restoreBytes = new Counter({
        name: 'kafka_backup_restore_bytes_total',
        help: 'Record-batch bytes produced to the target cluster and acknowledged',
        registers: r,
      });
      this.restorePlanned = new Gauge({
        name: 'kafka_backup_restore_records_planned',
        help: 'Records the restore plan expects to produce (an estimate from the manifest)',
        registers: [],
      });
      this.restoreRatio = new Gauge({
        name: 'kafka_backup_restore_progress_ratio',
        help: 'Records produced divided by records planned (0..1)',
        registers: r,
      });
      this.restoreEta = new Gauge({
        name: 'kafka_backup_restore_eta_seconds',
        help: 'Estimated seconds until the restore completes, at the mean rate so far',
        registers: [],
      });
      this.restorePartitions = new Gauge({
        name: 'kafka_backup_restore_partitions',
        help: 'Restore jobs (source partitions): state="total" planned, state="done" finished',
        labelNames: ['state'],
        registers: r,
      });
      this.restorePartitions.set({ state: 'total' }, 0);
      this.restorePartitions.set({ state: 'done' }, 0);
      this.offsetGroups = new Gauge({
        name: 'kafka_backup_offsets_groups',
        help: 'Consumer groups moved at the end of the restore (restore.consumer_groups): planned, applied, failed',
        labelNames: ['state'],
        registers: [],
      });
      this.schemaIds = new Gauge({
        name: 'kafka_backup_restore_schema_ids',
        help: 'restore.schema_registry: keys and values whose schema id was rewritten, and those with an id missing from the capture',
        labelNames: ['outcome'],
        registers: [],
      });
      this.produceLatency = new Histogram({
        name: 'kafka_backup_restore_produce_duration_seconds',
        help: 'Seconds from handing a batch to the producer to its acknowledgement (acks=all), including its wait for a Produce request',
        buckets: LATENCY_BUCKETS,
        registers: r,
      });
    }
  }

  /**
   * Sets a gauge that is only published once it has a value (a gauge without labels would
   * otherwise show 0 before it is known: a lag of 0, a checkpoint at 1970).
   */
  private setLazy(g: Gauge, value: number): void {
    if (!this.registry.getSingleMetric((g as unknown as { name: string }).name)) this.registry.registerMetric(g);
    g.set(value);
  }

  get ready(): boolean {
    return this.isReady;
  }

  markReady(): void {
    if (this.isReady) return;
    this.isReady = true;
    this.readyGauge.set(1);
  }

  backupProgress(p: BackupProgress): void {
    this.firstProgressAt ||= this.now();
    for (const [topic, t] of Object.entries(p.topics)) {
      const prev = this.seen.topics.get(topic) ?? { records: 0, bytes: 0 };
      const label = this.topics.label(topic);
      if (t.records > prev.records) this.records.inc({ topic: label }, t.records - prev.records);
      if (t.bytes > prev.bytes) this.bytes.inc({ topic: label }, t.bytes - prev.bytes);
      this.seen.topics.set(topic, { records: t.records, bytes: t.bytes });
    }
    if (p.storedBytes > this.seen.stored) this.storedBytes.inc(p.storedBytes - this.seen.stored);
    this.seen.stored = Math.max(this.seen.stored, p.storedBytes);
    if (p.files > this.seen.files) this.files.inc(p.files - this.seen.files);
    this.seen.files = Math.max(this.seen.files, p.files);
    if (p.storedBytes > 0) this.setLazy(this.ratio, p.rawBytes / p.storedBytes);
    this.partitions.set({ state: 'total' }, p.partitionsTotal);
    this.partitions.set({ state: 'done' }, p.partitionsDone);
    if (p.lagSeconds >= 0) this.setLazy(this.lagSeconds, p.lagSeconds);
    this.pendingAge.set(p.oldestPendingSecs);
    if (p.retention) this.retentionProgress(p.retention);
    if (p.recordsRemaining >= 0) {
      this.setLazy(this.lag, p.recordsRemaining);
      const elapsed = this.now() - this.started;
      const rate = elapsed > 0 ? p.records / elapsed : 0;
      if (rate > 0) this.setLazy(this.eta, p.recordsRemaining / rate);
      else if (p.recordsRemaining === 0) this.setLazy(this.eta, 0);
    }
  }

  private retentionProgress(r: RetentionProgress): void {
    for (const g of [this.oldestRestorable, this.retentionDropped, this.retentionHorizon, this.lastPrune]) {
      const name = (g as unknown as { name: string }).name;
      if (!this.registry.getSingleMetric(name)) this.registry.registerMetric(g);
    }
    // topics beyond the label limit share _other: it shows the oldest of them
    const byLabel = new Map<string, number>();
    for (const [topic, ms] of Object.entries(r.oldestRestorableMs)) {
      const label = this.topics.label(topic);
      if (ms >= 0) byLabel.set(label, Math.min(ms, byLabel.get(label) ?? ms));
    }
    for (const [topic, ms] of byLabel) this.oldestRestorable.set({ topic }, ms / 1000);
    if (r.droppedBytes > this.seen.retentionDropped)
      this.retentionDropped.inc(r.droppedBytes - this.seen.retentionDropped);
    this.seen.retentionDropped = Math.max(this.seen.retentionDropped, r.droppedBytes);
    this.retentionHorizon.set(r.horizonMs / 1000);
    this.lastPrune.set(r.lastPruneMs === null ? 0 : r.lastPruneMs / 1000);
  }

  error(kind: 'kafka' | 'storage', cls: 'transient' | 'permanent'): void {
    this.errors.inc({ kind, class: cls });
  }

  /** Continuous backup: a followed topic was deleted or re-created (a new topic id) during the run. */
  topicGone(reason: 'deleted' | 'recreated'): void {
    this.topicsGone ??= new Counter({
      name: 'kafka_backup_topics_gone_total',
      help: 'Followed topics deleted (reason deleted) or deleted and re-created with a new topic id (reason recreated) during a continuous backup',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    this.topicsGone.inc({ reason });
  }

  offsetsApplied(groups: { planned: number; applied: number; failed: number }): void {
    if (!this.registry.getSingleMetric('kafka_backup_offsets_groups')) this.registry.registerMetric(this.offsetGroups);
    for (const [state, n] of Object.entries(groups)) this.offsetGroups.set({ state }, n);
  }

  restoreSchemaIds(counts: { rewritten: number; unknown: number }): void {
    if (!this.registry.getSingleMetric('kafka_backup_restore_schema_ids')) this.registry.registerMetric(this.schemaIds);
    for (const [outcome, n] of Object.entries(counts)) this.schemaIds.set({ outcome }, n);
  }

  restoreProduced(seconds: number): void {
    this.produceLatency?.observe(seconds);
  }

  restoreProgress(p: RestoreProgress): void {
    this.firstProgressAt ||= this.now();
    if (p.records > this.seen.restoreRecords) this.restoreRecords.inc(p.records - this.seen.restoreRecords);
    this.seen.restoreRecords = Math.max(this.seen.restoreRecords, p.records);
    if (p.bytes > this.seen.restoreBytes) this.restoreBytes.inc(p.bytes - this.seen.restoreBytes);
    this.seen.restoreBytes = Math.max(this.seen.restoreBytes, p.bytes);
    this.setLazy(this.restorePlanned, p.recordsTotal);
    this.restoreRatio.set(p.recordsTotal > 0 ? Math.min(1, p.records / p.recordsTotal) : 1);
    this.restorePartitions.set({ state: 'total' }, p.partitionsTotal);
    this.restorePartitions.set({ state: 'done' }, p.partitionsDone);
    const elapsed = this.now() - this.started;
    const rate = elapsed > 0 ? p.records / elapsed : 0;
    const left = Math.max(0, p.recordsTotal - p.records);
    if (left === 0) this.setLazy(this.restoreEta, 0);
    else if (rate > 0) this.setLazy(this.restoreEta, left / rate);
  }

  // StorageMetrics

  request(backend: string, op: StorageOp, key: string, seconds: number, error?: unknown): void {
    this.latency.observe({ op, backend }, seconds);
    if (error !== undefined) {
      const cls = error instanceof StorageError ? error.storageKind : 'permanent';
      this.storageErrors.inc({ op, backend, class: cls });
      // not-found and already-exists are answers (a missing lease, a fenced commit), not failures
      if (cls === 'transient' || cls === 'permanent') this.errors.inc({ kind: 'storage', class: cls });
      return;
    }
    if (op === 'put' && this.generation) {
      // a v2 commit (log/) or, on lines written before, a v1 generation (manifests/)
      const g = commitSeqOfKey(key) ?? generationOfKey(key);
      if (g !== null) {
        this.lastCheckpoint = this.now();
        this.setLazy(this.generation, g);
        this.setLazy(this.checkpointTime, this.lastCheckpoint);
      }
    }
  }

  retry(backend: string, op: string): void {
    this.retries.inc({ op, backend });
  }

  breaker(backend: string, state: CircuitState): void {
    this.breakerState.set({ backend }, BREAKER_STATE_VALUE[state]);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
