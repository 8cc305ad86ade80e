import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../src/config/load.ts';
import { ConfigSchema, parseStorageUrl, parseTime } from '../../../src/config/schema.ts';
import { FULL, MINIMAL, withMinimal } from './fixtures.ts';

test('minimal config gets every default', () => {
  const c = parseConfig(MINIMAL, 'min.yaml', {});
  assert.equal(c.backup_id, 'orders');
  assert.equal(c.snapshot, 'latest');
  assert.equal(c.max_memory_bytes, 256 * 1024 * 1024);
  assert.deepEqual(c.source, {
    bootstrap_servers: ['127.0.0.1:9092'],
    client_id: 'kafka-backup',
    request_timeout_ms: 30000,
    connect_timeout_ms: 10000,
    topics: { include: ['*'], exclude: [], include_internal: false },
  });
  assert.equal(c.target, undefined);
  assert.equal(c.storage?.backend, 'filesystem');
  assert.equal(c.storage?.path, '/var/backups/kafka');
  assert.equal(c.storage?.buffer_size, 5242880);
  assert.equal(c.storage?.max_concurrent_requests, 8);
  assert.deepEqual(c.storage?.retry, { max_retries: 8, initial_delay_ms: 200, max_delay_ms: 30000 });
  assert.deepEqual(c.backup, {
    mode: 'snapshot',
    start: 'earliest',
    compression: 'zstd',
    encryption: { enabled: false, provider: 'raw', scrypt_log_n: 17 },
    file_checksum: 'crc32c',
    batch_size: 10000,
    max_batch_bytes: 1048576,
    fetch_max_bytes: 16777216,
    max_concurrent_partitions: 16,
    max_bytes_per_sec: 0,
    allow_empty: false,
    segment_max_bytes: 134217728,
    segment_max_interval_secs: 300,
    checkpoint_interval_secs: 5,
    poll_interval_ms: 1000,
    allow_source_change: false,
    capture_offsets: true,
    give_up_after_secs: 0,
    circuit_breaker: { failure_threshold: 5, reset_timeout_secs: 30, half_open_requests: 1 },
    tags: [],
    retention: { apply: 'end', interval_secs: 3600 },
  });
  assert.equal(c.restore.compression, 'source');
  assert.equal(c.restore.create_topics, true);
  assert.equal(c.restore.max_concurrent_partitions, 8);
  assert.deepEqual(c.restore.topics, { include: ['*'], exclude: [] });
  assert.deepEqual(c.restore.topic_mapping, {});
  assert.deepEqual(c.restore.consumer_groups, []);
  assert.equal(c.restore.point_in_time, undefined);
  assert.deepEqual(c.offsets, { groups: [], strategy: 'exact', max_concurrent_groups: 16 });
  assert.deepEqual(c.metrics, {
    enabled: false,
    port: 9464,
    bind_address: '127.0.0.1',
    max_topic_labels: 100,
    linger_secs: 0,
  });
  assert.deepEqual(c.logging, { level: 'info', format: 'auto' });
});

test('an empty mapping is valid: every section is optional at schema level', () => {
  const c = ConfigSchema.parse({});
  assert.equal(c.source, undefined);
  assert.equal(c.storage, undefined);
  assert.equal(c.backup.batch_size, 10000);
});

test('full config keeps every value and normalises urls and times', () => {
  const c = parseConfig(FULL, 'full.yaml', {});
  assert.equal(c.backup_id, 'orders-prod.v1');
  assert.equal(c.max_memory_bytes, 536870912);
  assert.deepEqual(c.source?.bootstrap_servers, ['kafka-1:9092', 'kafka-2:9092']);
  assert.equal(c.source?.client_rack, 'eu-west-1a');
  assert.equal(c.source?.security?.sasl?.mechanism, 'SCRAM-SHA-512');
  assert.equal(c.source?.security?.tls?.verify_hostname, false);
  assert.deepEqual(c.source?.topics.include, ['orders.*', '~^payments-[0-9]+$']);
  assert.equal(c.target?.security?.protocol, 'SSL');
  assert.equal(c.target?.security?.tls?.verify_hostname, true);
  assert.equal(c.storage?.backend, 's3');
  assert.equal(c.storage?.bucket, 'my-bucket');
  assert.equal(c.storage?.prefix, 'kafka/prod');
  assert.equal(c.storage?.path_style, true);
  assert.equal(c.storage?.buffer_size, 16777216);
  assert.equal(c.backup.mode, 'continuous');
  assert.equal(c.backup.start, Date.UTC(2024, 4, 1));
  assert.equal(c.backup.compression_level, 3);
  assert.equal(c.restore.time_window_start, Date.UTC(2024, 4, 1));
  assert.equal(c.restore.time_window_end, 1714608000000);
  assert.deepEqual(c.restore.offset_window, { orders: { '0': { start: 10, end: 20 } } });
  assert.deepEqual(c.restore.partition_mapping, { orders: { '0': 3 } });
  assert.deepEqual(c.restore.topic_configs, {
    'orders-restored': { 'retention.ms': '86400000', 'cleanup.policy': 'delete' },
  });
  assert.equal(c.restore.state_url, 'file:///var/lib/kafka-backup/state');
  assert.equal(c.offsets.strategy, 'header');
  assert.deepEqual(c.metrics, {
    enabled: true,
    port: 9500,
    bind_address: '0.0.0.0',
    max_topic_labels: 50,
    linger_secs: 5,
  });
  assert.deepEqual(c.logging, { level: 'debug', format: 'json' });
});

test('bootstrap_servers also accepts a comma-separated string', () => {
  const c = parseConfig(MINIMAL.replace('["127.0.0.1:9092"]', '"a:9092, b:9093"'), 'x.yaml', {});
  assert.deepEqual(c.source?.bootstrap_servers, ['a:9092', 'b:9093']);
});

test('storage urls', () => {
  assert.deepEqual(parseStorageUrl('s3://b/p/q'), { backend: 's3', bucket: 'b', prefix: 'p/q' });
  assert.deepEqual(parseStorageUrl('gs://b'), { backend: 'gcs', bucket: 'b' });
  assert.deepEqual(parseStorageUrl('azure://acct/cont/x/y'), {
    backend: 'azure',
    account: 'acct',
    container: 'cont',
    prefix: 'x/y',
  });
  assert.deepEqual(parseStorageUrl('file:///var/b'), { backend: 'filesystem', path: '/var/b' });
  assert.deepEqual(parseStorageUrl('./rel/dir'), { backend: 'filesystem', path: './rel/dir' });
  assert.equal(parseStorageUrl('http://example.com/x'), undefined);
  assert.equal(parseStorageUrl('azure://acct'), undefined);
  assert.equal(parseStorageUrl('s3://key:secret@bucket/p'), undefined);

  const azure = parseConfig(
    MINIMAL.replace('path: /var/backups/kafka', 'url: azure://acct/backups/kafka\n  sas_token: "sv=1"'),
    'x.yaml',
    {},
  );
  assert.equal(azure.storage?.backend, 'azure');
  assert.equal(azure.storage?.account, 'acct');
  assert.equal(azure.storage?.container, 'backups');
  assert.equal(azure.storage?.prefix, 'kafka');
});

test('times: ISO-8601 with zone, bare dates as UTC, epoch ms; no zone is refused', () => {
  assert.equal(parseTime('2024-05-01T12:00:00Z'), Date.UTC(2024, 4, 1, 12));
  assert.equal(parseTime('2024-05-01T12:00:00+02:00'), Date.UTC(2024, 4, 1, 10));
  assert.equal(parseTime('2024-05-01'), Date.UTC(2024, 4, 1));
  assert.equal(parseTime(1714608000000), 1714608000000);
  assert.equal(parseTime('1714608000000'), 1714608000000);
  assert.equal(parseTime('2024-05-01T12:00:00'), undefined);
  assert.equal(parseTime('yesterday'), undefined);
  assert.equal(parseTime(-1), undefined);
  const c = parseConfig(withMinimal('restore:\n  point_in_time: "2024-05-01T00:00:00.500Z"\n'), 'x.yaml', {});
  assert.equal(c.restore.point_in_time, Date.UTC(2024, 4, 1) + 500);
});

test('YAML merge keys let target reuse source settings', () => {
  const text = `backup_id: a
source: &src
  bootstrap_servers: ["a:1"]
  client_id: shared
target:
  <<: *src
storage: { path: /x }
`;
  const c = parseConfig(text, 'x.yaml', {});
  assert.equal(c.target?.client_id, 'shared');
});
