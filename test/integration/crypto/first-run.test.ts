/**
 * The first run of an encrypted line: one that fails before it commits anything leaves no key
 * slot, so the next run may begin the line with another key; a line that has slots but no commit
 * (left by an older version, or a crash right before the first commit) is a clear error that says
 * how to proceed, not "the key opens none of the slots". Real broker, the CLI, local disk.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { cli, jsonOut, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, uniqueTopic } from '../../helpers/kafka.ts';
import { dumpTopic, produceSpec } from '../../helpers/peers.ts';

describe('the first run of an encrypted line', { timeout: 600_000 }, () => {
  let dir: string;
  let topic: string;
  const key = (name: string) => {
    const f = join(dir, `${name}.key`);
    writeFileSync(f, randomBytes(32));
    return f;
  };
  const config = (name: string, backups: string, keyFile: string, include: string) =>
    writeConfig(dir, name, {
      backup_id: 'enc',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [include] } },
      storage: { backend: 'filesystem', path: backups },
      backup: { encryption: { enabled: true, provider: 'raw', key_file: keyFile } },
    });

  before(async () => {
    dir = tempDir('crypto-first-run');
    topic = await createTopic(uniqueTopic('crypto-first'), { partitions: 1 });
    await produceSpec(
      topic,
      Array.from({ length: 20 }, (_, i) => ({ partition: 0, key: `k${i}`, value: `v${i}` })),
    );
  });

  test('a failed first run leaves no key slot; the next run begins the line with another key', async () => {
    const backups = join(dir, 'failed-first');
    const keyA = key('a');
    const keyB = key('b');
    // fails after connecting: no topic matches the include pattern
    const failed = await cli(['backup', '-c', config('fail.yaml', backups, keyA, `${topic}-missing`)]);
    assert.equal(failed.code, 2, failed.stderr);
    assert.match(failed.stderr, /no topic matches/);
    assert.equal(existsSync(join(backups, 'enc', 'keys')), false, 'no key slot was left behind');

    const b = await cli(['backup', '-c', config('b.yaml', backups, keyB, topic), '--format', 'json']);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(jsonOut<{ records: number }>(b).records, 20);
    const list = jsonOut<{ slots: { id: string }[] }>(
      await cli(['key', 'list', '--path', backups, '--backup-id', 'enc', '--format', 'json']),
    );
    assert.deepEqual(
      list.slots.map((s) => s.id),
      ['raw-1'],
    );
    const withB = await cli(['validate', '--path', backups, '--backup-id', 'enc', '--deep'], {
      KB_ENCRYPTION_KEY_FILE: keyB,
    });
    assert.equal(withB.code, 0, withB.stdout + withB.stderr);
    const withA = await cli(['validate', '--path', backups, '--backup-id', 'enc'], { KB_ENCRYPTION_KEY_FILE: keyA });
    assert.equal(withA.code, 5, withA.stderr);
    assert.equal((await dumpTopic(topic)).length, 20);
  });

  test('key slots without a commit: another key gets a specific error saying how to proceed', async () => {
    const keyA = key('a2');
    const keyB = key('b2');
    const begun = join(dir, 'begun');
    const b = await cli(['backup', '-c', config('a2.yaml', begun, keyA, topic)]);
    assert.equal(b.code, 0, b.stderr);
    // the state a crash right before the first commit leaves (and older versions after any failure)
    const uncommitted = join(dir, 'uncommitted');
    cpSync(join(begun, 'enc', 'keys'), join(uncommitted, 'enc', 'keys'), { recursive: true });

    const other = await cli(['backup', '-c', config('b2.yaml', uncommitted, keyB, topic)]);
    assert.equal(other.code, 5, other.stderr);
    assert.match(other.stderr, /backup line enc in .* has key slots but no commit/);
    assert.match(other.stderr, /nothing is backed up in it/);
    assert.match(
      other.stderr,
      /run again with the key of that first run; or, to begin the line with this key, delete .*enc\/keys\//,
    );
    assert.deepEqual(readdirSync(join(uncommitted, 'enc')), ['keys'], 'nothing was written');

    // on a line with commits, another key is still the plain "opens none of them"
    const committed = await cli(['backup', '-c', config('b3.yaml', begun, keyB, topic)]);
    assert.equal(committed.code, 5, committed.stderr);
    assert.match(committed.stderr, /opens none of them/);
    assert.doesNotMatch(committed.stderr, /no commit/);

    // the key of the first run carries on
    const same = await cli(['backup', '-c', config('a3.yaml', uncommitted, keyA, topic), '--format', 'json']);
    assert.equal(same.code, 0, same.stderr);
    assert.equal(jsonOut<{ records: number }>(same).records, 20);
  });
});
