/**
 * An unclean leader election between two backup runs on the 3-broker cluster (issue 14 item 1,
 * scenario 3; the defect side is item 5, KIP-320 leader epochs).
 *
 * Topic: 1 partition, replicas [1,2], min.insync.replicas=1, unclean.leader.election.enable=true.
 *   A  100 records, acknowledged by both replicas
 *      broker 2 stopped (SIGSTOP) until it leaves the ISR
 *   B  100 records, acknowledged by broker 1 alone (ISR [1], acks=all), offsets 100..199
 *      backup run 1 (snapshot) stores A and B
 *      broker 1 killed (SIGKILL), broker 2 continued, unclean election (LeaderElectionCommand):
 *      broker 2, which never had B, leads
 *   C  150 records on the new leader, offsets 100..249: B's offsets now hold C
 *      broker 1 restarted: it truncates B away and follows
 *      backup run 2 (same line) continues from offset 200
 *
 * The Java consumer confirms that the acknowledged records B are gone (what Jepsen calls
 * acknowledged-but-lost: the price of an unclean election). Checked: run 2 must not mix the two
 * histories (A, B, then the tail of C from 200 would be neither). Run 1 recorded the leader epoch
 * B was read under (KIP-320, docs/operations.md "Truncated logs"), so run 2's first fetch gets a
 * diverging epoch: the topic fails with LOG_TRUNCATED, exit 4, naming the lost range [100, 200);
 * nothing of C is listed, and run 1's snapshot still restores exactly A and B, the only copy of
 * B left (compared with what the Java consumer read before the election).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cli, jsonOut, tempDir } from '../../helpers/cli.ts';
import { type AckedRecord, assertRestoredExactly, produceAcked } from '../../helpers/fault-check.ts';
import {
  brokerAddress,
  CLUSTER,
  createClusterTopic,
  describePartitions,
  healCluster,
  killBroker,
  pauseBroker,
  restartBrokers,
  resumeBroker,
  services,
  waitUntil,
  withLiveAdmin,
} from '../../helpers/fault-cluster.ts';
import { kafkaTool, lockCluster, uniqueTopic } from '../../helpers/kafka.ts';
import { dumpTopic, text } from '../../helpers/peers.ts';
import { backupConfig, line, listedEnds, restoreInto, timed } from './scenario.ts';

describe('unclean leader election between two backup runs', { timeout: 900_000 }, () => {
  let unlock: (() => Promise<void>) | undefined;
  const topics: string[] = [];

  before(async () => {
    unlock = await lockCluster();
    await services('start', 'kafka-cluster');
  });
  after(async () => {
    try {
      await healCluster(topics);
      await withLiveAdmin((a) => a.deleteTopics({ topics })).catch(() => undefined);
    } finally {
      await unlock?.();
    }
  });

  test('the second run fails with LOG_TRUNCATED naming the lost range; the first snapshot restores A and B', async () => {
    await timed('unclean leader election between backup runs', async () => {
      try {
        const dir = tempDir('unclean');
        const topic = await createClusterTopic(uniqueTopic('unclean'), [[1, 2]], {
          'min.insync.replicas': '1',
          'unclean.leader.election.enable': 'true',
        });
        topics.push(topic);
        const produce = (prefix: string, n: number, bootstrap: string) =>
          produceAcked(topic, prefix, n, { bootstrap, batch: 50 });
        const a = await produce('a', 100, CLUSTER);
        await pauseBroker(2);
        await waitUntil('broker 2 left the ISR', async () => (await describePartitions(topic))[0]!.isr.join() === '1');
        const b: AckedRecord[] = await produce('b', 100, brokerAddress(1));
        assert.equal(b[0]!.offset, 100);
        // what the partition holds before the election, read by the Java consumer (broker 2 is stopped)
        const beforeElection = await dumpTopic(topic, { bootstrap: brokerAddress(1) });
        assert.equal(beforeElection.length, 200);
        const l = line(dir, 'unclean');
        const config = backupConfig(l, [topic]);
        const run1 = await cli(['backup', '-c', config, '--format', 'json']);
        assert.equal(run1.code, 0, run1.stderr.slice(-2000));
        const s1 = jsonOut<{ snapshot_id: string }>(run1).snapshot_id;

        await killBroker(1);
        await resumeBroker(2);
        await waitUntil('broker 2 is registered again', () =>
          withLiveAdmin(async (x) => (await x.metadata({ topics: [], forceUpdate: true })).brokers.has(2)),
        );
        await waitUntil(
          'broker 2 leads after an unclean election',
          async () => {
            if ((await describePartitions(topic))[0]!.leader === 2) return true;
            await kafkaTool('org.apache.kafka.tools.LeaderElectionCommand', [
              '--bootstrap-server',
              brokerAddress(2),
              '--election-type',
              'unclean',
              '--topic',
              topic,
              '--partition',
              '0',
            ]).catch(() => undefined);
            return (await describePartitions(topic))[0]!.leader === 2;
          },
          120_000,
        );
        const c = await produce('c', 150, brokerAddress(2));
        assert.equal(c[0]!.offset, 100, "C takes B's offsets");
        await restartBrokers();
        await waitUntil(
          'broker 1 is back in the ISR',
          async () => (await describePartitions(topic))[0]!.isr.length === 2,
          180_000,
        );

        const source = await dumpTopic(topic, { bootstrap: CLUSTER });
        const keys = new Set(source.map((r) => text(r.key)));
        assert.ok(
          b.every((x) => !keys.has(x.key)),
          'the acknowledged records B are lost (the unclean election happened)',
        );
        assert.equal(source.length, 250);

        const run2 = await cli(['backup', '-c', config, '--format', 'json']);
        assert.equal(run2.code, 4, `exit 4 (the topic failed): ${run2.stderr.slice(-3000)}`);
        assert.match(
          run2.stderr,
          new RegExp(
            `the log of ${topic}-0 was truncated below what the backup had read: offsets \\[100, 200\\) were read under leader epoch \\d+`,
          ),
        );
        const out = jsonOut<{ state: string; failures: { topic: string; error: string }[] }>(run2);
        assert.equal(out.state, 'failed');
        assert.deepEqual(
          out.failures.map((f) => f.topic),
          [topic],
        );
        assert.deepEqual([...(await listedEnds(l, topic))], [[0, 200]], 'nothing of the new history C is listed');

        // the line keeps what run 1 read: its snapshot restores A and B exactly
        const target = `${topic}-restored`;
        topics.push(target);
        const r = await restoreInto(l, topic, target, 1, { snapshot: s1 });
        assert.equal(r.code, 0, r.stderr.slice(-2000));
        const restored = await dumpTopic(target, { bootstrap: CLUSTER });
        assertRestoredExactly(beforeElection, restored, [...a, ...b], 'the snapshot taken before the election');
      } finally {
        await healCluster(topics);
      }
    });
  });
});
