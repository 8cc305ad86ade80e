/**
 * DeleteRecords while a transaction is open on the partition, during a continuous backup, on the
 * 3-broker cluster (issue 14 item 1).
 *
 * Kafka's Java producer writes, on one partition: 50 plain records (p-*), 50 records of a
 * transaction (t-*), 50 plain records (q-*) while that transaction stays open, so the last stable
 * offset stops at the transaction's first record (50) while the high watermark goes on (150).
 * The backup reads up to the last stable offset. Then DeleteRecords moves the log start to 75,
 * inside the open transaction, past what the backup has read; the transaction goes on (u-*) and
 * commits; 50 more plain records (r-*) follow.
 *
 * Checked (Kafka's Java consumer, read_committed): the restore holds exactly what the consumer
 * could read before the deletion (p-*) plus what it reads afterwards (t-25.., q-*, u-*, r-*):
 * the deleted range is a recorded gap, the committed transaction's records after it are kept
 * (not dropped as if their transaction were unknown), nothing twice.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempDir } from '../../helpers/cli.ts';
import { assertRestoredExactly } from '../../helpers/fault-check.ts';
import {
  CLUSTER,
  createClusterTopic,
  healCluster,
  partitionEnds,
  services,
  waitUntil,
  withLiveAdmin,
} from '../../helpers/fault-cluster.ts';
import { lockCluster, uniqueTopic } from '../../helpers/kafka.ts';
import { type DumpedRecord, dumpTopic, produceSpec, type SpecLine, text } from '../../helpers/peers.ts';
import {
  assertOk,
  backupConfig,
  caughtUp,
  killStrays,
  line,
  listedEnds,
  restoreInto,
  startRun,
  timed,
} from './scenario.ts';

describe('DeleteRecords while a transaction is open', { timeout: 600_000 }, () => {
  let unlock: (() => Promise<void>) | undefined;
  const topics: string[] = [];

  before(async () => {
    unlock = await lockCluster();
    await services('start', 'kafka-cluster');
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

  test('the continuous backup keeps the committed records after the deleted range, and nothing twice', async () => {
    await timed('DeleteRecords inside an open transaction', async () => {
      const dir = tempDir('txn-delete');
      const topic = await createClusterTopic(uniqueTopic('txndel'), [[1, 2, 3]], { 'min.insync.replicas': '2' });
      topics.push(topic);
      const l = line(dir, 'txndel');
      const run = startRun([
        'backup',
        '-c',
        backupConfig(l, [topic], { mode: 'continuous', segment_max_interval_secs: 2, poll_interval_ms: 200 }),
        '--format',
        'json',
      ]);
      const go = join(dir, 'go');
      const spec: SpecLine[] = [];
      const add = (prefix: string, n: number, txn?: 'commit') => {
        for (let i = 0; i < n; i++)
          spec.push({ partition: 0, key: `${prefix}-${i}`, value: `${prefix} value ${i}`, txn });
        spec.push({ flush: true });
      };
      add('p', 50);
      add('t', 50, 'commit');
      add('q', 50);
      spec.push({ await: go });
      add('u', 20, 'commit');
      spec.push({ end: 0 });
      add('r', 50);
      let readBefore: DumpedRecord[] = [];
      const producing = produceSpec(topic, spec, { bootstrap: CLUSTER, timeoutMs: 300_000 });
      try {
        await waitUntil('the producer holds its transaction open', () => existsSync(`${go}.ready`));
        const open = (await partitionEnds(topic, [0])).get(0)!;
        assert.equal(open.highWatermark, 150, 'p, t and q are in the log');
        // what the Java consumer can read now: up to the open transaction (LSO 50)
        readBefore = await dumpTopic(topic, { bootstrap: CLUSTER });
        assert.equal(readBefore.length, 50);
        await waitUntil('the backup lists everything up to the open transaction', async () => {
          assert.equal(run.child.exitCode, null, 'the backup runs');
          return ((await listedEnds(l, topic).catch(() => new Map())).get(0) ?? 0) >= 50;
        });
        const low = await withLiveAdmin(async (a) => {
          const res = await a.deleteRecords({ topics: [{ name: topic, partitions: [{ partition: 0, offset: 75n }] }] });
          return Number(res[0]!.partitions[0]!.lowWatermark);
        });
        assert.equal(low, 75, 'the log start moved into the open transaction');
      } finally {
        writeFileSync(go, '');
      }
      await producing;
      await waitUntil(
        'the backup lists everything the source holds',
        async () => {
          assert.equal(run.child.exitCode, null, 'the backup still runs');
          return caughtUp(l, topic, 1);
        },
        180_000,
      );
      run.child.kill('SIGTERM');
      assertOk(await run.done, 'continuous backup');
      const afterDelete = await dumpTopic(topic, { bootstrap: CLUSTER });
      assert.equal(afterDelete[0]?.offset, 75);
      const target = `${topic}-restored`;
      topics.push(target);
      assertOk(await restoreInto(l, topic, target, 1), 'restore');
      const restored = await dumpTopic(target, { bootstrap: CLUSTER });
      // p-* was read before the deletion; the rest is what the source holds now
      assert.deepEqual(
        afterDelete.map((r) => text(r.key)?.split('-')[0]),
        [...Array(25).fill('t'), ...Array(50).fill('q'), ...Array(20).fill('u'), ...Array(50).fill('r')],
        'the Java consumer reads the committed transaction after the deleted range',
      );
      assertRestoredExactly([...readBefore, ...afterDelete], restored, [], 'DeleteRecords in an open transaction');
    });
  });
});
