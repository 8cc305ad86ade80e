/**
 * The run summary the operator reads (KAFKA_BACKUP_SUMMARY_FILE, the container's termination
 * message): the real CLI against real Kafka and the filesystem writes one JSON line with the same
 * figures it prints, and on failure the exit code and the stable error code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cli, jsonOut, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, deleteTopics, KAFKA_BOOTSTRAP, uniqueTopic } from '../../helpers/kafka.ts';
import { produceSpec } from '../../helpers/peers.ts';

const topics: string[] = [];
after(() => deleteTopics(topics));

test('backup and restore write their figures; a failed run writes its exit code and error code', async () => {
  const dir = tempDir('summary');
  const topic = await createTopic(uniqueTopic('summary'), { partitions: 2 });
  topics.push(topic);
  await produceSpec(
    topic,
    Array.from({ length: 40 }, (_, i) => ({ partition: i % 2, key: `k${i}`, value: `v${i}` })),
  );
  const summaryFile = join(dir, 'termination-log');
  const config = writeConfig(dir, 'backup.yaml', {
    backup_id: 'summary',
    source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
    storage: { url: `file://${dir}/store` },
  });
  const r = await cli(['backup', '-c', config, '--format', 'json'], { KAFKA_BACKUP_SUMMARY_FILE: summaryFile });
  assert.equal(r.code, 0, r.stderr);
  const printed = jsonOut<Record<string, unknown>>(r);
  const text = readFileSync(summaryFile, 'utf8');
  assert.equal(text.trim().split('\n').length, 1, 'one line');
  const summary = JSON.parse(text) as Record<string, unknown>;
  assert.equal(summary['ok'], true);
  assert.equal(summary['command'], 'backup');
  assert.equal(summary['records'], 40);
  for (const k of ['snapshot_id', 'records', 'raw_bytes', 'stored_bytes', 'duration_ms'])
    assert.deepEqual(summary[k], printed[k], k);
  assert.ok(Buffer.byteLength(text) < 4096);

  const target = uniqueTopic('summary-copy');
  topics.push(target);
  const restoreConfig = writeConfig(dir, 'restore.yaml', {
    backup_id: 'summary',
    target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
    storage: { url: `file://${dir}/store` },
    restore: { topics: { include: [topic] }, topic_mapping: { [topic]: target } },
  });
  const rr = await cli(['restore', '-c', restoreConfig, '--format', 'json'], {
    KAFKA_BACKUP_SUMMARY_FILE: summaryFile,
  });
  assert.equal(rr.code, 0, rr.stderr);
  const restored = JSON.parse(readFileSync(summaryFile, 'utf8')) as Record<string, unknown>;
  assert.equal(restored['command'], 'restore');
  assert.equal(restored['records'], 40);
  assert.equal(restored['snapshot_id'], summary['snapshot_id']);
  assert.equal(typeof restored['restore_id'], 'string');

  const bad = writeConfig(dir, 'bad.yaml', {
    backup_id: 'summary',
    source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: ['no-such-topic-*'] } },
    storage: { url: `file://${dir}/store` },
  });
  const f = await cli(['backup', '-c', bad], { KAFKA_BACKUP_SUMMARY_FILE: summaryFile });
  assert.equal(f.code, 2, f.stderr);
  const failed = JSON.parse(readFileSync(summaryFile, 'utf8')) as Record<string, unknown>;
  assert.deepEqual([failed['ok'], failed['exit_code'], failed['code']], [false, 2, 'NOTHING_MATCHED']);
  assert.match(String(failed['error']), /no-such-topic/);
});
