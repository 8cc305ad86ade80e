/**
 * kill -9 of a restore while its batches are appended on the leader but not yet replicated
 * (issue 14 item 3), on the 3-broker cluster.
 *
 * Injected: a follower of the target partition is stopped (SIGSTOP), so with acks=all the
 * leader appends the restore's batches (log end offset moves) but the high watermark stays
 * until the follower leaves the ISR (fenced after broker.session.timeout.ms, 9 s, in KRaft) or
 * comes back. The restore is killed
 * in that window and run again at once. Checked: the re-run does not send the in-doubt
 * records again; the target holds every source record exactly once (Java consumer).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { readLogEnds } from '../../../src/restore/in-doubt.ts';
import { cli, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import {
  createTopic,
  deleteTopics,
  KAFKA_BOOTSTRAP,
  lockCluster,
  REPO_ROOT,
  run,
  sleep,
  uniqueTopic,
} from '../../helpers/kafka.ts';
import { type DumpedRecord, dumpTopic, produceSpec, type SpecLine } from '../../helpers/peers.ts';

const CLUSTER = '127.0.0.1:19192,127.0.0.1:19292,127.0.0.1:19392';
const STATE_DIR = process.env['KB_STATE_DIR'] ?? join(REPO_ROOT, '.services');
const services = (...args: string[]) =>
  run('bash', [join(REPO_ROOT, 'scripts/services.sh'), ...args], { timeoutMs: 300_000 });
const brokerPid = (id: number) => Number(readFileSync(join(STATE_DIR, `kafka-cluster-${id}`, 'pid'), 'utf8'));
const view = (r: DumpedRecord) => `${r.partition}|${r.timestamp}|${r.key}|${r.value}|${JSON.stringify(r.headers)}`;

describe('restore killed while its appends are not yet replicated', { timeout: 600_000 }, () => {
  let topic: string;
  let target: string;
  let dir: string;
  let source: DumpedRecord[];
  let admin: Admin;
  let stopped: number | null = null;

  let unlock: (() => Promise<void>) | undefined;

  before(async () => {
    // no other test file restarts or stops the cluster meanwhile
    unlock = await lockCluster();
    // shared with the other cluster tests: started if needed, left running
    await services('start', 'kafka-cluster');
    admin = new Admin({ clientId: 'kb-test', bootstrapBrokers: CLUSTER.split(',') });
    topic = await createTopic(uniqueTopic('indoubt'), { partitions: 1 });
    const spec: SpecLine[] = [];
    for (let i = 0; i < 2_000; i++) {
      spec.push({ partition: 0, key: `k${i}`, value: `value-${i}`, timestamp: 1_700_000_000_000 + i });
      if (i % 100 === 99) spec.push({ flush: true });
    }
    await produceSpec(topic, spec);
    source = await dumpTopic(topic);
    dir = tempDir('indoubt');
    const b = await cli([
      'backup',
      '-c',
      writeConfig(dir, 'backup.yaml', {
        backup_id: 'indoubt',
        source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
        storage: { backend: 'filesystem', path: join(dir, 'backups') },
      }),
    ]);
    assert.equal(b.code, 0, b.stderr);
    target = `${topic}-target`;
    await admin.createTopics({
      topics: [target],
      partitions: 1,
      replicas: 3,
      configs: [
        { name: 'retention.ms', value: '-1' },
        { name: 'min.insync.replicas', value: '1' },
      ],
    });
    await sleep(2000);
  });

  after(async () => {
    if (stopped !== null) process.kill(brokerPid(stopped), 'SIGCONT');
    await deleteTopics([topic]).catch(() => undefined);
    await admin.deleteTopics({ topics: [target] }).catch(() => undefined);
    await admin.close();
    await unlock?.();
  });

  test('the re-run waits for the in-doubt appends instead of writing them again', async (t) => {
    const md = await admin.metadata({ topics: [target], forceUpdate: true });
    const p0 = md.topics.get(target)!.partitions[0]!;
    const follower = p0.replicas.find((r) => r !== p0.leader)!;
    const config = writeConfig(dir, 'restore.yaml', {
      backup_id: 'indoubt',
      // the leader only: the restore's metadata requests then do not go to the stopped follower
      target: { bootstrap_servers: [CLUSTER.split(',')[p0.leader - 1]!] },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      restore: { topic_mapping: { [topic]: target }, max_records_per_sec: 400 },
    });
    const first = startCli(['restore', '-c', config]);
    const ends = () => readLogEnds(admin, async () => p0.leader, target, [0]).then((m) => m.get(0)!);
    const deadline = Date.now() + 60_000;
    // the restore runs (producer id obtained, first batches committed); then the follower stops
    let e = await ends();
    while (Date.now() < deadline && e.highWatermark < 200) {
      await sleep(20);
      e = await ends();
    }
    process.kill(brokerPid(follower), 'SIGSTOP');
    stopped = follower;
    while (Date.now() < deadline && (e.logEnd ?? 0) <= e.highWatermark) {
      await sleep(20);
      e = await ends();
    }
    first.child.kill('SIGKILL');
    await first.done;
    e = await ends();
    if (!(e.logEnd !== null && e.logEnd > e.highWatermark)) {
      // The fault was not injected: on a loaded machine the stopped follower was fenced (9 s)
      // before the kill, and the high watermark moved past the appends. Nothing is in doubt, so
      // the property cannot be checked this time; say so rather than pass or fail on it.
      process.kill(brokerPid(follower), 'SIGCONT');
      stopped = null;
      t.skip(`the appends could not be held above the high watermark (${JSON.stringify(e)})`);
      return;
    }
    // run again at once, with the follower still stopped; let it go later
    const second = startCli(['restore', '-c', config, '--format', 'json']);
    const seen: string[] = [];
    second.child.stderr!.on('data', (d) => seen.push(String(d)));
    // The follower comes back once the re-run says it waits, or after 20 s. (Left stopped, it
    // would be fenced after broker.session.timeout.ms, 9 s, and leave the ISR: the high
    // watermark then moves on without it, which also resolves the doubt.)
    const until = Date.now() + 20_000;
    while (Date.now() < until && !/waiting for records appended/.test(seen.join(''))) await sleep(100);
    process.kill(brokerPid(follower), 'SIGCONT');
    stopped = null;
    const r = await second.done;
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    // A re-run slowed by requests to the stopped broker (metadata, configs) may look only after
    // the follower was fenced and the doubt resolved; then the wait was not exercised this time.
    if (!/waiting for records appended by the interrupted run/.test(r.stderr))
      t.diagnostic('the re-run looked after the in-doubt appends had resolved; the wait was not exercised');
    const restored = await dumpTopic(target, { bootstrap: CLUSTER });
    assert.deepEqual(restored.map(view), source.map(view), 'every record exactly once (Java consumer)');
  });
});
