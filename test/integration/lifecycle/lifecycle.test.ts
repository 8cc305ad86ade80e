/**
 * Topic lifecycle (issue 14, item 4) on the real broker: a topic deleted and re-created under the
 * same name gets a new topic id (a new incarnation), and partitions are added to a followed topic.
 * Records are produced and read back with Kafka's own Java clients (test/helpers/peers.ts).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openExistingLine } from '../../../src/repository/line.ts';
import { openStorageUrl } from '../../../src/storage/open.ts';
import { cli, jsonOut, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, uniqueTopic } from '../../helpers/kafka.ts';
import { dumpTopic, produceSpec, type SpecLine, text } from '../../helpers/peers.ts';
import { addPartitions, recreateTopic, topicId, waitFor } from './topics.ts';

/** The newest snapshot of the line as stored (a running continuous backup's included). */
async function newestSnapshot(dir: string) {
  const storage = await openStorageUrl(join(dir, 'backups'));
  const { manifest } = await openExistingLine(storage, 'life');
  return { manifest, snapshot: manifest.snapshots.at(-1) };
}

const records = (prefix: string, n: number, partitions = 1): SpecLine[] =>
  Array.from({ length: n }, (_, i) => ({ partition: i % partitions, key: `k${i}`, value: `${prefix}-${i}` }));

const values = async (topic: string) => (await dumpTopic(topic)).map((r) => `${r.partition}:${text(r.value)}`).sort();

interface Described {
  snapshot: { id: string };
  topics: { name: string; topic_id: string; records: number; partitions: { partition: number; records: number }[] }[];
}

function line(dir: string, topic: string, backup: Record<string, unknown> = {}) {
  const storage = { backend: 'filesystem', path: join(dir, 'backups') };
  const backupConfig = writeConfig(dir, 'backup.yaml', {
    backup_id: 'life',
    source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
    storage,
    backup,
  });
  const describeSnapshot = async (snapshot?: string) => {
    const args = ['describe', '--path', join(dir, 'backups'), '--backup-id', 'life', '--format', 'json'];
    const r = await cli(snapshot ? [...args, '--snapshot', snapshot] : args);
    assert.equal(r.code, 0, r.stderr);
    return jsonOut<Described>(r);
  };
  const restore = async (snapshot: string, target: string) => {
    const config = writeConfig(dir, `restore-${target}.yaml`, {
      backup_id: 'life',
      snapshot,
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage,
      restore: { topic_mapping: { [topic]: target } },
    });
    const r = await cli(['restore', '-c', config, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    return jsonOut<{ topics: { source: string; source_topic_id?: string; records: number }[] }>(r);
  };
  const validate = async () => {
    const v = await cli(['validate', '--path', join(dir, 'backups'), '--backup-id', 'life', '--deep']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  };
  return { backupConfig, describeSnapshot, restore, validate };
}

describe('topic lifecycle', { timeout: 600_000 }, () => {
  test('a topic re-created between runs: the old snapshot restores the old incarnation, the new one the new', async () => {
    const topic = await createTopic(uniqueTopic('life-recreate'), { partitions: 2 });
    await produceSpec(topic, records('old', 30, 2));
    const oldId = await topicId(topic);
    const oldValues = await values(topic);
    const dir = tempDir('life-recreate');
    const l = line(dir, topic);
    const first = await cli(['backup', '-c', l.backupConfig, '--format', 'json']);
    assert.equal(first.code, 0, first.stderr);
    const s1 = jsonOut<{ snapshot_id: string }>(first).snapshot_id;

    const newId = await recreateTopic(topic, 2);
    await produceSpec(topic, records('new', 8, 2));
    const newValues = await values(topic);
    const second = await cli(['backup', '-c', l.backupConfig, '--format', 'json']);
    assert.equal(second.code, 0, second.stderr);
    const s2 = jsonOut<{ snapshot_id: string }>(second).snapshot_id;

    // describe names the incarnation each snapshot holds
    const d1 = await l.describeSnapshot(s1);
    assert.equal(d1.topics[0]?.topic_id, oldId);
    assert.equal(d1.topics[0]?.records, 30);
    const d2 = await l.describeSnapshot(s2);
    assert.equal(d2.topics[0]?.topic_id, newId);
    assert.equal(d2.topics[0]?.records, 8);

    // restores, read back with the Java consumer
    const r1 = await l.restore(s1, `${topic}-s1`);
    assert.deepEqual(await values(`${topic}-s1`), oldValues, 'the old snapshot restores the old records');
    assert.equal(r1.topics[0]?.source_topic_id, oldId, 'the restore names the incarnation it restores');
    const r2 = await l.restore(s2, `${topic}-s2`);
    assert.equal(r2.topics[0]?.source_topic_id, newId);
    assert.deepEqual(await values(`${topic}-s2`), newValues, 'the new snapshot restores the new records only');
    await l.validate();
  });

  test('continuous: partitions added to a followed topic are backed up from their first offset in the same run', async () => {
    const topic = await createTopic(uniqueTopic('life-grow'), { partitions: 1 });
    await produceSpec(topic, records('a', 10));
    const dir = tempDir('life-grow');
    const l = line(dir, topic, {
      mode: 'continuous',
      start: 'latest', // new partitions of a followed topic start at their first offset all the same
      checkpoint_interval_secs: 1,
      poll_interval_ms: 200,
      segment_max_interval_secs: 1,
    });
    const run = startCli(['backup', '-c', l.backupConfig, '--format', 'json']);
    try {
      await waitFor(
        'the backup to cover partition 0',
        async () => (await newestSnapshot(dir)).snapshot?.end_offsets[topic]?.['0'] === 10,
      );
      await addPartitions(topic, 3);
      await produceSpec(topic, records('b', 30, 3));
      const ends = new Map<number, number>();
      for (const r of await dumpTopic(topic)) ends.set(r.partition, Math.max(ends.get(r.partition) ?? 0, r.offset + 1));
      assert.equal(ends.size, 3);
      // every record of the new partitions is listed by the running snapshot, from offset 0
      // (partition 0 started at its end, 10, as backup.start: latest says for a new topic)
      await waitFor('the new partitions to be backed up', async () => {
        const { manifest, snapshot } = await newestSnapshot(dir);
        const t = manifest.topics[topic];
        return [...ends].every(
          ([p, end]) =>
            snapshot?.end_offsets[topic]?.[String(p)] === end &&
            t?.partitions[String(p)]?.start_offset === (p === 0 ? 10 : 0),
        );
      });
    } finally {
      run.child.kill('SIGTERM');
    }
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    const s = jsonOut<{ snapshot_id: string; state: string }>(r);
    assert.equal(s.state, 'complete');
    const restored = await l.restore(s.snapshot_id, `${topic}-r`);
    assert.equal(restored.topics[0]?.records, 30);
    assert.deepEqual(
      await values(`${topic}-r`),
      (await values(topic)).filter((v) => !v.includes(':a-')),
      'every record produced after the start, in every partition, new ones from offset 0',
    );
    await l.validate();
  });

  test('continuous: a followed topic re-created during the run is reported, and its two histories stay apart', async () => {
    const topic = await createTopic(uniqueTopic('life-live'), { partitions: 1 });
    await produceSpec(topic, records('old', 10));
    const oldId = await topicId(topic);
    const oldValues = await values(topic);
    const dir = tempDir('life-live');
    const l = line(dir, topic, {
      mode: 'continuous',
      checkpoint_interval_secs: 1,
      poll_interval_ms: 200,
      segment_max_interval_secs: 1,
    });
    const run = startCli(['backup', '-c', l.backupConfig, '--format', 'json']);
    let newId: string;
    try {
      await waitFor(
        'the old records to be backed up',
        async () => (await newestSnapshot(dir)).snapshot?.end_offsets[topic]?.['0'] === 10,
      );
      newId = await recreateTopic(topic, 1);
      await produceSpec(topic, records('new', 6));
      // the running backup follows the new incarnation in a new snapshot, up to its end
      await waitFor('the new incarnation to be backed up', async () => {
        const { snapshot } = await newestSnapshot(dir);
        return snapshot?.topic_ids?.[topic] === newId && snapshot.end_offsets[topic]?.['0'] === 6;
      });
    } finally {
      run.child.kill('SIGTERM');
    }
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    const result = jsonOut<{
      snapshot_id: string;
      state: string;
      topics_gone: { topic: string; topic_id: string; reason: string }[];
    }>(r);
    assert.equal(result.state, 'complete');
    // deleted, or re-created, whichever the backup saw first: the old incarnation left either way
    assert.deepEqual(
      result.topics_gone.map((g) => [g.topic, g.topic_id]),
      [[topic, oldId]],
    );
    assert.ok(['deleted', 'recreated'].includes(result.topics_gone[0]!.reason));
    assert.match(r.stderr, /topic was deleted (and re-created )?during the backup/);

    const { manifest } = await newestSnapshot(dir);
    const ended = manifest.snapshots.find((x) => x.topic_ids?.[topic] === oldId);
    assert.ok(ended, 'a snapshot holds the old incarnation');
    assert.equal(ended.state, 'complete');
    assert.equal(ended.end_offsets[topic]?.['0'], 10);
    assert.deepEqual(
      manifest.retired_topics.map((x) => x.topic_id),
      [oldId],
    );

    const r1 = await l.restore(ended.id, `${topic}-old`);
    assert.deepEqual(await values(`${topic}-old`), oldValues, 'the old incarnation restores the old records');
    assert.equal(r1.topics[0]?.source_topic_id, oldId);
    const r2 = await l.restore(result.snapshot_id, `${topic}-new`);
    assert.equal(r2.topics[0]?.source_topic_id, newId!);
    assert.deepEqual(
      await values(`${topic}-new`),
      await values(topic),
      'the new incarnation restores the new records only',
    );
    await l.validate();
  });
});
