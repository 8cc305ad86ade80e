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
 * histories (A, B, then the tail of C from 200 would be neither): either it fails with a
 * documented exit code and a message that says the partition's history diverged, or the
 * restore of its snapshot holds exactly what the source holds now (A then C).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cli, tempDir } from '../../helpers/cli.ts';
import { type AckedRecord, assertRestoredExactly, diffRestore, produceAcked } from '../../helpers/fault-check.ts';
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
import { backupConfig, line, restoreInto, timed } from './scenario.ts';

const DIVERGED_TODO =
  'the backup does not track leader epochs yet (KIP-320, issue 14 item 5, branch topic-lifecycle): run 2 resumes at offset 200 of the new history and stores A, B and the tail of C as one partition';

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

  test('the second run does not mix the truncated history with the new one', { todo: DIVERGED_TODO }, async () => {
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
        const l = line(dir, 'unclean');
        const config = backupConfig(l, [topic]);
        const run1 = await cli(['backup', '-c', config, '--format', 'json']);
        assert.equal(run1.code, 0, run1.stderr.slice(-2000));

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
        if (run2.code !== 0) {
          // allowed: a documented exit code and a message naming the divergence
          assert.ok([1, 3, 4].includes(run2.code ?? -1), `documented exit code, got ${run2.code}`);
          assert.match(run2.stderr, /diverg|truncat|unclean|leader epoch/i);
          assert.match(run2.stderr, new RegExp(`${topic}`));
          return;
        }
        const target = `${topic}-restored`;
        topics.push(target);
        const r = await restoreInto(l, topic, target, 1);
        assert.equal(r.code, 0, r.stderr.slice(-2000));
        const restored = await dumpTopic(target, { bootstrap: CLUSTER });
        const d = diffRestore(source, restored);
        assert.equal(d.unexpected.filter((k) => k.startsWith('b-')).length, 0, 'no record of the truncated history B');
        assertRestoredExactly(source, restored, [...a, ...c], 'backup across an unclean election');
      } finally {
        await healCluster(topics);
      }
    });
  });
});
