/** A resource renders into the CLI's config with Secret references only; the CLI's parser checks it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KafkaBackupSpec, KafkaRestoreSpec } from '../../../src/operator/api.ts';
import { jobOf } from '../../../src/operator/jobs.ts';
import { renderBackup, renderRestore } from '../../../src/operator/render.ts';
import { strimziConnection } from '../../../src/operator/strimzi.ts';
import { configProblems } from '../../../src/operator/validate.ts';

const storage = {
  url: 's3://bucket/prefix',
  endpoint: 'http://127.0.0.1:19000',
  pathStyle: true,
  region: 'us-east-1',
  accessKeyIdSecret: { name: 's3', key: 'id' },
  secretAccessKeySecret: { name: 's3', key: 'secret' },
};
const kafka = {
  bootstrapServers: ['kafka:9093'],
  clientId: 'kb',
  security: {
    protocol: 'SASL_SSL',
    sasl: { mechanism: 'SCRAM-SHA-512', username: 'backup', passwordSecret: { name: 'user', key: 'password' } },
    tls: { caSecret: { name: 'ca', key: 'ca.crt' } },
  },
};

test('a KafkaBackup renders to a valid config whose secrets are env and file references', () => {
  const spec: KafkaBackupSpec = {
    kafka,
    storage,
    topics: { include: ['orders-*'], exclude: ['~^tmp'] },
    backup: { compression: 'zstd', compressionLevel: 5, batchSize: 500, circuitBreaker: { failureThreshold: 3 } },
    retention: { maxAge: '30d' },
  };
  const r = renderBackup(spec, { backupId: 'orders', kafka, storage });
  assert.deepEqual(configProblems(r), []);
  const c = r.config as Record<string, Record<string, unknown>>;
  assert.equal(c['backup_id'], 'orders');
  assert.deepEqual(c['source']!['topics'], { include: ['orders-*'], exclude: ['~^tmp'] });
  assert.equal(c['backup']!['compression_level'], 5);
  assert.deepEqual(c['backup']!['circuit_breaker'], { failure_threshold: 3 });
  assert.deepEqual(c['backup']!['retention'], { max_age: '30d', apply: 'end' });
  assert.equal(c['storage']!['secret_access_key'], '${KB_SECRET_3}');
  const security = c['source']!['security'] as Record<string, Record<string, unknown>>;
  assert.equal(security['sasl']!['password'], '${KB_SECRET_1}');
  assert.equal(security['tls']!['ca_file'], '/var/run/kafka-backup/secrets/ca/ca.crt');
  const job = JSON.stringify(
    jobOf({
      kind: 'KafkaBackup',
      owner: { name: 'b', namespace: 'ns', uid: 'u' },
      jobName: 'b-1',
      args: ['backup'],
      rendered: r,
      settings: {},
      image: 'img',
    }),
  );
  assert.match(job, /"secretKeyRef":\{"name":"s3","key":"secret"\}/);
  assert.match(job, /"secretName":"ca"/);
});

test('cross-field rules of the CLI schema are reported with the spec field names', () => {
  const r = renderBackup(
    { kafka, storage, backup: { compression: 'gzip', compressionLevel: 15 } },
    { backupId: 'x', kafka, storage },
  );
  const problems = configProblems(r);
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /^backup\.compression_level: must be between 1 and 9 for gzip, found 15/);
});

test('topic mapping keys (topic names) are not renamed, restore options are', () => {
  const spec: KafkaRestoreSpec = {
    restore: {
      topicMapping: { orders_v1: 'orders_copy' },
      consumerGroups: ['billing'],
      dryRun: true,
      pointInTime: '2026-01-01T00:00:00Z',
    },
  };
  const r = renderRestore(spec, {
    backupId: 'orders',
    kafka: { bootstrapServers: ['k:9092'] },
    storage: { url: 'file:///data' },
  });
  assert.deepEqual(configProblems(r), []);
  const restore = r.config['restore'] as Record<string, unknown>;
  assert.deepEqual(restore['topic_mapping'], { orders_v1: 'orders_copy' });
  assert.equal(restore['dry_run'], true);
  assert.deepEqual(restore['consumer_groups'], ['billing']);
});

test('Strimzi: listener bootstrap, cluster CA and a SCRAM or TLS KafkaUser', () => {
  const cluster = {
    metadata: { name: 'prod' },
    spec: {
      kafka: {
        listeners: [
          { name: 'tls', tls: true },
          { name: 'plain', tls: false },
        ],
      },
    },
    status: {
      listeners: [
        { name: 'tls', bootstrapServers: 'prod-kafka-bootstrap.kafka.svc:9093' },
        { name: 'plain', bootstrapServers: 'a:9092,b:9092' },
      ],
    },
  };
  const scram = strimziConnection({ name: 'prod', listener: 'tls', kafkaUser: 'backup' }, cluster, {
    metadata: { name: 'backup' },
    spec: { authentication: { type: 'scram-sha-512' } },
  });
  assert.deepEqual(scram, {
    bootstrapServers: ['prod-kafka-bootstrap.kafka.svc:9093'],
    security: {
      protocol: 'SASL_SSL',
      tls: { caSecret: { name: 'prod-cluster-ca-cert', key: 'ca.crt' } },
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'backup', passwordSecret: { name: 'backup', key: 'password' } },
    },
  });
  const mtls = strimziConnection({ name: 'prod', listener: 'tls', kafkaUser: 'u' }, cluster, {
    metadata: { name: 'u' },
    spec: { authentication: { type: 'tls' } },
  });
  assert.deepEqual((mtls['security'] as { tls: unknown }).tls, {
    caSecret: { name: 'prod-cluster-ca-cert', key: 'ca.crt' },
    certSecret: { name: 'u', key: 'user.crt' },
    keySecret: { name: 'u', key: 'user.key' },
  });
  assert.deepEqual(strimziConnection({ name: 'prod', listener: 'plain' }, cluster, undefined), {
    bootstrapServers: ['a:9092', 'b:9092'],
    security: { protocol: 'PLAINTEXT' },
  });
  assert.throws(() => strimziConnection({ name: 'prod', listener: 'nope' }, cluster, undefined), /no listener "nope"/);
});

test('schema registry credentials render as Secret references, on backup and restore', () => {
  const backup = renderBackup(
    {
      kafka,
      storage,
      backup: {
        schemaRegistry: {
          url: 'https://sr:8081',
          username: 'sr-user',
          passwordSecret: { name: 'sr', key: 'password' },
          tls: { caSecret: { name: 'sr-ca', key: 'ca.crt' } },
        },
      },
    } as KafkaBackupSpec,
    { backupId: 'orders', kafka, storage },
  );
  assert.deepEqual(configProblems(backup), []);
  const sr = (backup.config as Record<string, Record<string, Record<string, unknown>>>)['backup']!['schema_registry']!;
  assert.equal(sr['username'], 'sr-user');
  assert.match(String(sr['password']), /^\$\{KB_SECRET_\d+\}$/);
  assert.deepEqual(sr['tls'], { ca_file: '/var/run/kafka-backup/secrets/sr-ca/ca.crt' });
  assert.ok(backup.secrets.env.some((e) => e.valueFrom.secretKeyRef.name === 'sr'));

  const restore = renderRestore(
    {
      backupRef: { name: 'orders' },
      restore: {
        schemaRegistry: { url: 'https://sr2:8081', tokenSecret: { name: 'sr2', key: 'token' }, strategy: 'remap_ids' },
      },
    } as KafkaRestoreSpec,
    { backupId: 'orders', kafka, storage },
  );
  assert.deepEqual(configProblems(restore), []);
  const rsr = (restore.config as Record<string, Record<string, Record<string, unknown>>>)['restore']![
    'schema_registry'
  ]!;
  assert.match(String(rsr['token']), /^\$\{KB_SECRET_\d+\}$/);
  assert.equal(rsr['strategy'], 'remap_ids');
});
