/**
 * KIP-320 on the real 3-broker cluster: an unclean leader election truncates a partition below
 * what a continuous backup had read, and the backup must detect it (Fetch's diverging epoch)
 * instead of appending the partition's new history to the lost one.
 *
 * Injected: a topic on brokers 1 (leader) and 2; broker 2 is paused (SIGSTOP) until the controller
 * drops it from the ISR; records r1 are produced to broker 1 alone and backed up; broker 1 is
 * killed, broker 2 continued, unclean.leader.election.enable set on the topic (and an unclean
 * election requested) until broker 2 leads with its shorter log; records r2 are produced at the
 * same offsets. Checked: the backup fails the topic with LOG_TRUNCATED naming the lost range and
 * ends with exit 4; the backup, restored and read with Kafka's Java consumer, holds r0 + r1 (what
 * it had read) and none of r2; the Java consumer reads r0 + r2 from the source.
 * Every step waits for an observable condition (ISR, leader, the backup's listed offsets), no
 * fixed sleeps.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { openExistingLine } from '../../../src/repository/line.ts';
import { openStorageUrl } from '../../../src/storage/open.ts';
import { cli, jsonOut, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { KAFKA_BOOTSTRAP, kafkaTool, lockCluster, REPO_ROOT, run, uniqueTopic } from '../../helpers/kafka.ts';
import { dumpTopic, produceSpec, text } from '../../helpers/peers.ts';
import { waitFor } from './topics.ts';

const BROKERS = ['127.0.0.1:19192', '127.0.0.1:19292', '127.0.0.1:19392'];
const without = (...ids: number[]) => BROKERS.filter((_, i) => !ids.includes(i + 1));
const services = (...args: string[]) =>
  run('bash', [join(REPO_ROOT, 'scripts/services.sh'), ...args], { timeoutMs: 300_000 });
const stateDir = process.env['KB_STATE_DIR'] ?? join(REPO_ROOT, '.services');
const brokerPid = (id: number) => Number(readFileSync(join(stateDir, `kafka-cluster-${id}/pid`), 'utf8'));

async function withAdmin<T>(brokers: string[], fn: (a: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ clientId: 'kb-test-unclean', bootstrapBrokers: brokers, retries: 2, timeout: 10_000 });
  try {
    return await fn(admin);
  } finally {
    await admin.close().catch(() => undefined);
  }
}

const partitionState = (brokers: string[], topic: string) =>
  withAdmin(brokers, async (a) => {
    const md = await a.metadata({ topics: [topic], forceUpdate: true });
    const p = md.topics.get(topic)?.partitions[0];
    return p ? { leader: p.leader, isr: [...p.isr].sort() } : undefined;
  });

describe('unclean leader election under a continuous backup (KIP-320)', { timeout: 900_000 }, () => {
  let unlock: (() => Promise<void>) | undefined;
  let paused = 0;

  before(async () => {
    unlock = await lockCluster();
    await services('start', 'kafka-cluster');
  });

  after(async () => {
    if (paused) process.kill(paused, 'SIGCONT');
    await services('stop', 'kafka-cluster');
    await unlock?.();
  });

  test('a log truncated below what the backup read is reported, never mixed with the new history', async () => {
    const topic = uniqueTopic('unclean');
    await withAdmin(BROKERS, (a) =>
      a.createTopics({
        topics: [topic],
        assignments: [{ partition: 0, brokers: [1, 2] }],
        configs: [{ name: 'min.insync.replicas', value: '1' }],
      }),
    );
    await waitFor('leader 1 with both replicas in sync', async () => {
      const s = await partitionState(BROKERS, topic);
      return s?.leader === 1 && s.isr.join() === '1,2';
    });
    const spec = (prefix: string, n: number) =>
      Array.from({ length: n }, (_, i) => ({ partition: 0, value: `${prefix}-${i}` }));
    await produceSpec(topic, spec('r0', 5), { bootstrap: BROKERS.join(',') });

    const dir = tempDir('unclean');
    const backupConfig = {
      backup_id: 'unclean',
      source: { bootstrap_servers: BROKERS, topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      backup: { mode: 'continuous', checkpoint_interval_secs: 1, poll_interval_ms: 200, segment_max_interval_secs: 1 },
    };
    const config = writeConfig(dir, 'backup.yaml', backupConfig);
    const listedEnd = async () => {
      const { manifest } = await openExistingLine(await openStorageUrl(join(dir, 'backups')), 'unclean');
      // what the line lists for the partition (a snapshot-mode snapshot's end offsets are its target)
      return manifest.topics[topic]?.partitions['0']?.next_offset;
    };
    const backup = startCli(['backup', '-c', config, '--format', 'json']);
    let stderr = '';
    backup.child.stderr!.on('data', (d) => {
      stderr += d;
    });
    let result: Awaited<typeof backup.done> | undefined;
    try {
      await waitFor('the backup to list r0', async () => (await listedEnd()) === 5);

      // broker 2 falls out of the ISR while paused
      paused = brokerPid(2);
      process.kill(paused, 'SIGSTOP');
      await waitFor(
        'the ISR to shrink to broker 1',
        async () => (await partitionState(without(2), topic))?.isr.join() === '1',
      );
      await produceSpec(topic, spec('r1', 5), { bootstrap: without(2).join(',') });
      await waitFor('the backup to list r1 (read from broker 1 only)', async () => (await listedEnd()) === 10);

      // broker 1 dies with r1; broker 2, which never had r1, is elected uncleanly
      process.kill(brokerPid(1), 'SIGKILL');
      process.kill(paused, 'SIGCONT');
      paused = 0;
      await withAdmin(without(1), (a) =>
        a.incrementalAlterConfigs({
          resources: [
            {
              resourceType: 2,
              resourceName: topic,
              configs: [{ name: 'unclean.leader.election.enable', configOperation: 0, value: 'true' }],
            },
          ],
        }),
      );
      await waitFor(
        'broker 2 to lead after an unclean election',
        async () => {
          if ((await partitionState(without(1), topic))?.leader === 2) return true;
          // the controller elects on the config change; ask for it as well, in case that was missed
          await kafkaTool('org.apache.kafka.tools.LeaderElectionCommand', [
            '--bootstrap-server',
            without(1).join(','),
            '--election-type',
            'UNCLEAN',
            '--topic',
            topic,
            '--partition',
            '0',
          ]).catch(() => undefined);
          return false;
        },
        240_000,
      );
      // the new history: more records than were lost, at the same offsets and beyond
      await produceSpec(topic, spec('r2', 8), { bootstrap: without(1).join(',') });
      await waitFor(
        'the backup to report the truncation',
        async () => /LOG_TRUNCATED|was truncated below/.test(stderr),
        240_000,
      );
    } finally {
      if (paused) process.kill(paused, 'SIGCONT');
      paused = 0;
      backup.child.kill('SIGTERM');
      result = await backup.done;
    }
    assert.equal(result.code, 4, `exit 4 (the topic failed, the run stopped cleanly): ${stderr.slice(-3000)}`);
    assert.match(
      stderr,
      new RegExp(`the log of ${topic}-0 was truncated below what the backup had read: offsets \\[5, 10\\)`),
    );
    const out = jsonOut<{ snapshot_id: string; state: string; failures: { topic: string; error: string }[] }>(result);
    assert.equal(out.state, 'failed');
    assert.equal(out.failures[0]?.topic, topic);
    assert.equal(await listedEnd(), 10, 'nothing of the new history is listed');

    await services('start', 'kafka-cluster'); // broker 1 back: it truncates to broker 2's log
    const source = (await dumpTopic(topic, { bootstrap: BROKERS.join(',') })).map((r) => text(r.value));
    assert.deepEqual(
      source,
      [...spec('r0', 5), ...spec('r2', 8)].map((r) => r.value),
      'the source holds r0 + r2',
    );

    // the backup holds what it read, r0 + r1, restored and read back by the Java consumer
    const target = `${topic}-restored`;
    const restoreConfig = writeConfig(dir, 'restore.yaml', {
      backup_id: 'unclean',
      snapshot: out.snapshot_id,
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      restore: { topic_mapping: { [topic]: target } },
    });
    const r = await cli(['restore', '-c', restoreConfig, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    const restored = (await dumpTopic(target)).map((x) => text(x.value));
    assert.deepEqual(
      restored,
      [...spec('r0', 5), ...spec('r1', 5)].map((x) => x.value),
    );

    // a later run on the line knows the epoch it read under (the line's leader_epoch), so it too
    // refuses the new history beyond offset 10 instead of appending r2-5.. to r1
    const again = await cli([
      'backup',
      '-c',
      writeConfig(dir, 'again.yaml', { ...backupConfig, backup: { mode: 'snapshot' } }),
      '--format',
      'json',
    ]);
    assert.equal(again.code, 4, again.stderr.slice(-3000));
    assert.match(
      again.stderr,
      new RegExp(`the log of ${topic}-0 was truncated below what the backup had read: offsets \\[5, 10\\)`),
    );
    assert.equal(await listedEnd(), 10, 'nothing of the new history is listed by the next run either');
  });
});
