/**
 * The hard-case corpus, backed up encrypted to each storage backend against its real server
 * (local disk, moto S3, Azurite, fake-gcs-server), validated deeply, and restored to new topics;
 * every record compared with what Kafka's own Java consumer reads from the source. Every stored
 * object is then read raw from the storage and searched for the records' keys, values and header
 * values (blocks stored uncompressed, so only the encryption can hide them).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { openStorageUrl } from '../../../src/storage/open.ts';
import { cli, jsonOut, tempDir, writeConfig } from '../../helpers/cli.ts';
import { type Corpus, corpusTopics, sharedCorpus } from '../../helpers/corpus.ts';
import { KAFKA_BOOTSTRAP } from '../../helpers/kafka.ts';
import { type DumpedRecord, dumpTopic } from '../../helpers/peers.ts';
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

const strip = (r: DumpedRecord) => [r.partition, r.key, r.value, r.headers, r.timestamp];

interface Backend {
  name: string;
  storage: () => Promise<Record<string, unknown>>;
  url: (storage: Record<string, unknown>) => string;
  env: NodeJS.ProcessEnv;
}

const backends: Backend[] = [
  {
    name: 'filesystem',
    storage: async () => ({ backend: 'filesystem', path: join(tempDir('enc-corpus-fs'), 'backups') }),
    url: (s) => `file://${s['path']}`,
    env: {},
  },
  {
    name: 's3',
    storage: async () => ({
      url: `s3://${await createS3Bucket('kb-enc')}/kafka/prod`,
      endpoint: S3_ENDPOINT,
      region: 'us-east-1',
      request_checksum_calculation: 'when_required',
    }),
    url: (s) => String(s['url']),
    env: {
      AWS_ACCESS_KEY_ID: S3_CREDENTIALS.access_key_id,
      AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secret_access_key,
      AWS_ENDPOINT_URL_S3: S3_ENDPOINT,
      AWS_REGION: 'us-east-1',
    },
  },
  {
    name: 'azure',
    storage: async () => ({
      url: `azure://${AZURITE_ACCOUNT}/${await createAzureContainer('kb-enc')}/kafka/prod`,
      endpoint: AZURE_ENDPOINT,
    }),
    url: (s) => String(s['url']),
    env: {
      AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${AZURE_ENDPOINT};`,
    },
  },
  {
    name: 'gcs',
    storage: async () => ({ url: `gs://${await createGcsBucket('kb-enc')}/kafka/prod`, endpoint: GCS_ENDPOINT }),
    url: (s) => String(s['url']),
    env: { STORAGE_EMULATOR_HOST: GCS_ENDPOINT },
  },
];

/** Distinctive byte strings of the records (32-byte prefixes of keys, values, header values of 12+ bytes). */
function needlesOf(records: DumpedRecord[]): Buffer[] {
  const out = new Map<string, Buffer>();
  for (const r of records)
    for (const b64 of [r.key, r.value, ...r.headers.map((h) => h[1])]) {
      if (!b64) continue;
      const b = Buffer.from(b64, 'base64').subarray(0, 32);
      if (b.length < 12 || new Set(b).size < 4) continue;
      out.set(b.toString('hex'), b);
    }
  return [...out.values()];
}

describe('encrypted corpus round trip on every storage backend', { timeout: 1_800_000 }, () => {
  let corpus: Corpus;
  let dumps: Map<string, DumpedRecord[]>;
  let needles: Buffer[];
  let keyFile: string;

  before(async () => {
    corpus = await sharedCorpus();
    dumps = new Map();
    for (const t of corpusTopics(corpus)) dumps.set(t.name, await dumpTopic(t.name));
    needles = [...dumps.values()].flatMap(needlesOf);
    keyFile = join(tempDir('enc-corpus-key'), 'line.key');
    writeFileSync(keyFile, randomBytes(32));
  });

  for (const b of backends) {
    test(b.name, async () => {
      assert.ok(needles.length > 100, `${needles.length} needles`);
      const dir = tempDir(`enc-corpus-${b.name}`);
      const storage = await b.storage();
      const names = corpusTopics(corpus).map((t) => t.name);
      const suffix = `-e${b.name}${Date.now().toString(36)}`;
      const encryption = { enabled: true, provider: 'raw', key_file: keyFile };
      const backupCfg = writeConfig(dir, 'backup.yaml', {
        backup_id: 'corpus',
        source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: names } },
        storage,
        backup: {
          compression: 'none',
          max_batch_bytes: 262_144,
          fetch_max_bytes: 4_194_304,
          max_concurrent_partitions: 8,
          encryption,
        },
      });
      const bk = await cli(['backup', '-c', backupCfg, '--format', 'json'], b.env);
      assert.equal(bk.code, 0, bk.stderr);
      assert.equal(jsonOut<{ state: string }>(bk).state, 'complete');

      const url = b.url(storage);
      const env = { ...b.env, KB_ENCRYPTION_KEY_FILE: keyFile };
      const v = await cli(['validate', '--path', url, '--backup-id', 'corpus', '--deep'], env);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      const locked = await cli(['validate', '--path', url, '--backup-id', 'corpus'], b.env);
      assert.equal(locked.code, 5, locked.stderr);

      const restoreCfg = writeConfig(dir, 'restore.yaml', {
        backup_id: 'corpus',
        target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
        storage,
        backup: { encryption: { provider: 'raw', key_file: keyFile } },
        restore: { topic_mapping: Object.fromEntries(names.map((n) => [n, `${n}${suffix}`])) },
      });
      const rs = await cli(['restore', '-c', restoreCfg, '--format', 'json'], b.env);
      assert.equal(rs.code, 0, rs.stderr);
      for (const t of corpusTopics(corpus)) {
        const dst = await dumpTopic(`${t.name}${suffix}`);
        assert.deepEqual(
          dst.map(strip),
          dumps.get(t.name)!.map(strip),
          `${t.kind}: records as Kafka's consumer reads them`,
        );
      }

      // every stored object, read raw (no decryption), holds none of the records' bytes
      Object.assign(process.env, b.env);
      const raw = await openStorageUrl(url, b.name === 'filesystem' ? {} : { endpoint: String(storage['endpoint']) });
      let objects = 0;
      const found: string[] = [];
      try {
        for await (const o of raw.list('corpus/')) {
          objects++;
          const bytes = await raw.get(o.key);
          if (needles.some((n) => bytes.includes(n))) found.push(o.key);
        }
      } finally {
        await raw.close();
      }
      assert.ok(objects > 20, `${objects} objects`);
      assert.deepEqual(found, []);
    });
  }
});
