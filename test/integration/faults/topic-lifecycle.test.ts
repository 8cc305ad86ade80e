/**
 * Topic lifecycle under a running backup on the 3-broker cluster (issue 14 item 1, scenarios 4
 * and 5; the behaviour itself is item 4):
 *
 *   4. partitions added to a followed topic during a continuous backup: the new partitions are
 *      backed up from their first offset in the same run
 *   5. a topic deleted and re-created between two runs, and during a continuous run: the old
 *      incarnation's records stay restorable (the snapshot taken before the re-creation restores
 *      them, not the new ones) and the new incarnation starts a new history, never mixed with the
 *      old one
 *
 * Every record comes from Kafka's Java producer (acks=all) with a unique key, and every restore
 * is compared with Kafka's Java consumer (read_committed) on the source.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cli, jsonOut, tempDir } from '../../helpers/cli.ts';
import { type AckedRecord, assertRestoredExactly, produceAcked } from '../../helpers/fault-check.ts';
import {
  CLUSTER,
  createClusterTopic,
  describePartitions,
  healCluster,
  services,
  waitUntil,
  withLiveAdmin,
} from '../../helpers/fault-cluster.ts';
import { lockCluster, uniqueTopic } from '../../helpers/kafka.ts';
import { type DumpedRecord, dumpTopic } from '../../helpers/peers.ts';
import {
  assertOk,
  backupConfig,
  caughtUp,
  killStrays,
  type Line,
  line,
  listedEnds,
  restoreInto,
  startRun,
  timed,
} from './scenario.ts';

const ADDED_PARTITIONS_TODO =
  'a continuous backup follows new topics but not new partitions of a followed topic (issue 14 item 4, branch topic-lifecycle): partitions 2 and 3 are never listed';
const RECREATED_BETWEEN_TODO =
  'a re-created topic retires the old incarnation in the manifest, but a restore of the earlier snapshot does not restore it (issue 14 item 4, branch topic-lifecycle)';
const RECREATED_DURING_TODO =
  'a continuous backup marks a topic re-created during the run as failed and does not back up the new incarnation (issue 14 item 4, branch topic-lifecycle)';

const replicas = (n: number) => [...Array(n).keys()].map((p) => [1 + (p % 3), 1 + ((p + 1) % 3), 1 + ((p + 2) % 3)]);

describe('topic lifecycle during backups', { timeout: 900_000 }, () => {
  let unlock: (() => Promise<void>) | undefined;
  const topics: string[] = [];
  let dir: string;

  const create = async (name: string, partitions: number) => {
    topics.push(name);
    return createClusterTopic(name, replicas(partitions), { 'min.insync.replicas': '2' });
  };
  const deleteAndWait = async (name: string) => {
    await withLiveAdmin((a) => a.deleteTopics({ topics: [name] }));
    await waitUntil(`${name} is gone`, () =>
      withLiveAdmin(async (a) => !(await a.listTopics({ includeInternals: false })).includes(name)),
    );
  };
  const restoreCheck = async (
    l: Line,
    source: string,
    partitions: number,
    expected: DumpedRecord[],
    what: string,
    extra = {},
  ) => {
    const target = `${source}-r${topics.length}`;
    topics.push(target);
    const r = await restoreInto(l, source, target, partitions, extra);
    assertOk(r, `${what}: restore`);
    assertRestoredExactly(expected, await dumpTopic(target, { bootstrap: CLUSTER }), [], what);
  };

  before(async () => {
    unlock = await lockCluster();
    await services('start', 'kafka-cluster');
    dir = tempDir('lifecycle');
  });
  after(async () => {
    killStrays();
    try {
      await healCluster(topics);
      await withLiveAdmin((a) => a.deleteTopics({ topics })).catch(() => undefined);
    } finally {
      await unlock?.();
    }
  });

  test('4. partitions added during a continuous backup are backed up from their first offset', {
    todo: ADDED_PARTITIONS_TODO,
  }, async () => {
    await timed('partitions added during continuous backup', async () => {
      const topic = await create(uniqueTopic('addpart'), 2);
      const l = line(dir, 'addpart');
      const run = startRun([
        'backup',
        '-c',
        backupConfig(l, [topic], { mode: 'continuous', segment_max_interval_secs: 1, poll_interval_ms: 200 }),
        '--format',
        'json',
      ]);
      try {
        const acked: AckedRecord[] = await produceAcked(topic, 'before', 200, {
          partitions: [0, 1],
          bootstrap: CLUSTER,
        });
        await waitUntil('the backup lists partitions 0 and 1', async () => {
          assert.equal(run.child.exitCode, null, 'the backup runs');
          return caughtUp(l, topic, 2);
        });
        await withLiveAdmin((a) => a.createPartitions({ topics: [{ name: topic, count: 4 }] }));
        await waitUntil('the topic has 4 partitions with leaders', async () => {
          const v = await describePartitions(topic);
          return v.length === 4 && v.every((p) => p.leader >= 0);
        });
        acked.push(...(await produceAcked(topic, 'after', 400, { partitions: [0, 1, 2, 3], bootstrap: CLUSTER })));
        await waitUntil(
          'the backup lists all 4 partitions up to their high watermark',
          async () => {
            assert.equal(run.child.exitCode, null, 'the backup runs');
            return caughtUp(l, topic, 4);
          },
          60_000,
        );
        run.child.kill('SIGTERM');
        assertOk(await run.done, 'continuous backup');
        const listed = await listedEnds(l, topic);
        assert.deepEqual([...listed.keys()].sort(), [0, 1, 2, 3]);
        const source = await dumpTopic(topic, { bootstrap: CLUSTER });
        await restoreCheck(l, topic, 4, source, 'partitions added during a continuous backup');
        assert.equal(source.length, acked.length);
      } finally {
        run.child.kill('SIGTERM');
        await run.done;
      }
    });
  });

  test('5a. a topic deleted and re-created between runs: the earlier snapshot restores the old incarnation', {
    todo: RECREATED_BETWEEN_TODO,
  }, async () => {
    await timed('topic re-created between runs', async () => {
      const topic = await create(uniqueTopic('recreate'), 2);
      const l = line(dir, 'recreate');
      const config = backupConfig(l, [topic]);
      await produceAcked(topic, 'old', 200, { partitions: [0, 1], bootstrap: CLUSTER });
      const old = await dumpTopic(topic, { bootstrap: CLUSTER });
      const run1 = await cli(['backup', '-c', config, '--format', 'json']);
      assertOk(run1, 'backup run 1');
      const s1 = jsonOut<{ snapshot_id: string }>(run1).snapshot_id;
      await deleteAndWait(topic);
      await create(topic, 2);
      await produceAcked(topic, 'new', 100, { partitions: [0, 1], bootstrap: CLUSTER });
      const fresh = await dumpTopic(topic, { bootstrap: CLUSTER });
      const run2 = await cli(['backup', '-c', config, '--format', 'json']);
      assertOk(run2, 'backup run 2');
      await restoreCheck(l, topic, 2, fresh, 'the latest snapshot restores the new incarnation');
      await restoreCheck(l, topic, 2, old, 'the snapshot before the re-creation restores the old incarnation', {
        snapshot: s1,
      });
    });
  });

  test('5b. a topic deleted and re-created during a continuous run: both incarnations kept, never mixed', {
    todo: RECREATED_DURING_TODO,
  }, async () => {
    await timed('topic re-created during continuous backup', async () => {
      const topic = await create(uniqueTopic('recreate-live'), 2);
      const l = line(dir, 'recreate-live');
      const run = startRun([
        'backup',
        '-c',
        backupConfig(l, [topic], { mode: 'continuous', segment_max_interval_secs: 1, poll_interval_ms: 200 }),
        '--format',
        'json',
      ]);
      try {
        await produceAcked(topic, 'old', 200, { partitions: [0, 1], bootstrap: CLUSTER });
        await waitUntil('the backup lists the old incarnation', async () => {
          assert.equal(run.child.exitCode, null, 'the backup runs');
          return caughtUp(l, topic, 2);
        });
        await deleteAndWait(topic);
        await create(topic, 2);
        await produceAcked(topic, 'new', 100, { partitions: [0, 1], bootstrap: CLUSTER });
        const fresh = await dumpTopic(topic, { bootstrap: CLUSTER });
        await waitUntil(
          'the backup lists the new incarnation',
          async () => {
            assert.equal(run.child.exitCode, null, 'the backup runs');
            return caughtUp(l, topic, 2);
          },
          60_000,
        );
        run.child.kill('SIGTERM');
        assertOk(await run.done, 'continuous backup');
        const d = jsonOut<{ totals: { records: number } }>(
          await cli(['describe', '--path', l.store, '--backup-id', l.id, '--format', 'json']),
        );
        assert.equal(d.totals.records, 300, 'both incarnations are stored');
        await restoreCheck(l, topic, 2, fresh, 'the new incarnation, not mixed with the old one');
      } finally {
        run.child.kill('SIGTERM');
        await run.done;
      }
    });
  });
});
