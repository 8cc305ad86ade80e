/**
 * A broker of a 3-broker cluster is stopped and started again during a backup; the backup
 * follows the leader changes and completes with exactly the source's records. Then the whole
 * cluster restarts and a restore begins at once: while the brokers still load their producer-id
 * blocks InitProducerId answers COORDINATOR_LOAD_IN_PROGRESS, and the restore's Produce
 * requests go to three leaders, several partitions per request.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { cli, jsonOut, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { kafkaTool, lockCluster, REPO_ROOT, run, sleep, uniqueTopic } from '../../helpers/kafka.ts';
import { dumpTopic } from '../../helpers/peers.ts';

const CLUSTER = '127.0.0.1:19192,127.0.0.1:19292,127.0.0.1:19392';
const services = (...args: string[]) =>
  run('bash', [join(REPO_ROOT, 'scripts/services.sh'), ...args], { timeoutMs: 300_000 });

describe('backup across a broker restart, restore as the cluster starts', { timeout: 600_000 }, () => {
  let topic: string;
  let backupDir: string | undefined;
  const records = 150_000;

  let unlock: (() => Promise<void>) | undefined;

  before(async () => {
    // no other test file restarts or stops the cluster meanwhile
    unlock = await lockCluster();
    await services('start', 'kafka-cluster');
    topic = uniqueTopic('failover');
    const admin = new Admin({ clientId: 'kb-test', bootstrapBrokers: CLUSTER.split(',') });
    try {
      await admin.createTopics({
        topics: [topic],
        partitions: 6,
        replicas: 3,
        configs: [{ name: 'min.insync.replicas', value: '2' }],
      });
    } finally {
      await admin.close();
    }
    await sleep(2000);
    await kafkaTool(
      'org.apache.kafka.tools.ProducerPerformance',
      [
        '--topic',
        topic,
        '--num-records',
        String(records),
        '--record-size',
        '200',
        '--throughput',
        '-1',
        '--producer-props',
        `bootstrap.servers=${CLUSTER}`,
        'acks=all',
        'batch.size=16384',
      ],
      300_000,
    );
  });

  after(async () => {
    await services('stop', 'kafka-cluster');
    await unlock?.();
  });

  test('the backup completes exactly while broker 2 restarts', async () => {
    const dir = tempDir('failover');
    const config = writeConfig(dir, 'backup.yaml', {
      backup_id: 'failover',
      source: { bootstrap_servers: CLUSTER.split(','), topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      backup: { max_bytes_per_sec: 4_000_000, max_batch_bytes: 262_144, fetch_max_bytes: 1_048_576 },
    });
    const run1 = startCli(['backup', '-c', config, '--format', 'json']);
    await sleep(2500);
    // the services' state directory: KB_STATE_DIR when the services were started from elsewhere
    const pidFile = join(process.env['KB_STATE_DIR'] ?? join(REPO_ROOT, '.services'), 'kafka-cluster-2/pid');
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    await sleep(4000);
    await services('start', 'kafka-cluster');
    const r = await run1.done;
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    const result = jsonOut<{ state: string; records: number }>(r);
    assert.equal(result.state, 'complete');
    const source = await dumpTopic(topic, { bootstrap: CLUSTER });
    assert.equal(source.length, records);
    const d = jsonOut<{ totals: { records: number } }>(
      await cli(['describe', '--path', join(dir, 'backups'), '--backup-id', 'failover', '--format', 'json']),
    );
    assert.equal(d.totals.records, records, 'every record once');
    const v = await cli(['validate', '--path', join(dir, 'backups'), '--backup-id', 'failover', '--deep']);
    assert.equal(v.code, 0, v.stdout);
    backupDir = dir;
  });

  test('a restore started as the cluster comes back writes every record to the right partition, in order', async () => {
    assert.ok(backupDir, 'needs the backup of the previous test');
    await services('stop', 'kafka-cluster');
    await services('start', 'kafka-cluster');
    const target = `${topic}-restored`;
    const config = writeConfig(backupDir, 'restore.yaml', {
      backup_id: 'failover',
      target: { bootstrap_servers: CLUSTER.split(',') },
      storage: { backend: 'filesystem', path: join(backupDir, 'backups') },
      restore: { topic_mapping: { [topic]: target } },
    });
    const r = await cli(['restore', '-c', config, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.equal(jsonOut<{ records: number }>(r).records, records);
    const [source, restored] = await Promise.all([
      dumpTopic(topic, { bootstrap: CLUSTER }),
      dumpTopic(target, { bootstrap: CLUSTER }),
    ]);
    assert.equal(restored.length, records);
    const shape = (x: (typeof source)[number]) => `${x.partition}/${x.offset}/${x.timestamp}/${x.key}/${x.value}`;
    assert.deepEqual(restored.map(shape), source.map(shape), 'same records at the same partitions and offsets');
  });
});
