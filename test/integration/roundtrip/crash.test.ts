/**
 * Crash safety: kill -9 of backup and restore at several points, then the same command again,
 * must give exactly the source's records once each (checked with Kafka's Java consumer).
 * Also: graceful SIGTERM (snapshot: exit 130 and resumable; continuous: exit 0) and
 * incremental runs whose snapshots each restore to what the source held at their time.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { cli, jsonOut, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, produceWithPerf, sleep, uniqueTopic, withAdmin } from '../../helpers/kafka.ts';
import { type DumpedRecord, dumpTopic } from '../../helpers/peers.ts';

const view = (r: DumpedRecord) => `${r.partition}|${r.timestamp}|${r.key}|${r.value}|${JSON.stringify(r.headers)}`;

function assertSameRecords(actual: DumpedRecord[], expected: DumpedRecord[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: record count`);
  const a = actual.map(view);
  const e = expected.map(view);
  for (let i = 0; i < e.length; i++) if (a[i] !== e[i]) assert.fail(`${what}: record ${i} differs (partition order)`);
}

/**
 * Starts the command and kills it with SIGKILL once `progressed()` says it made progress (plus
 * `extraMs`), so the kill lands mid-run however loaded the machine is.
 */
async function killWhen(args: string[], progressed: () => Promise<boolean>, extraMs: number): Promise<void> {
  const { child, done } = startCli(args);
  let exited = false;
  void done.then(() => {
    exited = true;
  });
  const deadline = Date.now() + 60_000;
  while (!exited && Date.now() < deadline && !(await progressed())) await sleep(50);
  await sleep(extraMs);
  child.kill('SIGKILL');
  const r = await done;
  assert.ok(
    r.signal === 'SIGKILL' || r.code === 0,
    `killed run ended with ${r.code ?? r.signal}: ${r.stderr.slice(-1500)}`,
  );
}

/** Commits of the line so far (one per checkpoint). */
function manifestCount(dir: string, backupId: string): number {
  try {
    return readdirSync(join(dir, 'backups', backupId, 'log')).length;
  } catch {
    return 0;
  }
}

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

describe('crash safety', { timeout: 600_000 }, () => {
  let topic: string;
  let dir: string;
  let source: DumpedRecord[];
  const records = 60_000;

  before(async () => {
    topic = await createTopic(uniqueTopic('crash'), { partitions: 4 });
    await produceWithPerf(topic, records, 300, { producerProps: { 'batch.size': '8192', 'linger.ms': '0' } });
    source = await dumpTopic(topic);
    assert.equal(source.length, records);
    dir = tempDir('crash');
  });

  test('backup killed with -9 at several points, then re-run, holds every record once', async () => {
    const config = writeConfig(dir, 'backup.yaml', {
      backup_id: 'crash',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      backup: {
        max_batch_bytes: 131_072,
        fetch_max_bytes: 524_288,
        segment_max_bytes: 1_048_576,
        checkpoint_interval_secs: 1,
        max_bytes_per_sec: 4_000_000,
        max_concurrent_partitions: 2,
        compression: 'none',
      },
    });
    for (const extra of [0, 300, 700]) {
      const before = manifestCount(dir, 'crash');
      await killWhen(['backup', '-c', config], async () => manifestCount(dir, 'crash') >= before + 2, extra);
    }
    const listed = jsonOut<{ backups: { backup_id: string; snapshots: { state: string }[] }[] }>(
      await cli(['list', '--path', join(dir, 'backups'), '--format', 'json']),
    );
    assert.ok(
      listed.backups.find((b) => b.backup_id === 'crash')!.snapshots.some((s) => s.state.startsWith('in-progress')),
      'a killed run leaves an in-progress snapshot',
    );
    const final = await cli(['backup', '-c', config, '--format', 'json']);
    assert.equal(final.code, 0, final.stderr);
    const result = jsonOut<{ state: string; records: number }>(final);
    assert.equal(result.state, 'complete');
    assert.ok(result.records < records, 'the last run resumed instead of starting over');
    const v = await cli(['validate', '--path', join(dir, 'backups'), '--backup-id', 'crash', '--deep']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const d = jsonOut<{ totals: { records: number } }>(
      await cli(['describe', '--path', join(dir, 'backups'), '--backup-id', 'crash', '--format', 'json']),
    );
    assert.equal(d.totals.records, records, 'no duplicate and no gap in the backup');
  });

  test('restore killed with -9 at several points, then re-run, produces every record once', async () => {
    const target = `${topic}-restored`;
    const config = writeConfig(dir, 'restore.yaml', {
      backup_id: 'crash',
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      restore: { topic_mapping: { [topic]: target }, max_records_per_sec: 15_000 },
    });
    for (const extra of [0, 200, 500]) {
      const before = await endOffsetSum(target);
      await killWhen(['restore', '-c', config], async () => (await endOffsetSum(target)) >= before + 3000, extra);
    }
    const partial = await dumpTopic(target);
    assert.ok(partial.length > 0 && partial.length < records, `the kills happened mid-restore (${partial.length})`);
    const r = await cli(['restore', '-c', config, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assertSameRecords(await dumpTopic(target), source, 'restored topic');
    // running it once more changes nothing
    const again = await cli(['restore', '-c', config, '--format', 'json']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await dumpTopic(target)).length, records);
  });

  test('SIGTERM stops a snapshot backup resumably (exit 130), a re-run completes the same snapshot', async () => {
    const config = writeConfig(dir, 'term.yaml', {
      backup_id: 'term',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      backup: {
        max_bytes_per_sec: 2_000_000,
        max_batch_bytes: 131_072,
        fetch_max_bytes: 524_288,
        segment_max_bytes: 1_048_576,
      },
    });
    const { child, done } = startCli(['backup', '-c', config]);
    await sleep(1500);
    child.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 130, r.stderr);
    const listed = jsonOut<{ backups: { backup_id: string; snapshots: { id: string; state: string }[] }[] }>(
      await cli(['list', '--path', join(dir, 'backups'), '--format', 'json']),
    );
    const line = listed.backups.find((l) => l.backup_id === 'term')!;
    const interrupted = line.snapshots.find((s) => s.state === 'interrupted');
    assert.ok(interrupted, 'snapshot marked interrupted');
    const again = await cli(['backup', '-c', config, '--format', 'json']);
    assert.equal(again.code, 0, again.stderr);
    const res = jsonOut<{ snapshot_id: string; state: string }>(again);
    assert.equal(res.snapshot_id, interrupted.id, 'the same snapshot was resumed');
    const d = jsonOut<{ totals: { records: number } }>(
      await cli(['describe', '--path', join(dir, 'backups'), '--backup-id', 'term', '--format', 'json']),
    );
    assert.equal(d.totals.records, records);
  });

  test('a continuous backup stopped by SIGTERM exits 0 with everything it read listed', async () => {
    const config = writeConfig(dir, 'cont.yaml', {
      backup_id: 'cont',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      backup: { mode: 'continuous', checkpoint_interval_secs: 1 },
    });
    const { child, done } = startCli(['backup', '-c', config]);
    await sleep(5000);
    child.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    const v = await cli(['validate', '--path', join(dir, 'backups'), '--backup-id', 'cont', '--deep']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  test('a second run is incremental, and each snapshot restores to its own point', async () => {
    const config = join(dir, 'backup.yaml');
    const first = jsonOut<{ snapshot_id: string }>(await cli(['backup', '-c', config, '--format', 'json']));
    await produceWithPerf(topic, 5_000, 300);
    const second = await cli(['backup', '-c', config, '--format', 'json']);
    assert.equal(second.code, 0, second.stderr);
    const r2 = jsonOut<{ records: number; snapshot_id: string }>(second);
    assert.equal(r2.records, 5_000, 'only the new records were read');
    const all = await dumpTopic(topic);
    for (const [snap, expected, suffix] of [
      [first.snapshot_id, source, 'snap1'],
      [r2.snapshot_id, all, 'snap2'],
    ] as const) {
      const target = `${topic}-${suffix}`;
      const rc = writeConfig(dir, `restore-${suffix}.yaml`, {
        backup_id: 'crash',
        snapshot: snap,
        target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
        storage: { backend: 'filesystem', path: join(dir, 'backups') },
        restore: { topic_mapping: { [topic]: target } },
      });
      const r = await cli(['restore', '-c', rc]);
      assert.equal(r.code, 0, r.stderr);
      assertSameRecords(await dumpTopic(target), expected, `snapshot ${suffix}`);
    }
  });
});
