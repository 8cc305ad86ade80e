/**
 * One writer per backup line: a second backup run on a line that a live run is writing is
 * refused with a clear error, and the first run completes untouched.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cli, jsonOut, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, produceWithPerf, sleep, uniqueTopic } from '../../helpers/kafka.ts';

describe('writers of a backup line', { timeout: 300_000 }, () => {
  test('a second writer is refused while the first holds the lease', async () => {
    const topic = await createTopic(uniqueTopic('writers'), { partitions: 2 });
    await produceWithPerf(topic, 20_000, 300);
    const dir = tempDir('writers');
    const config = writeConfig(dir, 'backup.yaml', {
      backup_id: 'writers',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      backup: { max_bytes_per_sec: 1_500_000 },
    });
    const first = startCli(['backup', '-c', config, '--format', 'json']);
    await sleep(1500);
    const second = await cli(['backup', '-c', config]);
    assert.equal(second.code, 2, second.stderr);
    assert.match(second.stderr, /backup line writers is being written by run \S+ \(host .*, pid \d+\)/);
    assert.match(second.stderr, /fix: wait for that run to finish/);
    const r = await first.done;
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.equal(jsonOut<{ records: number; state: string }>(r).records, 20_000);
    const v = await cli(['validate', '--path', join(dir, 'backups'), '--backup-id', 'writers', '--deep']);
    assert.equal(v.code, 0, v.stdout);
  });
});
