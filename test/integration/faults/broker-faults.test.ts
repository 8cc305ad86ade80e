/**
 * Broker faults during backup and restore on the 3-broker cluster (issue 14 item 1), in the
 * manner of Kafka's own system tests (clean/hard bounces, leader moves) and Jepsen's checker:
 *
 *   1. a follower stopped (SIGSTOP) and continued (SIGCONT) during a continuous backup, records
 *      produced while it is stopped; then during a restore
 *   2. the partition leader killed (SIGKILL) and restarted during a snapshot backup; then
 *      during a restore
 *
 * Source topic: 3 partitions, replicas [1,2,3] (broker 1 leads all, 2 and 3 follow), min ISR 2;
 * every record produced by Kafka's Java producer (acks=all, idempotent) with a unique key. Each
 * fault waits on what the cluster shows (the process state, the ISR shrinking and growing back,
 * a new leader), never on a fixed sleep. Checked every time with Kafka's Java consumer
 * (read_committed): the restored topic holds exactly the source's records, each acknowledged
 * record once, in order (test/helpers/fault-check.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { tempDir } from '../../helpers/cli.ts';
import { type AckedRecord, assertRestoredExactly, produceAcked } from '../../helpers/fault-check.ts';
import {
  CLUSTER,
  createClusterTopic,
  describePartitions,
  healCluster,
  killBroker,
  partitionEnds,
  pauseBroker,
  restartBrokers,
  resumeBroker,
  services,
  waitUntil,
  withLiveAdmin,
} from '../../helpers/fault-cluster.ts';
import { lockCluster, uniqueTopic } from '../../helpers/kafka.ts';
import { dumpTopic } from '../../helpers/peers.ts';
import {
  assertOk,
  backupConfig,
  caughtUp,
  killStrays,
  type Line,
  line,
  listedEnds,
  restoreConfig,
  restoreInto,
  startRun,
  timed,
} from './scenario.ts';

const PARTITIONS = 3;
const LEADER = 1;
const FOLLOWER = 2;

describe('broker faults during backup and restore', { timeout: 1_200_000 }, () => {
  let unlock: (() => Promise<void>) | undefined;
  const topics: string[] = [];
  let dir: string;
  let topic: string;
  const acked: AckedRecord[] = [];
  let continuousLine: Line | undefined;

  const produce = async (prefix: string, count: number) => {
    const a = await produceAcked(topic, prefix, count, {
      partitions: [0, 1, 2],
      bootstrap: CLUSTER,
      valueBytes: 1000,
    });
    acked.push(...a);
    return a;
  };
  const targetTopic = (name: string) => {
    const t = `${topic}-${name}`;
    topics.push(t);
    return t;
  };
  const isrWithout = (t: string, broker: number) =>
    describePartitions(t).then((v) => v.every((p) => p.leader >= 0 && !p.isr.includes(broker)));
  const isrFull = (t: string) =>
    describePartitions(t).then((v) => v.every((p) => p.leader >= 0 && p.isr.length === p.replicas.length));
  const committed = async (t: string) =>
    [...(await partitionEnds(t, [0, 1, 2])).values()].reduce((s, e) => s + e.highWatermark, 0);

  before(async () => {
    unlock = await lockCluster();
    await services('start', 'kafka-cluster');
    dir = tempDir('broker-faults');
    topic = uniqueTopic('bfault');
    topics.push(topic);
    await createClusterTopic(
      topic,
      [...Array(PARTITIONS).keys()].map(() => [LEADER, FOLLOWER, 3]),
      { 'min.insync.replicas': '2' },
    );
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

  test('1a. a follower stopped and continued during a continuous backup, records produced meanwhile', async () => {
    await timed('follower SIGSTOP during continuous backup', async () => {
      try {
        await produce('a', 3000);
        const l = line(dir, 'continuous');
        const run = startRun([
          'backup',
          '-c',
          backupConfig(l, [topic], { mode: 'continuous', segment_max_interval_secs: 2, poll_interval_ms: 200 }),
          '--format',
          'json',
        ]);
        await waitUntil('the continuous backup lists its first records', async () => {
          assert.equal(run.child.exitCode, null, 'the backup runs');
          return [...(await listedEnds(l, topic).catch(() => new Map())).values()].some((n) => n > 0);
        });
        await pauseBroker(FOLLOWER);
        // acks=all with min ISR 2: these wait until the controller fences the stopped follower
        const during = produce('b', 3000);
        await waitUntil(`broker ${FOLLOWER} left the ISR of every partition`, () => isrWithout(topic, FOLLOWER));
        await resumeBroker(FOLLOWER);
        await during;
        await waitUntil('the ISR is full again', () => isrFull(topic));
        await produce('c', 1000);
        await waitUntil(
          'the backup lists everything the source holds',
          async () => {
            assert.equal(run.child.exitCode, null, 'the backup still runs');
            return caughtUp(l, topic, PARTITIONS);
          },
          180_000,
        );
        run.child.kill('SIGTERM');
        assertOk(await run.done, 'continuous backup');
        const target = targetTopic('r1a');
        assertOk(await restoreInto(l, topic, target, PARTITIONS), 'restore');
        const [source, restored] = await Promise.all([
          dumpTopic(topic, { bootstrap: CLUSTER }),
          dumpTopic(target, { bootstrap: CLUSTER }),
        ]);
        assert.equal(source.length, 7000);
        assertRestoredExactly(source, restored, acked, 'continuous backup across a stopped follower');
        continuousLine = l;
      } finally {
        killStrays();
        await healCluster(topics);
      }
    });
  });

  test('1b. a follower stopped and continued during a restore', async () => {
    assert.ok(continuousLine, 'needs the backup of 1a');
    const l = continuousLine;
    await timed('follower SIGSTOP during restore', async () => {
      try {
        const target = targetTopic('r1b');
        await createClusterTopic(
          target,
          [...Array(PARTITIONS).keys()].map(() => [LEADER, FOLLOWER, 3]),
          { 'min.insync.replicas': '2' },
        );
        const run = startRun([
          'restore',
          '-c',
          restoreConfig(l, { [topic]: target }, { max_records_per_sec: 500 }, 'r1b'),
          '--format',
          'json',
        ]);
        await waitUntil('the restore has committed 500 records', async () => {
          assert.equal(run.child.exitCode, null, 'the restore runs');
          return (await committed(target)) >= 500;
        });
        await pauseBroker(FOLLOWER);
        await waitUntil(`broker ${FOLLOWER} left the ISR of the target`, () => isrWithout(target, FOLLOWER));
        const meanwhile = await committed(target);
        await resumeBroker(FOLLOWER);
        await waitUntil('the target ISR is full again', () => isrFull(target));
        const r = await run.done;
        assertOk(r, 'restore');
        assert.ok(meanwhile < 7000, `the fault came before the restore's end (${meanwhile} committed)`);
        const [source, restored] = await Promise.all([
          dumpTopic(topic, { bootstrap: CLUSTER }),
          dumpTopic(target, { bootstrap: CLUSTER }),
        ]);
        assertRestoredExactly(source, restored, acked, 'restore across a stopped follower');
      } finally {
        killStrays();
        await healCluster(topics);
      }
    });
  });

  test('2a. the partition leader killed and restarted during a snapshot backup', async () => {
    await timed('leader SIGKILL during snapshot backup', async () => {
      try {
        const l = line(dir, 'snapshot');
        // about 7.3 MB at 400 kB/s: the run lasts well beyond the kill, however fast the machine
        const run = startRun([
          'backup',
          '-c',
          backupConfig(l, [topic], {
            max_bytes_per_sec: 400_000,
            max_batch_bytes: 65_536,
            segment_max_bytes: 1_048_576,
          }),
          '--format',
          'json',
        ]);
        await waitUntil('the snapshot backup lists its first records', async () => {
          assert.equal(run.child.exitCode, null, 'the backup runs');
          return [...(await listedEnds(l, topic).catch(() => new Map())).values()].some((n) => n > 0);
        });
        await killBroker(LEADER);
        assert.equal(run.child.exitCode, null, 'the backup was running when the leader died');
        await waitUntil('every partition has a new leader', async () =>
          (await describePartitions(topic)).every((p) => p.leader >= 0 && p.leader !== LEADER),
        );
        await restartBrokers();
        await waitUntil('the ISR is full again', () => isrFull(topic), 180_000);
        const r = await run.done;
        assertOk(r, 'snapshot backup');
        const target = targetTopic('r2a');
        assertOk(await restoreInto(l, topic, target, PARTITIONS), 'restore');
        const [source, restored] = await Promise.all([
          dumpTopic(topic, { bootstrap: CLUSTER }),
          dumpTopic(target, { bootstrap: CLUSTER }),
        ]);
        assertRestoredExactly(source, restored, acked, 'snapshot backup across a killed leader');
      } finally {
        killStrays();
        await healCluster(topics);
      }
    });
  });

  test('2b. the partition leader killed and restarted during a restore', async () => {
    assert.ok(continuousLine, 'needs the backup of 1a');
    const l = continuousLine;
    await timed('leader SIGKILL during restore', async () => {
      try {
        const target = targetTopic('r2b');
        await createClusterTopic(
          target,
          [...Array(PARTITIONS).keys()].map(() => [LEADER, FOLLOWER, 3]),
          { 'min.insync.replicas': '2' },
        );
        const run = startRun([
          'restore',
          '-c',
          restoreConfig(l, { [topic]: target }, { max_records_per_sec: 500 }, 'r2b'),
          '--format',
          'json',
        ]);
        await waitUntil('the restore has committed 500 records', async () => {
          assert.equal(run.child.exitCode, null, 'the restore runs');
          return (await committed(target)) >= 500;
        });
        await killBroker(LEADER);
        assert.equal(run.child.exitCode, null, 'the restore was running when the leader died');
        await waitUntil('every target partition has a new leader', async () =>
          (await describePartitions(target)).every((p) => p.leader >= 0 && p.leader !== LEADER),
        );
        await restartBrokers();
        await waitUntil('the target ISR is full again', () => isrFull(target), 180_000);
        const r = await run.done;
        assertOk(r, 'restore');
        const [source, restored] = await Promise.all([
          dumpTopic(topic, { bootstrap: CLUSTER }),
          dumpTopic(target, { bootstrap: CLUSTER }),
        ]);
        assertRestoredExactly(source, restored, acked, 'restore across a killed leader');
      } finally {
        killStrays();
        await healCluster(topics);
      }
    });
  });
});
