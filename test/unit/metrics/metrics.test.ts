/**
 * Metrics without Kafka: topic label folding, progress snapshots turned into counters, lazily
 * published gauges, the metering storage wrapper, and the HTTP endpoint's routes and errors.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BackupProgress } from '../../../src/backup/options.ts';
import { ConfigError, StorageError } from '../../../src/errors.ts';
import { KafkaBackupMetrics, OTHER_TOPIC, TopicLabels } from '../../../src/metrics/metrics.ts';
import { startMetricsServer } from '../../../src/metrics/server.ts';
import type { StorageBackend } from '../../../src/storage/backend.ts';
import { FilesystemBackend } from '../../../src/storage/filesystem.ts';
import { metered, type StorageMetrics } from '../../../src/storage/metered.ts';
import { openStorage } from '../../../src/storage/open.ts';
import { configureLogging } from '../../../src/util/log.ts';
import { tempDir } from '../../helpers/cli.ts';
import { parseMetrics } from '../../integration/metrics/scrape.ts';

configureLogging({ level: 'error' });

const progress = (over: Partial<BackupProgress>): BackupProgress => ({
  records: 0,
  rawBytes: 0,
  storedBytes: 0,
  files: 0,
  partitionsDone: 0,
  partitionsTotal: 4,
  recordsRemaining: 100,
  lagSeconds: 5,
  oldestPendingSecs: 0,
  topics: {},
  ...over,
});

async function scrape(m: KafkaBackupMetrics): Promise<Map<string, number>> {
  return parseMetrics(await m.metrics());
}

describe('TopicLabels', () => {
  test('the first max topics keep their names, later ones become _other', () => {
    const l = new TopicLabels(2);
    assert.equal(l.label('a'), 'a');
    assert.equal(l.label('b'), 'b');
    assert.equal(l.label('c'), OTHER_TOPIC);
    assert.equal(l.label('a'), 'a');
    assert.equal(l.label('d'), OTHER_TOPIC);
  });
  test('max 0 folds everything', () => {
    assert.equal(new TopicLabels(0).label('a'), OTHER_TOPIC);
  });
});

describe('KafkaBackupMetrics', () => {
  test('backup progress snapshots become counter increments by difference', async () => {
    let now = 1000;
    const m = new KafkaBackupMetrics({ command: 'backup', backupId: 'b', maxTopicLabels: 1, now: () => now });
    let s = await scrape(m);
    assert.equal(s.get('kafka_backup_lag_records'), undefined, 'no lag before it is known');
    assert.equal(s.get('kafka_backup_last_checkpoint_timestamp_seconds'), undefined);
    assert.equal(s.get('kafka_backup_ready'), 0);
    now = 1010;
    m.backupProgress(
      progress({
        records: 30,
        rawBytes: 3000,
        storedBytes: 1000,
        files: 1,
        recordsRemaining: 70,
        topics: { t1: { records: 10, bytes: 1000 }, t2: { records: 20, bytes: 2000 } },
      }),
    );
    m.backupProgress(
      progress({
        records: 50,
        rawBytes: 5000,
        storedBytes: 2000,
        files: 3,
        partitionsDone: 1,
        recordsRemaining: 50,
        topics: { t1: { records: 15, bytes: 1500 }, t2: { records: 35, bytes: 3500 } },
      }),
    );
    s = await scrape(m);
    assert.equal(s.get('kafka_backup_records_total{topic="t1"}'), 15);
    assert.equal(s.get('kafka_backup_records_total{topic="_other"}'), 35);
    assert.equal(s.get('kafka_backup_bytes_total{topic="_other"}'), 3500);
    assert.equal(s.get('kafka_backup_stored_bytes_total'), 2000);
    assert.equal(s.get('kafka_backup_files_written_total'), 3);
    assert.equal(s.get('kafka_backup_compression_ratio'), 2.5);
    assert.equal(s.get('kafka_backup_lag_records'), 50);
    assert.equal(s.get('kafka_backup_eta_seconds'), 10, '50 records left at 5 records/s');
    assert.equal(s.get('kafka_backup_partitions{state="done"}'), 1);
    assert.equal(s.get('kafka_backup_partitions{state="total"}'), 4);
    assert.equal(s.get('kafka_backup_checkpoint_age_seconds'), 10, 'since start while no checkpoint');
  });

  test('continuous mode (recordsRemaining -1) publishes no lag', async () => {
    const m = new KafkaBackupMetrics({ command: 'backup', backupId: 'b', maxTopicLabels: 10 });
    m.backupProgress(progress({ recordsRemaining: -1, records: 5, topics: { t: { records: 5, bytes: 50 } } }));
    const s = await scrape(m);
    assert.equal(s.get('kafka_backup_lag_records'), undefined);
    assert.equal(s.get('kafka_backup_eta_seconds'), undefined);
  });

  test('the age of the oldest record read but not yet durable is 0 until one waits, and back to 0 after', async () => {
    const m = new KafkaBackupMetrics({ command: 'backup', backupId: 'b', maxTopicLabels: 10 });
    assert.equal((await scrape(m)).get('kafka_backup_oldest_pending_record_age_seconds'), 0);
    m.backupProgress(progress({ oldestPendingSecs: 1.5 }));
    assert.equal((await scrape(m)).get('kafka_backup_oldest_pending_record_age_seconds'), 1.5);
    m.backupProgress(progress({ oldestPendingSecs: 0 }));
    assert.equal((await scrape(m)).get('kafka_backup_oldest_pending_record_age_seconds'), 0);
  });

  test('retention state appears once the run applied backup.retention: oldest restorable, dropped bytes, last prune', async () => {
    const m = new KafkaBackupMetrics({ command: 'backup', backupId: 'b', maxTopicLabels: 1 });
    m.backupProgress(progress({}));
    let s = await scrape(m);
    assert.equal(s.get('kafka_backup_retention_horizon_timestamp_seconds'), undefined, 'absent before retention');
    const retention = {
      horizonMs: 1_700_000_000_000,
      droppedBytes: 4096,
      oldestRestorableMs: { a: 1_700_000_500_000, b: 1_700_000_200_000, c: 1_700_000_300_000, d: -1 },
      lastPruneMs: null,
    };
    m.backupProgress(progress({ retention }));
    s = await scrape(m);
    assert.equal(s.get('kafka_backup_retention_horizon_timestamp_seconds'), 1_700_000_000);
    assert.equal(s.get('kafka_backup_retention_dropped_bytes_total'), 4096);
    assert.equal(s.get('kafka_backup_last_prune_timestamp_seconds'), 0, 'no prune recorded');
    assert.equal(s.get('kafka_backup_oldest_restorable_timestamp_seconds{topic="a"}'), 1_700_000_500);
    // topics past the label limit share _other, which shows the oldest of them
    assert.equal(s.get(`kafka_backup_oldest_restorable_timestamp_seconds{topic="${OTHER_TOPIC}"}`), 1_700_000_200);
    m.backupProgress(progress({ retention: { ...retention, droppedBytes: 5000, lastPruneMs: 1_700_000_900_000 } }));
    s = await scrape(m);
    assert.equal(s.get('kafka_backup_retention_dropped_bytes_total'), 5000, 'the counter grows by difference');
    assert.equal(s.get('kafka_backup_last_prune_timestamp_seconds'), 1_700_000_900);
  });

  test('a committed manifest generation is a checkpoint; storage errors are classified', async () => {
    let now = 100;
    const m = new KafkaBackupMetrics({ command: 'backup', backupId: 'b', maxTopicLabels: 10, now: () => now });
    now = 105;
    m.request('s3', 'put', 'b/manifests/0000000007.json', 0.02);
    m.request('s3', 'put', 'b/lease.json', 0.01);
    m.request('s3', 'get', 'b/lease.json', 0.01, new StorageError('gone', 'not-found'));
    m.request('s3', 'put', 'b/x', 0.3, new StorageError('503', 'transient'));
    m.retry('s3', 'put');
    m.breaker('s3', 'open');
    now = 108;
    const s = await scrape(m);
    assert.equal(s.get('kafka_backup_manifest_generation'), 7);
    assert.equal(s.get('kafka_backup_last_checkpoint_timestamp_seconds'), 105);
    assert.equal(s.get('kafka_backup_checkpoint_age_seconds'), 3);
    assert.equal(s.get('kafka_backup_storage_request_duration_seconds_count{op="put",backend="s3"}'), 3);
    assert.equal(s.get('kafka_backup_storage_errors_total{op="get",backend="s3",class="not-found"}'), 1);
    assert.equal(s.get('kafka_backup_storage_errors_total{op="put",backend="s3",class="transient"}'), 1);
    assert.equal(s.get('kafka_backup_errors_total{kind="storage",class="transient"}'), 1);
    assert.equal(
      [...s.keys()].filter((k) => k.startsWith('kafka_backup_errors_total')).length,
      1,
      'not-found is an answer, not an error',
    );
    assert.equal(s.get('kafka_backup_storage_retries_total{op="put",backend="s3"}'), 1);
    assert.equal(s.get('kafka_backup_circuit_breaker_state{backend="s3"}'), 2);
  });

  test('restore progress: ratio, ETA, planned total', async () => {
    let now = 0;
    const m = new KafkaBackupMetrics({ command: 'restore', backupId: 'b', maxTopicLabels: 10, now: () => now });
    assert.equal((await scrape(m)).get('kafka_backup_restore_records_planned'), undefined);
    now = 10;
    m.restoreProgress({ records: 250, bytes: 9000, recordsTotal: 1000, partitionsDone: 1, partitionsTotal: 4 });
    const s = await scrape(m);
    assert.equal(s.get('kafka_backup_restore_records_total'), 250);
    assert.equal(s.get('kafka_backup_restore_bytes_total'), 9000);
    assert.equal(s.get('kafka_backup_restore_records_planned'), 1000);
    assert.equal(s.get('kafka_backup_restore_progress_ratio'), 0.25);
    assert.equal(s.get('kafka_backup_restore_eta_seconds'), 30);
    assert.equal(s.get('kafka_backup_restore_partitions{state="done"}'), 1);
    assert.equal(s.get('kafka_backup_records_total'), undefined, 'backup metrics are not registered for restore');
  });
});

describe('metered storage', () => {
  test('times each call with its outcome, through openStorage', async () => {
    const seen: { op: string; key: string; error: boolean }[] = [];
    const states: string[] = [];
    const sink: StorageMetrics = {
      request: (_b, op, key, seconds, error) => {
        assert.ok(seconds >= 0);
        seen.push({ op, key, error: error !== undefined });
      },
      retry: () => {},
      breaker: (_b, s) => states.push(s),
    };
    const dir = tempDir('metered');
    const s = await openStorage({ backend: 'filesystem', path: dir }, { metrics: sink });
    await s.put('a/x', Buffer.from('x'));
    await assert.rejects(s.get('a/missing'));
    const w = await s.openWriter('a/big');
    await w.write(Buffer.from('yy'));
    await w.commit();
    const listed: string[] = [];
    for await (const o of s.list('a/')) listed.push(o.key);
    assert.equal(listed.length, 2);
    await s.close();
    assert.deepEqual(
      seen.map((x) => `${x.op}:${x.error}`),
      ['put:false', 'get:true', 'openWriter:false', 'write:false', 'commit:false', 'list:false'],
    );
    assert.deepEqual(states, ['closed'], 'the breaker state is reported when it is created');
  });

  test('a throwing sink never breaks a storage call', async () => {
    const inner = new FilesystemBackend({ path: tempDir('metered') });
    const s: StorageBackend = metered(inner, 'filesystem', {
      request: () => {
        throw new Error('sink broke');
      },
      retry: () => {},
      breaker: () => {},
    });
    await s.put('k', Buffer.from('v'));
    assert.equal((await s.get('k')).toString(), 'v');
  });
});

describe('metrics HTTP endpoint', () => {
  test('/metrics, /health, /ready (503 then 200), 404, 405', async () => {
    const m = new KafkaBackupMetrics({ command: 'backup', backupId: 'b', maxTopicLabels: 10 });
    const server = await startMetricsServer(m, 0, '127.0.0.1');
    try {
      const get = (p: string, method = 'GET') => fetch(`${server.url}${p}`, { method });
      assert.equal((await get('/health')).status, 200);
      assert.equal((await get('/ready')).status, 503);
      m.markReady();
      assert.equal((await get('/ready')).status, 200);
      const res = await get('/metrics');
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain; version=0\.0\.4/);
      assert.match(await res.text(), /^kafka_backup_ready 1$/m);
      assert.equal((await get('/nope')).status, 404);
      assert.equal((await get('/metrics', 'POST')).status, 405);
    } finally {
      await server.close();
    }
  });

  test('a port in use is a ConfigError naming the setting', async () => {
    const m = new KafkaBackupMetrics({ command: 'backup', backupId: 'b', maxTopicLabels: 10 });
    const first = await startMetricsServer(m, 0, '127.0.0.1');
    const port = Number(new URL(first.url).port);
    try {
      await assert.rejects(startMetricsServer(m, port, '127.0.0.1'), (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
        assert.match(e.hint ?? '', /metrics\.port/);
        return true;
      });
    } finally {
      await first.close();
    }
  });
});
