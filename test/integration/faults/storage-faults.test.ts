/**
 * Storage faults during a continuous backup of a 3-broker cluster topic (issue 14 item 1), through
 * the fault proxy (test/helpers/fault-proxy.ts) in front of moto (S3):
 *
 *   errors        every request answered 503 SlowDown, then 500, for a while
 *   stalls        every second request held 2.5 s before it is forwarded
 *   lost answers  PUTs (data files, commits, checkpoints) applied by moto, their answer replaced
 *                 by a connection reset: the retry finds its own write
 *   resets        connections reset before forwarding
 *
 * Records are produced (Java producer, acks=all) before and between the faults; each fault lasts
 * until it has hit a number of requests (counted by the proxy), not for a fixed time. Checked:
 * the backup keeps running and lists every record, stops with exit 0 on SIGTERM, `validate
 * --deep` passes, and a restore (straight from moto) holds exactly the source's records and every
 * acknowledged one once (Java consumer, read_committed).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cli, jsonOut, tempDir, writeConfig } from '../../helpers/cli.ts';
import { type AckedRecord, assertRestoredExactly, produceAcked } from '../../helpers/fault-check.ts';
import {
  CLUSTER,
  createClusterTopic,
  healCluster,
  partitionEnds,
  services,
  waitUntil,
  withLiveAdmin,
} from '../../helpers/fault-cluster.ts';
import { type FaultProxy, startFaultProxy } from '../../helpers/fault-proxy.ts';
import { lockCluster, uniqueTopic } from '../../helpers/kafka.ts';
import { dumpTopic } from '../../helpers/peers.ts';
import { createS3Bucket, S3_CREDENTIALS, S3_ENDPOINT } from '../../helpers/storage-servers.ts';
import { assertOk, CLUSTER_LIST, killStrays, startRun, timed } from './scenario.ts';

const PARTITIONS = 3;
const env = {
  AWS_ACCESS_KEY_ID: S3_CREDENTIALS.access_key_id,
  AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secret_access_key,
};

describe('storage faults during a continuous backup', { timeout: 900_000 }, () => {
  let unlock: (() => Promise<void>) | undefined;
  let proxy: FaultProxy;
  const topics: string[] = [];

  before(async () => {
    unlock = await lockCluster();
    await services('start', 'kafka-cluster');
    proxy = await startFaultProxy(S3_ENDPOINT);
  });
  after(async () => {
    killStrays();
    await proxy.close();
    try {
      await healCluster(topics);
      await withLiveAdmin((a) => a.deleteTopics({ topics })).catch(() => undefined);
    } finally {
      await unlock?.();
    }
  });

  test('errors, stalls, lost answers and resets: the backup lists every record exactly once', async () => {
    await timed('storage faults during continuous backup', async () => {
      const dir = tempDir('storage-faults');
      const topic = await createClusterTopic(
        uniqueTopic('sfault'),
        [...Array(PARTITIONS).keys()].map((p) => [1 + (p % 3), 1 + ((p + 1) % 3), 1 + ((p + 2) % 3)]),
        { 'min.insync.replicas': '2' },
      );
      topics.push(topic);
      const bucket = await createS3Bucket('kb-fault-suite');
      const url = `s3://${bucket}/line`;
      const storage = (endpoint: string) => ({
        url,
        endpoint,
        region: 'us-east-1',
        request_checksum_calculation: 'when_required',
        retry: { max_retries: 8, initial_delay_ms: 50, max_delay_ms: 500 },
      });
      const config = writeConfig(dir, 'backup.yaml', {
        backup_id: 'sfault',
        source: { bootstrap_servers: CLUSTER_LIST, topics: { include: [topic] } },
        storage: storage(proxy.url),
        backup: {
          mode: 'continuous',
          segment_max_interval_secs: 1,
          checkpoint_interval_secs: 1,
          poll_interval_ms: 200,
          circuit_breaker: { failure_threshold: 3, reset_timeout_secs: 1, half_open_requests: 1 },
        },
      });
      /** Records the newest generation lists (status reads storage only; straight from moto). */
      const listed = async () => {
        const d = await cli(['status', '--path', url, '--backup-id', 'sfault', '--format', 'json'], {
          ...env,
          AWS_ENDPOINT_URL_S3: S3_ENDPOINT,
        });
        if (d.code !== 0) throw new Error(`status exit ${d.code}: ${d.stderr.slice(-500)}`);
        return jsonOut<{ topics: { records: number }[] }>(d).topics.reduce((s, t) => s + t.records, 0);
      };
      const committed = async () =>
        [...(await partitionEnds(topic, [...Array(PARTITIONS).keys()])).values()].reduce(
          (s, e) => s + e.highWatermark,
          0,
        );
      const acked: AckedRecord[] = [];
      let round = 0;
      const produce = async () => {
        acked.push(
          ...(await produceAcked(topic, `s${round++}`, 600, {
            partitions: [0, 1, 2],
            bootstrap: CLUSTER,
            valueBytes: 200,
          })),
        );
      };
      const run = startRun(['backup', '-c', config, '--format', 'json'], env);
      let log = '';
      run.child.stderr!.on('data', (d) => {
        log += String(d);
      });
      const injectedBefore = () => proxy.faultsInjected;
      /** Injects the fault, produces, and waits until it has hit `hits` requests; then clears it. */
      const during = async (what: string, inject: () => void, hits: number) => {
        const start = injectedBefore();
        inject();
        await produce();
        await waitUntil(`${what} hit ${hits} storage requests`, () => {
          assert.equal(run.child.exitCode, null, `the backup runs (${what}): ${log.slice(-1500)}`);
          return proxy.faultsInjected - start >= hits;
        });
        proxy.clear();
      };
      try {
        await produce();
        await waitUntil('the backup lists its first records', async () => {
          assert.equal(run.child.exitCode, null, 'the backup runs');
          return (await listed()) > 0;
        });
        await during('503 answers', () => proxy.inject({ kind: 'status', status: 503 }), 6);
        await during('500 answers', () => proxy.inject({ kind: 'status', status: 500 }), 4);
        await during('stalls', () => proxy.inject({ kind: 'delay', ms: 2500 }, { every: 2 }), 4);
        await during(
          'lost answers to PUTs',
          () => proxy.inject({ kind: 'lose-answer' }, { match: (req) => req.method === 'PUT' }),
          4,
        );
        await during('connection resets', () => proxy.inject({ kind: 'drop' }), 4);
        await produce();
        const total = await committed();
        assert.equal(total, acked.length);
        await waitUntil(
          `the backup lists all ${total} records`,
          async () => {
            assert.equal(run.child.exitCode, null, 'the backup still runs');
            return (await listed()) >= total;
          },
          180_000,
        );
      } finally {
        proxy.clear();
        run.child.kill('SIGTERM');
      }
      const r = await run.done;
      assertOk(r, 'continuous backup through storage faults');
      assert.ok(proxy.lostAnswers.length >= 4, `answers were lost: ${proxy.lostAnswers.length}`);
      const direct = { ...env, AWS_ENDPOINT_URL_S3: S3_ENDPOINT };
      const v = await cli(['validate', '--path', url, '--backup-id', 'sfault', '--deep'], direct);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      const target = `${topic}-restored`;
      topics.push(target);
      await createClusterTopic(
        target,
        [...Array(PARTITIONS).keys()].map(() => [1, 2, 3]),
        { 'min.insync.replicas': '2' },
      );
      const restore = await cli(
        [
          'restore',
          '-c',
          writeConfig(dir, 'restore.yaml', {
            backup_id: 'sfault',
            target: { bootstrap_servers: CLUSTER_LIST },
            storage: storage(S3_ENDPOINT),
            restore: { topic_mapping: { [topic]: target } },
          }),
          '--format',
          'json',
        ],
        env,
      );
      assertOk(restore, 'restore');
      const [source, restored] = await Promise.all([
        dumpTopic(topic, { bootstrap: CLUSTER }),
        dumpTopic(target, { bootstrap: CLUSTER }),
      ]);
      assertRestoredExactly(source, restored, acked, 'continuous backup through storage faults');
    });
  });
});
