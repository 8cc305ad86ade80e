/**
 * restore.consumer_groups: the restore command itself moves the listed groups onto the restored
 * topic, and Kafka's own Java consumer in that group resumes at exactly the next unconsumed
 * record (no skip, no repeat).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cli, jsonOut, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, uniqueTopic } from '../../helpers/kafka.ts';
import { consumeAsGroup, dumpTopic, produceSpec } from '../../helpers/peers.ts';

describe('restore moves consumer groups', { timeout: 300_000 }, () => {
  test('a group resumes on the restored topic right after what it consumed', async () => {
    const topic = await createTopic(uniqueTopic('groups'), { partitions: 2 });
    await produceSpec(
      topic,
      Array.from({ length: 200 }, (_, i) => ({ partition: i % 2, key: `k${i}`, value: `v${i}` })),
    );
    const group = `g-${topic}`;
    const consumed = await consumeAsGroup(group, topic, 70);
    assert.equal(consumed.length, 70);

    const dir = tempDir('groups');
    const backup = writeConfig(dir, 'backup.yaml', {
      backup_id: 'groups',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
    });
    assert.equal((await cli(['backup', '-c', backup])).code, 0);
    const target = `${topic}-restored`;
    const restore = writeConfig(dir, 'restore.yaml', {
      backup_id: 'groups',
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      restore: { topic_mapping: { [topic]: target }, consumer_groups: [group] },
    });
    const r = await cli(['restore', '-c', restore, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const out = jsonOut<{ consumer_groups?: { counts: { set: number } } }>(r);
    assert.ok((out.consumer_groups?.counts.set ?? 0) > 0, 'offsets were set by the restore');

    const seen = new Set(consumed.map((x) => x.value));
    const expected = (await dumpTopic(target)).filter((x) => !seen.has(x.value));
    assert.equal(expected.length, 130);
    const resumed = await consumeAsGroup(group, target, 130);
    const byPartition = (rs: { partition: number; value: string | null }[], p: number) =>
      rs.filter((x) => x.partition === p).map((x) => x.value);
    for (const p of [0, 1]) assert.deepEqual(byPartition(resumed, p), byPartition(expected, p), `partition ${p}`);
  });
});
