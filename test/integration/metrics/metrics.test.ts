/**
 * The metrics endpoint during real runs: a throttled backup of three topics (max_topic_labels 2)
 * to S3 (moto) behind the fault proxy, and a throttled restore of it. The tests scrape /metrics,
 * /ready and /health every 200 ms and check that every metric family the endpoint publishes is
 * asserted here and moves the way it should: counters rise, the lag falls, the breaker opens
 * (503s injected mid-run) and closes again, /ready goes from 503 to 200.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jsonOut, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { type FaultProxy, startFaultProxy } from '../../helpers/fault-proxy.ts';
import {
  createTopic,
  deleteTopics,
  KAFKA_BOOTSTRAP,
  produceWithPerf,
  sleep,
  uniqueTopic,
} from '../../helpers/kafka.ts';
import { consumeAsGroup } from '../../helpers/peers.ts';
import { createS3Bucket, S3_CREDENTIALS, S3_ENDPOINT } from '../../helpers/storage-servers.ts';
import { freePort, type Scrape, scrapeLoop, series, seriesOf } from './scrape.ts';

const RECORDS_PER_TOPIC = 12_000;

const rises = (v: number[], what: string) => {
  assert.ok(v.length >= 2, `${what}: seen in ${v.length} scrapes`);
  assert.ok(v[v.length - 1]! > v[0]!, `${what}: rose (${v[0]} -> ${v[v.length - 1]})`);
  for (let i = 1; i < v.length; i++) assert.ok(v[i]! >= v[i - 1]!, `${what}: a counter never goes down`);
};
const changes = (v: number[], what: string) => {
  assert.ok(v.length >= 2, `${what}: seen in ${v.length} scrapes`);
  assert.ok(new Set(v).size > 1, `${what}: changed during the run (${v.slice(0, 5).join(', ')} ...)`);
};

/** Every family seen in any scrape must be covered by `checked`. */
function assertAllChecked(scrapes: Scrape[], checked: Set<string>): void {
  const families = new Set<string>();
  for (const s of scrapes) for (const m of s.text.matchAll(/^# TYPE (\S+) /gm)) families.add(m[1]!);
  const unchecked = [...families].filter((f) => !checked.has(f));
  assert.deepEqual(unchecked, [], 'every published metric family is asserted by this test');
}

describe('metrics endpoint (backup and restore against S3 via fault proxy)', { timeout: 300_000 }, () => {
  let proxy: FaultProxy;
  let bucket: string;
  let dir: string;
  const topics: string[] = [];
  const group = `metrics-group-${Date.now().toString(36)}`;

  before(async () => {
    proxy = await startFaultProxy(S3_ENDPOINT);
    bucket = await createS3Bucket('kb-metrics');
    dir = tempDir('metrics');
    for (const name of ['ma', 'mb', 'mc']) {
      const t = await createTopic(uniqueTopic(name), { partitions: 2 });
      topics.push(t);
    }
    await Promise.all(topics.map((t) => produceWithPerf(t, RECORDS_PER_TOPIC, 300)));
    // a consumer group (Kafka's Java consumer) the restore moves at its end
    await consumeAsGroup(group, topics[0]!, 100);
  });
  after(async () => {
    await proxy.close();
    await deleteTopics([...topics, ...topics.map((t) => `${t}-restored`)]);
  });

  const storage = () => ({
    backend: 's3',
    bucket,
    endpoint: proxy.url,
    ...S3_CREDENTIALS,
    retry: { max_retries: 60, initial_delay_ms: 50, max_delay_ms: 400 },
  });

  test('backup: every metric is published and moves during the run', async () => {
    const port = await freePort();
    const config = writeConfig(dir, 'backup.yaml', {
      backup_id: 'metrics',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: topics } },
      storage: storage(),
      backup: {
        compression: 'zstd',
        max_bytes_per_sec: 1_500_000,
        max_batch_bytes: 131_072,
        fetch_max_bytes: 524_288,
        segment_max_bytes: 1_048_576,
        checkpoint_interval_secs: 1,
        circuit_breaker: { failure_threshold: 2, reset_timeout_secs: 1 },
      },
      // files_written and partitions done can move only at the run's end on a loaded host (CI
      // failures "files: rose (0 -> 0)", "partitions done: rose (0 -> 0)"): the engine now reports
      // its final progress, and the endpoint stays up 2 s like the restore's so a scrape sees it.
      metrics: { enabled: true, port, max_topic_labels: 2, linger_secs: 2 },
    });
    // the first storage request is slow, so /ready is seen answering 503 first
    proxy.inject({ kind: 'delay', ms: 1500 }, { count: 1 });
    const scraper = scrapeLoop(port, 200);
    const { child, done } = startCli(['backup', '-c', config, '--format', 'json']);
    // once records flow, storage answers 503 for a while: retries, errors, the breaker opens
    let injected = false;
    const injector = (async () => {
      const deadline = Date.now() + 60_000;
      while (!injected && Date.now() < deadline && child.exitCode === null) {
        const last = scraper.scrapes[scraper.scrapes.length - 1];
        const recs = [...(last?.metrics ?? new Map())].filter(([k]) => k.startsWith('kafka_backup_records_total{'));
        if (recs.some(([, v]) => v > 2000)) {
          proxy.inject({ kind: 'status', status: 503 }, { count: 4 });
          injected = true;
        }
        await sleep(100);
      }
    })();
    const r = await done;
    await injector;
    await scraper.stop();
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.ok(injected, 'the 503s were injected mid-run');
    const result = jsonOut<{ records: number; state: string }>(r);
    assert.equal(result.records, 3 * RECORDS_PER_TOPIC);
    const s = scraper.scrapes;
    assert.ok(s.length >= 10, `scraped ${s.length} times`);
    const checked = new Set<string>();
    const check = (family: string, fn: () => void) => {
      checked.add(family);
      fn();
    };

    check('kafka_backup_info', () =>
      assert.ok(
        seriesOf(s, 'kafka_backup_info')[0]?.includes('command="backup",backup_id="metrics"'),
        'info names command and backup id',
      ),
    );
    check('kafka_backup_ready', () => {
      assert.ok(
        s.some((x) => x.ready === 503),
        '/ready answered 503 before connecting and planning',
      );
      assert.equal(s[s.length - 1]!.ready, 200, '/ready answers 200 once planned');
      assert.ok(
        s.every((x) => x.health === 200),
        '/health always 200',
      );
      const v = series(s, 'kafka_backup_ready');
      assert.equal(v[0], 0);
      assert.equal(v[v.length - 1], 1);
    });
    check('kafka_backup_uptime_seconds', () => rises(series(s, 'kafka_backup_uptime_seconds'), 'uptime'));
    check('process_cpu_seconds_total', () => rises(series(s, 'process_cpu_seconds_total'), 'cpu'));
    check('process_resident_memory_bytes', () => changes(series(s, 'process_resident_memory_bytes'), 'rss'));

    // per-topic counters: two topics by name, the third folded into _other
    for (const family of ['kafka_backup_records_total', 'kafka_backup_bytes_total'])
      check(family, () => {
        const names = seriesOf(s, family);
        assert.equal(names.length, 3, `${family}: ${names.join(' ')}`);
        assert.ok(names.includes(`${family}{topic="_other"}`), `${family}: a third topic is counted as _other`);
        assert.equal(
          names.filter((n) => topics.some((t) => n.includes(t))).length,
          2,
          'at most max_topic_labels topic names',
        );
        for (const n of names) rises(series(s, n), n);
        if (family === 'kafka_backup_records_total') {
          const last = s[s.length - 1]!.metrics;
          const total = names.reduce((sum, n) => sum + (last.get(n) ?? 0), 0);
          assert.ok(total > RECORDS_PER_TOPIC, `records counted: ${total}`);
        }
      });
    check('kafka_backup_stored_bytes_total', () => rises(series(s, 'kafka_backup_stored_bytes_total'), 'stored'));
    check('kafka_backup_lag_records', () => {
      const v = series(s, 'kafka_backup_lag_records');
      assert.ok(v.length >= 2 && v.length < s.length, 'published once known (not as 0 before)');
      assert.ok(v[0]! > v[v.length - 1]!, `lag fell (${v[0]} -> ${v[v.length - 1]})`);
      assert.ok(v[0]! <= 3 * RECORDS_PER_TOPIC);
    });
    check('kafka_backup_eta_seconds', () => changes(series(s, 'kafka_backup_eta_seconds'), 'eta'));
    check('kafka_backup_oldest_pending_record_age_seconds', () => {
      const v = series(s, 'kafka_backup_oldest_pending_record_age_seconds');
      assert.ok(
        v.some((x) => x > 0),
        `records read waited for their file to be finished: ${v.slice(0, 10).join(', ')} ...`,
      );
      assert.ok(
        v.every((x) => x >= 0 && x < 60),
        'an age in seconds, bounded by how long a file stays open',
      );
    });
    check('kafka_backup_lag_seconds', () => changes(series(s, 'kafka_backup_lag_seconds'), 'lag in seconds'));
    check('kafka_backup_compression_ratio', () => {
      const v = series(s, 'kafka_backup_compression_ratio');
      changes(v, 'compression ratio');
      assert.ok(v[v.length - 1]! > 1, 'zstd made the data smaller');
    });
    check('kafka_backup_files_written_total', () => {
      const v = series(s, 'kafka_backup_files_written_total');
      rises(v, 'files');
      // every partition closes at least its final file: six partitions, at least six files
      assert.ok(v[v.length - 1]! >= 6, `files written: ${v[v.length - 1]}`);
    });
    check('kafka_backup_partitions', () => {
      assert.equal(s[s.length - 1]!.metrics.get('kafka_backup_partitions{state="total"}'), 6);
      rises(series(s, 'kafka_backup_partitions{state="done"}'), 'partitions done');
    });
    check('kafka_backup_manifest_generation', () =>
      rises(series(s, 'kafka_backup_manifest_generation'), 'manifest generation'),
    );
    check('kafka_backup_last_checkpoint_timestamp_seconds', () =>
      rises(series(s, 'kafka_backup_last_checkpoint_timestamp_seconds'), 'last checkpoint time'),
    );
    check('kafka_backup_checkpoint_age_seconds', () => {
      const v = series(s, 'kafka_backup_checkpoint_age_seconds');
      changes(v, 'checkpoint age');
      assert.ok(
        v.some((x, i) => i > 0 && x < v[i - 1]!),
        'checkpoint age drops back when a generation is committed',
      );
    });
    check('kafka_backup_storage_request_duration_seconds', () => {
      for (const op of ['get', 'list'])
        assert.ok(
          series(s, `kafka_backup_storage_request_duration_seconds_count{op="${op}",backend="s3"}`).length > 0,
          op,
        );
      for (const op of ['put', 'openWriter', 'write', 'commit'])
        rises(
          series(s, `kafka_backup_storage_request_duration_seconds_count{op="${op}",backend="s3"}`),
          `latency count of ${op}`,
        );
      rises(series(s, 'kafka_backup_storage_request_duration_seconds_sum{op="put",backend="s3"}'), 'latency sum');
      rises(
        series(s, 'kafka_backup_storage_request_duration_seconds_bucket{le="+Inf",op="put",backend="s3"}'),
        'latency buckets',
      );
    });
    check('kafka_backup_storage_errors_total', () => {
      const names = seriesOf(s, 'kafka_backup_storage_errors_total').filter((n) => n.includes('class="transient"'));
      assert.ok(names.length > 0, 'transient storage errors counted');
      const total = s.map((x) => names.reduce((n, k) => n + (x.metrics.get(k) ?? 0), 0));
      rises(total, 'transient storage errors');
    });
    check('kafka_backup_errors_total', () =>
      rises(
        s.map((x) => x.metrics.get('kafka_backup_errors_total{kind="storage",class="transient"}') ?? 0),
        'errors by kind',
      ),
    );
    check('kafka_backup_storage_retries_total', () => {
      const names = seriesOf(s, 'kafka_backup_storage_retries_total');
      assert.ok(names.length > 0 && names.every((n) => n.includes('backend="s3"')));
      rises(
        s.map((x) => names.reduce((n, k) => n + (x.metrics.get(k) ?? 0), 0)),
        'retries',
      );
    });
    check('kafka_backup_circuit_breaker_state', () => {
      const v = series(s, 'kafka_backup_circuit_breaker_state{backend="s3"}');
      assert.equal(v[0], 0, 'closed at first');
      const opened = v.indexOf(2);
      assert.ok(opened > 0, `the breaker was seen open (2): ${v.join(',')}`);
      assert.ok(v.slice(opened).includes(0), 'and closed again (0)');
    });
    assertAllChecked(s, checked);
  });

  test('restore: progress, ETA, records and bytes move during the run', async () => {
    const port = await freePort();
    const config = writeConfig(dir, 'restore.yaml', {
      backup_id: 'metrics',
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage: storage(),
      restore: {
        topic_mapping: Object.fromEntries(topics.map((t) => [t, `${t}-restored`])),
        max_records_per_sec: 8_000,
        max_concurrent_partitions: 2,
        consumer_groups: [group],
      },
      // keep the endpoint up a moment after the run so the final values are scraped
      metrics: { enabled: true, port, linger_secs: 2 },
    });
    proxy.inject({ kind: 'delay', ms: 1500 }, { count: 1 });
    const scraper = scrapeLoop(port, 200);
    const r = await startCli(['restore', '-c', config, '--format', 'json']).done;
    await scraper.stop();
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.equal(jsonOut<{ records: number }>(r).records, 3 * RECORDS_PER_TOPIC);
    const s = scraper.scrapes;
    const checked = new Set<string>();
    const check = (family: string, fn: () => void) => {
      checked.add(family);
      fn();
    };
    check('kafka_backup_info', () => assert.ok(seriesOf(s, 'kafka_backup_info')[0]?.includes('command="restore"')));
    check('kafka_backup_ready', () => {
      assert.ok(
        s.some((x) => x.ready === 503),
        '/ready 503 before planning',
      );
      assert.equal(s[s.length - 1]!.ready, 200);
      const v = series(s, 'kafka_backup_ready');
      assert.equal(v[0], 0);
      assert.equal(v[v.length - 1], 1);
    });
    check('kafka_backup_uptime_seconds', () => rises(series(s, 'kafka_backup_uptime_seconds'), 'uptime'));
    check('process_cpu_seconds_total', () => rises(series(s, 'process_cpu_seconds_total'), 'cpu'));
    check('process_resident_memory_bytes', () => changes(series(s, 'process_resident_memory_bytes'), 'rss'));
    check('kafka_backup_restore_records_total', () =>
      rises(series(s, 'kafka_backup_restore_records_total'), 'restored records'),
    );
    check('kafka_backup_restore_bytes_total', () =>
      rises(series(s, 'kafka_backup_restore_bytes_total'), 'restored bytes'),
    );
    check('kafka_backup_restore_records_planned', () => {
      const v = series(s, 'kafka_backup_restore_records_planned');
      assert.ok(v.length < s.length, 'not published before planning');
      assert.ok(v.length > 0 && v.every((x) => x === 3 * RECORDS_PER_TOPIC), 'then the planned total');
    });
    check('kafka_backup_restore_progress_ratio', () => {
      const v = series(s, 'kafka_backup_restore_progress_ratio');
      rises(v, 'progress ratio');
      assert.ok(v[v.length - 1]! <= 1);
    });
    check('kafka_backup_restore_eta_seconds', () => changes(series(s, 'kafka_backup_restore_eta_seconds'), 'eta'));
    check('kafka_backup_restore_partitions', () => {
      assert.equal(s[s.length - 1]!.metrics.get('kafka_backup_restore_partitions{state="total"}'), 6);
      rises(series(s, 'kafka_backup_restore_partitions{state="done"}'), 'restore partitions done');
    });
    check('kafka_backup_offsets_groups', () => {
      const last = s[s.length - 1]!.metrics;
      assert.ok(
        series(s, 'kafka_backup_offsets_groups{state="planned"}').length < s.length,
        'absent until the groups moved',
      );
      assert.equal(last.get('kafka_backup_offsets_groups{state="planned"}'), 1);
      assert.equal(last.get('kafka_backup_offsets_groups{state="applied"}'), 1);
      assert.equal(last.get('kafka_backup_offsets_groups{state="failed"}'), 0);
    });
    check('kafka_backup_restore_produce_duration_seconds', () =>
      rises(series(s, 'kafka_backup_restore_produce_duration_seconds_count'), 'produce acknowledgements timed'),
    );
    check('kafka_backup_storage_request_duration_seconds', () => {
      for (const op of ['get', 'list'])
        assert.ok(
          series(s, `kafka_backup_storage_request_duration_seconds_count{op="${op}",backend="s3"}`).length > 0,
          op,
        );
      for (const op of ['load'])
        rises(
          series(s, `kafka_backup_storage_request_duration_seconds_count{op="${op}",backend="s3"}`),
          `latency count of ${op}`,
        );
    });
    check('kafka_backup_circuit_breaker_state', () =>
      assert.ok(series(s, 'kafka_backup_circuit_breaker_state{backend="s3"}').every((v) => v === 0)),
    );
    // no faults in this run: a not-found answer (no plan.json yet) is counted, nothing is retried
    check('kafka_backup_storage_errors_total', () => {
      const names = seriesOf(s, 'kafka_backup_storage_errors_total');
      assert.ok(
        names.some((n) => n.includes('op="get"') && n.includes('class="not-found"')),
        names.join(' '),
      );
      assert.ok(names.every((n) => n.includes('class="not-found"')));
    });
    for (const f of ['kafka_backup_storage_retries_total', 'kafka_backup_errors_total'])
      check(f, () => assert.deepEqual(seriesOf(s, f), []));
    assertAllChecked(s, checked);
  });
});
