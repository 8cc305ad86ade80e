/**
 * The encrypted line generated once by encryption version 1 (test/fixtures/encrypted-line, never
 * regenerated) stays readable: its stored bytes are unchanged, validate --deep passes with each of
 * its keys, the removed key is refused as removed, and a restore reproduces the records Kafka's
 * Java consumer read when the fixture was made.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { KAFKA_BOOTSTRAP, REPO_ROOT, uniqueTopic } from '../../helpers/kafka.ts';
import { dumpTopic } from '../../helpers/peers.ts';

const HERE = join(REPO_ROOT, 'test/fixtures/encrypted-line');
const KEY_1 = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
const KEY_2 = 'f0e0d0c0b0a090807060504030201000ffeeddccbbaa99887766554433221100';
const PASSPHRASE = 'kafka-backup encrypted fixture';
const expected = JSON.parse(readFileSync(join(HERE, 'expected.json'), 'utf8')) as {
  topic: string;
  records: { partition: number; timestamp: number; key: string; value: string; headers: [string, string][] }[];
};

describe('encrypted fixture (encryption version 1)', { timeout: 600_000 }, () => {
  const dir = tempDir('encfx');
  const store = join(dir, 'store');
  cpSync(join(HERE, 'store'), store, { recursive: true });
  const validate = (env: NodeJS.ProcessEnv) =>
    cli(['validate', '--path', store, '--backup-id', 'encfx', '--deep'], env);

  test('the stored bytes are the ones generated', () => {
    for (const line of readFileSync(join(HERE, 'store.sha256'), 'utf8').trim().split('\n')) {
      const [digest, file] = line.split(/\s+/);
      assert.equal(
        createHash('sha256')
          .update(readFileSync(join(HERE, file!)))
          .digest('hex'),
        digest,
        file,
      );
    }
  });

  test('validate --deep passes with the current raw key and with the passphrase', async () => {
    const raw = await validate({ KB_ENCRYPTION_KEY: KEY_2 });
    assert.equal(raw.code, 0, raw.stdout + raw.stderr);
    const pass = await validate({ KB_ENCRYPTION_PASSPHRASE: PASSPHRASE });
    assert.equal(pass.code, 0, pass.stdout + pass.stderr);
  });

  test('the key of the removed slot is refused as removed', async () => {
    const old = await validate({ KB_ENCRYPTION_KEY: KEY_1 });
    assert.equal(old.code, 5, old.stderr);
    assert.match(old.stderr, /was key slot raw-1 of backup line encfx, removed at/);
  });

  test('restore reproduces every record', async () => {
    writeFileSync(join(dir, 'key'), KEY_2);
    const target = uniqueTopic('encfx-restored');
    const cfg = writeConfig(dir, 'restore.yaml', {
      backup_id: 'encfx',
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage: { backend: 'filesystem', path: store },
      backup: { encryption: { provider: 'raw', key_file: join(dir, 'key') } },
      restore: { topic_mapping: { [expected.topic]: target } },
    });
    const r = await cli(['restore', '-c', cfg]);
    assert.equal(r.code, 0, r.stderr);
    const dst = await dumpTopic(target);
    assert.equal(dst.length, 60);
    assert.deepEqual(
      dst.map((x) => [x.partition, x.timestamp, x.key, x.value, x.headers]),
      expected.records.map((x) => [x.partition, x.timestamp, x.key, x.value, x.headers]),
    );
  });
});
