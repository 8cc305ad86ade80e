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
import { cliBackends } from '../../helpers/cli-backends.ts';
import { type Corpus, corpusTopics, sharedCorpus } from '../../helpers/corpus.ts';
import { KAFKA_BOOTSTRAP } from '../../helpers/kafka.ts';
import { type DumpedRecord, dumpTopic } from '../../helpers/peers.ts';

const strip = (r: DumpedRecord) => [r.partition, r.key, r.value, r.headers, r.timestamp];

const backends = cliBackends('kb-enc', 'kafka/prod');

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
