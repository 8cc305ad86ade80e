/**
 * Restore checks against the real broker, through the CLI (issue 14 items 3 and 5):
 * - a foreign producer (Kafka's Java producer) writing into the target partition while the
 *   restore runs is reported (exit 3), not hidden in the offset map;
 * - an existing target topic with message.timestamp.type=LogAppendTime is refused (exit 2)
 *   unless restore.allow_log_append_time_target is set;
 * - a restore killed with -9, re-run after a newer snapshot appeared, resumes the interrupted
 *   snapshot: the target holds every record of the first snapshot exactly once (Java consumer).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cli, jsonOut, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, deleteTopics, KAFKA_BOOTSTRAP, sleep, uniqueTopic, withAdmin } from '../../helpers/kafka.ts';
import { type DumpedRecord, dumpTopic, produceSpec, type SpecLine } from '../../helpers/peers.ts';

const view = (r: DumpedRecord) => `${r.partition}|${r.timestamp}|${r.key}|${r.value}|${JSON.stringify(r.headers)}`;

async function endOffsetSum(topic: string): Promise<number> {
  return withAdmin(async (admin) => {
    const md = await admin.metadata({ topics: [topic] }).catch(() => null);
    const n = md?.topics.get(topic)?.partitionsCount ?? 0;
    if (n === 0) return 0;
    const res = await admin.listOffsets({
      topics: [{ name: topic, partitions: [...Array(n).keys()].map((p) => ({ partitionIndex: p, timestamp: -1n })) }],
    });
    return res[0]!.partitions.reduce((s, p) => s + Number(p.offset), 0);
  }).catch(() => 0);
}

function spec(from: number, count: number, partitions: number): SpecLine[] {
  const out: SpecLine[] = [];
  for (let i = from; i < from + count; i++) {
    out.push({ partition: i % partitions, key: `k${i}`, value: `value-${i}`, timestamp: 1_700_000_000_000 + i });
    if (i % 100 === 99) out.push({ flush: true });
  }
  return out;
}

describe('restore checks', { timeout: 600_000 }, () => {
  let topic: string;
  let dir: string;
  let backupConfig: string;
  let source: DumpedRecord[];
  const topics: string[] = [];
  const records = 6_000;

  before(async () => {
    topic = await createTopic(uniqueTopic('rcheck'), { partitions: 2 });
    topics.push(topic);
    await produceSpec(topic, spec(0, records, 2));
    source = await dumpTopic(topic);
    assert.equal(source.length, records);
    dir = tempDir('rcheck');
    backupConfig = writeConfig(dir, 'backup.yaml', {
      backup_id: 'rcheck',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
    });
    const b = await cli(['backup', '-c', backupConfig]);
    assert.equal(b.code, 0, b.stderr);
  });

  after(async () => {
    await deleteTopics(topics).catch(() => undefined);
  });

  const restoreConfig = (name: string, target: string, restore: Record<string, unknown> = {}) =>
    writeConfig(dir, name, {
      backup_id: 'rcheck',
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      restore: { topic_mapping: { [topic]: target }, ...restore },
    });

  test('a foreign producer writing into the target during the restore is reported (exit 3)', async () => {
    const target = `${topic}-foreign`;
    topics.push(target);
    // slow enough (6,000 records at 250/s: 24 s) that the Java producer's JVM, started once 500
    // are in, writes while the restore still runs even on a loaded machine (at 1,000/s it did not)
    const config = restoreConfig('foreign.yaml', target, { max_records_per_sec: 250 });
    const { done } = startCli(['restore', '-c', config, '--format', 'json']);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && (await endOffsetSum(target)) < 500) await sleep(50);
    // Kafka's Java producer writes 3 records into partition 0 while the restore runs
    await produceSpec(
      target,
      [0, 1, 2].map((i) => ({ partition: 0, key: `foreign-${i}`, value: 'x' })),
    );
    const r = await done;
    assert.equal(r.code, 3, `exit code (stderr: ${r.stderr.slice(-1500)})`);
    assert.match(r.stderr, /another (producer|writer)/);
    assert.match(r.stderr, new RegExp(`${target}-0`));
  });

  test('an existing target topic with LogAppendTime is refused unless allowed', async () => {
    const target = await createTopic(`${topic}-lat`, {
      partitions: 2,
      configs: { 'message.timestamp.type': 'LogAppendTime' },
    });
    topics.push(target);
    const refused = await cli(['restore', '-c', restoreConfig('lat.yaml', target)]);
    assert.equal(refused.code, 2, `exit code (stderr: ${refused.stderr.slice(-1500)})`);
    assert.match(refused.stderr, /LogAppendTime/);
    assert.match(refused.stderr, /allow_log_append_time_target/);
    assert.equal(await endOffsetSum(target), 0, 'nothing was written');
    const allowed = await cli([
      'restore',
      '-c',
      restoreConfig('lat-allowed.yaml', target, { allow_log_append_time_target: true }),
    ]);
    assert.equal(allowed.code, 0, allowed.stderr.slice(-1500));
    const restored = await dumpTopic(target);
    assert.equal(restored.length, records);
    // the broker stamped every record with its own clock, as the option's documentation says
    assert.ok(restored.every((r) => r.timestamp > 1_700_000_000_000 + records));
  });

  test('re-running a restore killed with -9 after a newer snapshot appeared resumes the interrupted snapshot', async () => {
    const target = `${topic}-resume`;
    topics.push(target);
    const config = restoreConfig('resume.yaml', target, { max_records_per_sec: 1_500 });
    const { child, done } = startCli(['restore', '-c', config]);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && (await endOffsetSum(target)) < 1_500) await sleep(50);
    child.kill('SIGKILL');
    const killed = await done;
    assert.equal(killed.signal, 'SIGKILL', killed.stderr.slice(-1500));
    const partial = await endOffsetSum(target);
    assert.ok(partial > 0 && partial < records, `killed mid-restore (${partial} of ${records})`);
    // more records in the source, and a second snapshot of the line
    await produceSpec(topic, spec(records, 1_000, 2));
    const second = await cli(['backup', '-c', backupConfig, '--format', 'json']);
    assert.equal(second.code, 0, second.stderr);
    // the same restore config (snapshot: latest) again
    const r = await cli(['restore', '-c', config, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr.slice(-1500));
    const res = jsonOut<{ resumed: boolean; snapshot_id: string }>(r);
    assert.equal(res.resumed, true, 'the interrupted restore was resumed');
    const restored = await dumpTopic(target);
    assert.deepEqual(
      restored.map(view),
      source.map(view),
      'every record of the first snapshot exactly once (Java consumer)',
    );
  });
});
