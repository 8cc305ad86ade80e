/**
 * The end-to-end matrix: backup -> validate --deep -> restore -> offsets plan on each storage
 * backend against its real server (local disk, moto S3, Azurite, fake-gcs-server), by one shared
 * suite. The inspection and offsets commands get nothing but a storage URL and the environment.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { cli, jsonOut, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, uniqueTopic } from '../../helpers/kafka.ts';
import { consumeAsGroup, dumpTopic, groupOffsets, produceSpec } from '../../helpers/peers.ts';
import {
  AZURE_ENDPOINT,
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  createAzureContainer,
  createGcsBucket,
  createS3Bucket,
  GCS_ENDPOINT,
  S3_CREDENTIALS,
  S3_ENDPOINT,
} from '../../helpers/storage-servers.ts';

interface Backend {
  name: string;
  /** storage section of the YAML config */
  storage: () => Promise<Record<string, unknown>>;
  /** URL for --path, and the environment that goes with it */
  url: (storage: Record<string, unknown>) => string;
  env: NodeJS.ProcessEnv;
}

const backends: Backend[] = [
  {
    name: 'filesystem',
    storage: async () => ({ backend: 'filesystem', path: join(tempDir('matrix-fs'), 'backups') }),
    url: (s) => `file://${s['path']}`,
    env: {},
  },
  {
    name: 's3',
    storage: async () => ({
      url: `s3://${await createS3Bucket('kb-matrix')}/kafka/prod`,
      endpoint: S3_ENDPOINT,
      region: 'us-east-1',
      access_key_id: '${MATRIX_S3_KEY}',
      secret_access_key: '${MATRIX_S3_SECRET}',
      request_checksum_calculation: 'when_required',
      buffer_size: 5 * 1024 * 1024,
    }),
    url: (s) => String(s['url']),
    env: {
      MATRIX_S3_KEY: S3_CREDENTIALS.access_key_id,
      MATRIX_S3_SECRET: S3_CREDENTIALS.secret_access_key,
      AWS_ACCESS_KEY_ID: S3_CREDENTIALS.access_key_id,
      AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secret_access_key,
      AWS_ENDPOINT_URL_S3: S3_ENDPOINT,
      AWS_REGION: 'us-east-1',
    },
  },
  {
    name: 'azure',
    storage: async () => ({
      url: `azure://${AZURITE_ACCOUNT}/${await createAzureContainer('kb-matrix')}/kafka/prod`,
      endpoint: AZURE_ENDPOINT,
      account_key: '${MATRIX_AZURE_KEY}',
    }),
    url: (s) => String(s['url']),
    env: {
      MATRIX_AZURE_KEY: AZURITE_KEY,
      AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${AZURE_ENDPOINT};`,
    },
  },
  {
    name: 'gcs',
    storage: async () => ({ url: `gs://${await createGcsBucket('kb-matrix')}/kafka/prod`, endpoint: GCS_ENDPOINT }),
    url: (s) => String(s['url']),
    env: { STORAGE_EMULATOR_HOST: GCS_ENDPOINT },
  },
];

describe('storage matrix: backup, validate, restore, offsets plan', { timeout: 600_000 }, () => {
  let topic: string;
  const group = `matrix-group-${Date.now().toString(36)}`;

  before(async () => {
    topic = await createTopic(uniqueTopic('matrix'), { partitions: 3 });
    await produceSpec(
      topic,
      Array.from({ length: 300 }, (_, i) => ({
        partition: i % 3,
        key: `k${i}`,
        value: `v${i}`,
        headers: [['h', i % 2 ? null : 'x']],
      })),
    );
    // a consumer group (Kafka's Java consumer) reads 100 records and commits
    await consumeAsGroup(group, topic, 100);
  });

  for (const b of backends) {
    test(`${b.name}`, async () => {
      const dir = tempDir(`matrix-${b.name}`);
      const storage = await b.storage();
      const target = `${topic}-${b.name}`;
      const backupCfg = writeConfig(dir, 'backup.yaml', {
        backup_id: 'matrix',
        source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
        storage,
      });
      const bk = await cli(['backup', '-c', backupCfg, '--format', 'json'], b.env);
      assert.equal(bk.code, 0, bk.stderr);
      assert.equal(jsonOut<{ records: number }>(bk).records, 300);

      const url = b.url(storage);
      const v = await cli(['validate', '--path', url, '--backup-id', 'matrix', '--deep'], b.env);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      const l = await cli(['list', '--path', url, '--format', 'json'], b.env);
      assert.equal(l.code, 0, l.stderr);

      const restoreCfg = writeConfig(dir, 'restore.yaml', {
        backup_id: 'matrix',
        target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
        storage,
        restore: { topic_mapping: { [topic]: target } },
      });
      const rs = await cli(['restore', '-c', restoreCfg, '--format', 'json'], b.env);
      assert.equal(rs.code, 0, rs.stderr);
      const src = await dumpTopic(topic);
      const dst = await dumpTopic(target);
      assert.deepEqual(
        dst.map((r) => [r.partition, r.key, r.value, r.headers, r.timestamp]),
        src.map((r) => [r.partition, r.key, r.value, r.headers, r.timestamp]),
      );

      const plan = await cli(
        [
          'offsets',
          'plan',
          '--path',
          url,
          '--backup-id',
          'matrix',
          '--bootstrap',
          KAFKA_BOOTSTRAP,
          '--groups',
          group,
          '--format',
          'json',
        ],
        b.env,
      );
      assert.equal(plan.code, 0, plan.stdout + plan.stderr);
      const committed = await groupOffsets(group);
      const planned = JSON.stringify(jsonOut(plan));
      for (const c of committed.filter((x) => x.topic === topic))
        assert.ok(planned.includes(target), `plan names ${target} for ${c.partition}`);
    });
  }
});
