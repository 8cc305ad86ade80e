/**
 * restore.state_url of an encrypted line: the restore state kept at a separate location (plan,
 * offset map, report, offset snapshots and applies of restore.consumer_groups) is sealed there
 * under the line's keys. The state location is searched raw for the topic names and the group
 * name and holds none of them; status and offsets read it with the key and refuse without it.
 * Records compared with what Kafka's own Java consumer reads; the group resumes where it stopped.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cli, jsonOut, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, uniqueTopic } from '../../helpers/kafka.ts';
import { consumeAsGroup, type DumpedRecord, dumpTopic, produceSpec } from '../../helpers/peers.ts';

const strip = (r: DumpedRecord) => [r.partition, r.key, r.value, r.headers, r.timestamp];

describe('restore state of an encrypted line at restore.state_url', { timeout: 600_000 }, () => {
  test('is sealed under the line’s keys: no topic or group name in clear; read with the key only', async () => {
    const dir = tempDir('crypto-state-url');
    const backups = join(dir, 'backups');
    const stateDir = join(dir, 'restore-state');
    const keyFile = join(dir, 'line.key');
    writeFileSync(keyFile, randomBytes(32));
    const topic = await createTopic(uniqueTopic('crypto-state'), { partitions: 2 });
    await produceSpec(
      topic,
      Array.from({ length: 120 }, (_, i) => ({ partition: i % 2, key: `k${i}`, value: `v${i}` })),
    );
    const group = `ledger-reconciler-${Date.now().toString(36)}`;
    assert.equal((await consumeAsGroup(group, topic, 50)).length, 50);
    const target = `${topic}-restored`;
    const cfg = writeConfig(dir, 'config.yaml', {
      backup_id: 'enc',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage: { backend: 'filesystem', path: backups },
      backup: { encryption: { enabled: true, provider: 'raw', key_file: keyFile } },
      restore: { topic_mapping: { [topic]: target }, consumer_groups: [group], state_url: `file://${stateDir}` },
    });
    const b = await cli(['backup', '-c', cfg]);
    assert.equal(b.code, 0, b.stderr);
    const r = await cli(['restore', '-c', cfg, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const out = jsonOut<{ restore_id: string; consumer_groups?: { counts: { set: number } } }>(r);
    assert.ok((out.consumer_groups?.counts.set ?? 0) > 0, 'the restore moved the group');
    assert.deepEqual((await dumpTopic(target)).map(strip), (await dumpTopic(topic)).map(strip));

    const stored = readdirSync(stateDir, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => join(d.parentPath, d.name));
    const names = stored.map((f) => f.slice(stateDir.length + 1)).sort();
    assert.ok(
      names.some((n) => n.includes('/restores/') && n.endsWith('offset-map.json')),
      `restore state: ${names.join(', ')}`,
    );
    assert.ok(
      names.some((n) => n.includes('/offsets/')),
      `offset snapshots and applies: ${names.join(', ')}`,
    );
    for (const f of stored) {
      const bytes = readFileSync(f);
      assert.ok(bytes.subarray(0, 8).equals(Buffer.from('KBENC\0\0\x01', 'latin1')), `${f} is sealed`);
      for (const needle of [topic, target, group])
        assert.equal(bytes.includes(Buffer.from(needle)), false, `${f} holds ${needle} in clear`);
    }

    // status and offsets read the state with the line's key, and only with it
    const statusArgs = ['status', '--path', backups, '--backup-id', 'enc', '--state-path', stateDir];
    const status = await cli([...statusArgs, '--restore-id', out.restore_id, '--format', 'json'], {
      KB_ENCRYPTION_KEY_FILE: keyFile,
    });
    assert.equal(status.code, 0, status.stdout + status.stderr);
    const restores = jsonOut<{ restores: { restore_id: string; state: string; records: number }[] }>(status).restores;
    assert.deepEqual(
      restores.map((x) => [x.restore_id, x.state, x.records]),
      [[out.restore_id, 'finished', 120]],
      'status reads the restore from the sealed state',
    );
    assert.equal((await cli(statusArgs)).code, 5);
    const plan = await cli(
      [
        'offsets',
        'plan',
        '--path',
        backups,
        '--backup-id',
        'enc',
        '--state-path',
        stateDir,
        '--bootstrap',
        KAFKA_BOOTSTRAP,
        '--groups',
        group,
        '--format',
        'json',
      ],
      { KB_ENCRYPTION_KEY_FILE: keyFile },
    );
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);
    assert.ok(plan.stdout.includes(target), plan.stdout);

    // the group resumes on the restored topic right after what it consumed
    const resumed = await consumeAsGroup(group, target, 70);
    assert.equal(resumed.length, 70);
    const consumedValues = new Set(
      (await dumpTopic(topic)).filter((x) => !resumed.some((y) => y.value === x.value)).map((x) => x.value),
    );
    assert.equal(consumedValues.size, 50, 'no record skipped or repeated');
  });
});
