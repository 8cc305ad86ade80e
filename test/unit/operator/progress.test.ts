/** A run's progress from its Prometheus exposition, and watches that restart (relist) on errors. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseExposition, progressOf } from '../../../src/operator/progress.ts';
import { type Watcher, Watches } from '../../../src/operator/watches.ts';
import { logger } from '../../../src/util/log.ts';

const now = new Date('2026-01-01T00:00:00Z');

test('backup progress: records and bytes summed over topics, partitions, lag, and a percentage in snapshot mode', () => {
  const text = [
    '# HELP kafka_backup_records_total Records',
    '# TYPE kafka_backup_records_total counter',
    'kafka_backup_records_total{topic="orders"} 300',
    'kafka_backup_records_total{topic="pay\\"ments"} 100',
    'kafka_backup_bytes_total{topic="orders"} 3000',
    'kafka_backup_bytes_total{topic="pay\\"ments"} 1000',
    'kafka_backup_partitions{state="total"} 4',
    'kafka_backup_partitions{state="done"} 1',
    'kafka_backup_lag_records 600',
    'kafka_backup_eta_seconds 12.5',
  ].join('\n');
  assert.equal(parseExposition(text).get('kafka_backup_records_total')?.[1]?.labels['topic'], 'pay\\"ments');
  assert.deepEqual(progressOf('backup', text, 'job-1', now), {
    job: 'job-1',
    updatedAt: now.toISOString(),
    records: 400,
    bytes: 4000,
    partitionsTotal: 4,
    partitionsDone: 1,
    lagRecords: 600,
    etaSeconds: 12.5,
    percent: 40,
  });
  // following (continuous): no ETA, so no percentage; the lag says how far behind
  const following = progressOf(
    'backup',
    'kafka_backup_records_total{topic="a"} 5\nkafka_backup_lag_records 0',
    'j',
    now,
  );
  assert.equal(following?.percent, undefined);
  assert.equal(following?.lagRecords, 0);
  assert.equal(progressOf('backup', 'process_cpu_seconds_total 1', 'j', now), undefined);
});

test('restore progress: the ratio as a percentage', () => {
  const text = [
    'kafka_backup_restore_records_total{topic="t"} 50',
    'kafka_backup_restore_bytes_total{topic="t"} 500',
    'kafka_backup_restore_progress_ratio 0.25',
    'kafka_backup_restore_partitions{state="total"} 2',
    'kafka_backup_restore_partitions{state="done"} 0',
  ].join('\n');
  const p = progressOf('restore', text, 'r', now);
  assert.equal(p?.percent, 25);
  assert.equal(p?.records, 50);
  assert.equal(p?.partitionsTotal, 2);
});

test('a watch that reports an error (410 Gone) or ends is started again, from a fresh list', async () => {
  const calls: string[] = [];
  const seen: string[] = [];
  let n = 0;
  const watcher: Watcher = {
    async watch(path, _q, callback, done) {
      calls.push(path);
      const call = ++n;
      const abort = new AbortController();
      setImmediate(() => {
        callback('ADDED', { metadata: { name: `a${call}` } });
        if (call === 1) callback('ERROR', { kind: 'Status', code: 410, message: 'too old resource version' });
        else if (call === 2) done(new Error('connection reset'));
      });
      return abort;
    },
  };
  const w = new Watches(watcher, logger('test'));
  w.start([{ what: 'things', path: '/things', onEvent: (_t, o) => seen.push(String(o.metadata?.['name'])) }]);
  for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 50));
  w.stop();
  assert.equal(calls.length, 3, 'started, restarted after the 410, restarted after the error');
  assert.deepEqual(seen.slice(0, 3), ['a1', 'a2', 'a3']);
});
