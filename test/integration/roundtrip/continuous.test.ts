/**
 * Continuous mode follows new records and new topics that match the patterns, rolls and lists
 * files as it goes, and a SIGTERM ends it with exit 0 and everything read listed.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cli, jsonOut, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, produceWithPerf, sleep, uniqueTopic } from '../../helpers/kafka.ts';
import { dumpTopic } from '../../helpers/peers.ts';

describe('continuous backup', { timeout: 300_000 }, () => {
  test('follows new data and new matching topics until stopped', async () => {
    const prefix = uniqueTopic('cont');
    const first = await createTopic(`${prefix}-a`, { partitions: 3 });
    await produceWithPerf(first, 5_000, 200);
    const dir = tempDir('continuous');
    const config = writeConfig(dir, 'backup.yaml', {
      backup_id: 'cont',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [`${prefix}-*`] } },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      backup: {
        mode: 'continuous',
        checkpoint_interval_secs: 1,
        poll_interval_ms: 200,
        segment_max_interval_secs: 2,
        max_concurrent_partitions: 2,
      },
    });
    const run = startCli(['backup', '-c', config, '--format', 'json']);
    await sleep(3000);
    await produceWithPerf(first, 3_000, 200);
    const second = await createTopic(`${prefix}-b`, { partitions: 2 });
    await produceWithPerf(second, 2_000, 200);
    await sleep(9000);
    run.child.kill('SIGTERM');
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.equal(jsonOut<{ state: string }>(r).state, 'complete');
    const d = jsonOut<{ topics: { name: string; records: number }[] }>(
      await cli(['describe', '--path', join(dir, 'backups'), '--backup-id', 'cont', '--format', 'json']),
    );
    assert.equal(d.topics.find((t) => t.name === first)?.records, (await dumpTopic(first)).length);
    assert.equal(
      d.topics.find((t) => t.name === second)?.records,
      (await dumpTopic(second)).length,
      'new topic followed',
    );
    const v = await cli(['validate', '--path', join(dir, 'backups'), '--backup-id', 'cont', '--deep']);
    assert.equal(v.code, 0, v.stdout);
  });
});
