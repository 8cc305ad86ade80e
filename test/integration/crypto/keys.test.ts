/**
 * An encrypted line on local disk against the real broker: nothing readable is stored, every
 * command works with the key and fails with exit 5 (naming the key slots and where they were
 * looked for) without it, key rotation and removal, kill -9 in the middle of a rotation, AWS KMS
 * (moto) and passphrase slots, and a flipped byte in any stored object found by validate --deep.
 * Records are compared with what Kafka's own Java consumer reads.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { before, describe, test } from 'node:test';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { cli, jsonOut, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, uniqueTopic } from '../../helpers/kafka.ts';
import { dumpTopic, produceSpec } from '../../helpers/peers.ts';
import { S3_CREDENTIALS, S3_ENDPOINT } from '../../helpers/storage-servers.ts';

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name))
    .sort();
}

/** Stored objects holding any of the needles (record keys, values, header values). */
function holders(dir: string, needles: Buffer[]): string[] {
  return files(dir).filter((f) => {
    const b = readFileSync(f);
    return needles.some((n) => b.includes(n));
  });
}

const strip = (r: {
  partition: number;
  key: string | null;
  value: string | null;
  headers: unknown;
  timestamp: number;
}) => [r.partition, r.key, r.value, r.headers, r.timestamp];

describe('encrypted line: keys, errors, rotation, tampering', { timeout: 900_000 }, () => {
  let topic: string;
  let dir: string;
  let backups: string;
  const keyFile = (name: string) => {
    const f = join(dir, `${name}.key`);
    writeFileSync(f, `${randomBytes(32).toString('hex')}\n`);
    return f;
  };
  let keyA: string;
  let keyB: string;
  let keyC: string;
  const needles: Buffer[] = [];
  const records = (from: number, n: number) =>
    Array.from({ length: n }, (_, j) => {
      const i = from + j;
      return {
        partition: i % 2,
        key: `cust-key-${i}-x`,
        value: `card-number-${i}-secret`,
        headers: [['h', `hdr-value-${i}`]] as [string, string][],
      };
    });
  const config = (name: string, key: string | null, extra: Record<string, unknown> = {}) =>
    writeConfig(dir, name, {
      backup_id: 'enc',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage: { backend: 'filesystem', path: backups },
      backup: {
        compression: 'none',
        ...(key ? { encryption: { enabled: true, provider: 'raw', key_file: key } } : {}),
      },
      ...extra,
    });
  const withKey = (f: string) => ({ KB_ENCRYPTION_KEY_FILE: f });
  const validate = (env: NodeJS.ProcessEnv, path = backups) =>
    cli(['validate', '--path', path, '--backup-id', 'enc', '--deep', '--format', 'json'], env);

  before(async () => {
    dir = tempDir('crypto-keys');
    backups = join(dir, 'backups');
    keyA = keyFile('a');
    keyB = keyFile('b');
    keyC = keyFile('c');
    topic = await createTopic(uniqueTopic('crypto'), { partitions: 2 });
    const first = records(0, 300);
    await produceSpec(topic, first);
    for (const r of first) needles.push(Buffer.from(r.key), Buffer.from(r.value), Buffer.from(r.headers[0]![1]));
  });

  test('the grep finds record bytes in an unencrypted line (the control)', async () => {
    const plainDir = join(dir, 'plain');
    const cfg = writeConfig(dir, 'plain.yaml', {
      backup_id: 'plain',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: plainDir },
      backup: { compression: 'none' },
    });
    const b = await cli(['backup', '-c', cfg]);
    assert.equal(b.code, 0, b.stderr);
    assert.ok(holders(plainDir, needles).length > 0);
  });

  test('encrypted backup: no stored object holds a record key, value or header value', async () => {
    const b = await cli(['backup', '-c', config('a.yaml', keyA), '--format', 'json']);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(jsonOut<{ records: number }>(b).records, 300);
    assert.deepEqual(holders(backups, needles), []);
    // topic configs are sealed too: the topic name is in clear (key names), its configs are not
    assert.deepEqual(holders(backups, [Buffer.from('retention.ms')]), []);
    const v = await validate(withKey(keyA));
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  test('without the key, or with another, every command exits 5 naming the slots, and writes nothing', async () => {
    const before = files(backups).map((f) => [f, readFileSync(f).length]);
    const other = keyFile('other');
    const commands = [
      ['list', '--path', backups],
      ['describe', '--path', backups, '--backup-id', 'enc'],
      ['validate', '--path', backups, '--backup-id', 'enc', '--deep'],
      ['status', '--path', backups, '--backup-id', 'enc'],
      ['forget', '--path', backups, '--backup-id', 'enc', '--keep-last', '1'],
      ['prune', '--path', backups, '--backup-id', 'enc'],
    ];
    for (const args of commands) {
      const missing = await cli(args);
      assert.equal(missing.code, 5, `${args[0]} without a key: ${missing.stdout}${missing.stderr}`);
      assert.match(
        missing.stderr,
        /backup line enc is encrypted; its key slots in .*enc\/keys\/: raw-1 \(raw\); no key was given/,
      );
      const wrong = await cli(args, withKey(other));
      assert.equal(wrong.code, 5, `${args[0]} with another key: ${wrong.stderr}`);
      assert.match(wrong.stderr, /raw-1 \(raw\); the raw key from file .*other\.key .*opens none of them/);
      assert.doesNotMatch(wrong.stderr, new RegExp(readFileSync(other, 'utf8').trim()));
    }
    for (const cfg of [config('none.yaml', null), config('other.yaml', other)]) {
      const b = await cli(['backup', '-c', cfg]);
      assert.equal(b.code, 5, b.stderr);
      const r = await cli(['restore', '-c', cfg, '--dry-run']);
      assert.equal(r.code, 5, r.stderr);
    }
    assert.deepEqual(
      files(backups).map((f) => [f, readFileSync(f).length]),
      before,
      'nothing written',
    );
  });

  test('an incremental run, list, describe, status on the encrypted line', async () => {
    await produceSpec(topic, records(300, 100));
    for (const r of records(300, 100)) needles.push(Buffer.from(r.key), Buffer.from(r.value));
    const b = await cli(['backup', '-c', config('a.yaml', keyA), '--format', 'json']);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(jsonOut<{ records: number }>(b).records, 100);
    for (const args of [
      ['list', '--path', backups, '--format', 'json'],
      ['describe', '--path', backups, '--backup-id', 'enc', '--format', 'json'],
      ['status', '--path', backups, '--backup-id', 'enc', '--format', 'json'],
    ]) {
      const r = await cli(args, withKey(keyA));
      assert.equal(r.code, 0, `${args[0]}: ${r.stderr}`);
    }
    const d = jsonOut<{ topics: { records: number }[] }>(
      await cli(['describe', '--path', backups, '--backup-id', 'enc', '--format', 'json'], withKey(keyA)),
    );
    assert.equal(d.topics[0]!.records, 400);
    assert.deepEqual(holders(backups, needles), []);
  });

  test('rotate: a new master key and slot; the old key is refused as removed; new data uses the new master key', async () => {
    const dry = await cli(
      ['key', 'rotate', '--path', backups, '--backup-id', 'enc', '--new-key-file', keyB, '--id', 'b', '--dry-run'],
      withKey(keyA),
    );
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /would rotate[\s\S]*write key slot b[\s\S]*remove key slot raw-1/);
    assert.ok(
      files(backups).every((f) => !f.endsWith('keys/b.json')),
      'dry run wrote nothing',
    );
    const r = await cli(
      [
        'key',
        'rotate',
        '--path',
        backups,
        '--backup-id',
        'enc',
        '--new-key-file',
        keyB,
        '--id',
        'b',
        '--format',
        'json',
      ],
      withKey(keyA),
    );
    assert.equal(r.code, 0, r.stderr);
    const newMaster = jsonOut<{ steps: { op: string; master_key?: string }[] }>(r).steps.find(
      (s) => s.op === 'add-master-key',
    )!.master_key!;

    const old = await validate(withKey(keyA));
    assert.equal(old.code, 5, old.stderr);
    assert.match(
      old.stderr,
      /was key slot raw-1 of backup line enc, removed at .*Remaining key slots in .*: b \(raw\)/,
    );
    const ok = await validate(withKey(keyB));
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);

    const list = jsonOut<{
      slots: { id: string; stale: boolean }[];
      removed: { id: string }[];
      active_master_key: string;
    }>(await cli(['key', 'list', '--path', backups, '--backup-id', 'enc', '--format', 'json']));
    assert.deepEqual(
      list.slots.map((s) => [s.id, s.stale]),
      [['b', false]],
    );
    assert.deepEqual(
      list.removed.map((s) => s.id),
      ['raw-1'],
    );
    assert.equal(list.active_master_key, newMaster);

    await produceSpec(topic, records(400, 50));
    const b = await cli(['backup', '-c', config('b.yaml', keyB), '--format', 'json']);
    assert.equal(b.code, 0, b.stderr);
    const fresh = files(backups)
      .filter((f) => f.endsWith('.kbs'))
      .map((f) => readFileSync(f).subarray(0, 2000).toString('latin1'));
    assert.ok(
      fresh.some((h) => h.includes(newMaster)),
      'a data file written after the rotation names the new master key',
    );
    assert.ok(
      fresh.some((h) => !h.includes(newMaster)),
      'older files keep the old one',
    );
  });

  test('restore with the new key reproduces every record as Kafka’s consumer reads it', async () => {
    const target = `${topic}-restored`;
    const cfg = config('restore.yaml', keyB, { restore: { topic_mapping: { [topic]: target } } });
    const r = await cli(['restore', '-c', cfg, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const src = await dumpTopic(topic);
    const dst = await dumpTopic(target);
    assert.equal(src.length, 450);
    assert.deepEqual(dst.map(strip), src.map(strip));
  });

  test('kill -9 after the new slot is written: old and new key both read the line; rotating again completes', async () => {
    const run = startCli(
      ['key', 'rotate', '--path', backups, '--backup-id', 'enc', '--new-key-file', keyC, '--id', 'c'],
      { ...withKey(keyB), KB_TEST_KEY_STALL: 'slot-written' },
    );
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('rotate did not reach its stall point')), 120_000);
      run.child.stderr!.on('data', (d) => {
        if (String(d).includes('key: stalled at slot-written')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    run.child.kill('SIGKILL');
    assert.equal((await run.done).signal, 'SIGKILL');
    for (const k of [keyB, keyC]) {
      const v = await validate(withKey(k));
      assert.equal(v.code, 0, `${k}: ${v.stdout}${v.stderr}`);
    }
    const list = jsonOut<{ slots: { id: string; stale: boolean }[] }>(
      await cli(['key', 'list', '--path', backups, '--backup-id', 'enc', '--format', 'json']),
    );
    assert.deepEqual(list.slots.map((s) => [s.id, s.stale]).sort(), [
      ['b', true],
      ['c', false],
    ]);
    const again = await cli(
      ['key', 'rotate', '--path', backups, '--backup-id', 'enc', '--new-key-file', keyC, '--id', 'c'],
      withKey(keyB),
    );
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /keep \(already written\) key slot c[\s\S]*remove key slot b/);
    assert.equal((await validate(withKey(keyB))).code, 5);
    assert.equal((await validate(withKey(keyC))).code, 0);
  });

  test('AWS KMS (moto) and passphrase slots unlock the line; the last current slot cannot be removed', async () => {
    const kms = new KMSClient({
      region: 'us-east-1',
      endpoint: S3_ENDPOINT,
      credentials: { accessKeyId: S3_CREDENTIALS.access_key_id, secretAccessKey: S3_CREDENTIALS.secret_access_key },
    });
    const arn = (await kms.send(new CreateKeyCommand({ Description: 'kafka-backup test' }))).KeyMetadata!.Arn!;
    kms.destroy();
    const aws = {
      AWS_ACCESS_KEY_ID: S3_CREDENTIALS.access_key_id,
      AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secret_access_key,
      AWS_REGION: 'us-east-1',
    };
    const add = await cli(
      [
        'key',
        'add',
        '--path',
        backups,
        '--backup-id',
        'enc',
        '--new-kms-key-id',
        arn,
        '--new-kms-endpoint',
        S3_ENDPOINT,
        '--id',
        'kms',
      ],
      { ...withKey(keyC), ...aws },
    );
    assert.equal(add.code, 0, add.stderr);
    const viaKms = await validate({ ...aws, KB_ENCRYPTION_KMS_KEY_ID: arn, KB_ENCRYPTION_KMS_ENDPOINT: S3_ENDPOINT });
    assert.equal(viaKms.code, 0, viaKms.stdout + viaKms.stderr);

    const addPass = await cli(
      [
        'key',
        'add',
        '--path',
        backups,
        '--backup-id',
        'enc',
        '--new-passphrase-env',
        'NEW_PASS',
        '--scrypt-log-n',
        '14',
        '--id',
        'pass',
      ],
      { ...withKey(keyC), NEW_PASS: 'correct horse battery staple' },
    );
    assert.equal(addPass.code, 0, addPass.stderr);
    assert.equal((await validate({ KB_ENCRYPTION_PASSPHRASE: 'correct horse battery staple' })).code, 0);
    const badPass = await validate({ KB_ENCRYPTION_PASSPHRASE: 'wrong horse' });
    assert.equal(badPass.code, 5);
    assert.match(
      badPass.stderr,
      /c \(raw\), kms \(aws-kms arn:aws:kms:[^)]+\), pass \(passphrase\); the passphrase from environment variable KB_ENCRYPTION_PASSPHRASE opens none of them/,
    );
    assert.doesNotMatch(badPass.stderr, /wrong horse/);

    for (const id of ['kms', 'pass']) {
      const rm = await cli(['key', 'remove', '--path', backups, '--backup-id', 'enc', '--id', id], withKey(keyC));
      assert.equal(rm.code, 0, rm.stderr);
    }
    const last = await cli(['key', 'remove', '--path', backups, '--backup-id', 'enc', '--id', 'c'], withKey(keyC));
    assert.equal(last.code, 2, last.stderr);
    assert.match(last.stderr, /without a current key slot/);
  });

  test('forget and prune run on the encrypted line', async () => {
    const f = await cli(
      ['forget', '--path', backups, '--backup-id', 'enc', '--keep-last', '1', '--format', 'json'],
      withKey(keyC),
    );
    assert.equal(f.code, 0, f.stderr);
    const p = await cli(
      ['prune', '--path', backups, '--backup-id', 'enc', '--grace', '1s', '--format', 'json'],
      withKey(keyC),
    );
    assert.equal(p.code, 0, p.stderr);
    const v = await validate(withKey(keyC));
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.deepEqual(holders(backups, needles), []);
  });

  test('a flipped byte in any stored object makes validate --deep exit 3 naming it', async () => {
    // a second slot, so that the line still opens when the first one is the damaged object
    const keyD = keyFile('d');
    const add = await cli(
      ['key', 'add', '--path', backups, '--backup-id', 'enc', '--new-key-file', keyD, '--id', 'd'],
      withKey(keyC),
    );
    assert.equal(add.code, 0, add.stderr);
    const objects = files(join(backups, 'enc')).filter((f) => !f.endsWith('lease.json'));
    assert.ok(objects.length > 15, `${objects.length} objects`);
    for (const f of objects) {
      const key = relative(backups, f);
      const copy = join(dir, `tamper-${objects.indexOf(f)}`);
      cpSync(backups, copy, { recursive: true });
      const target = join(copy, key);
      const bytes = readFileSync(target);
      bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
      writeFileSync(target, bytes);
      const v = await validate(withKey(key.endsWith('keys/c.json') ? keyD : keyC), copy);
      assert.equal(v.code, 3, `${key}: ${v.stdout}${v.stderr}`);
      assert.ok(v.stdout.includes(key) || v.stderr.includes(key), `${key} is named: ${v.stdout}${v.stderr}`);
    }
  });
});
