/**
 * `status` reads a running and a finished backup (and a restore) from storage only: lease holder,
 * manifest generation and checkpoint age, snapshot state, per-topic progress; `--watch` refreshes
 * until the run ends. Also: --format json for a finished backup is one JSON document.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BackupStatus } from '../../../src/cli/status.ts';
import { cli, jsonOut, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import {
  createTopic,
  deleteTopics,
  KAFKA_BOOTSTRAP,
  produceWithPerf,
  sleep,
  uniqueTopic,
} from '../../helpers/kafka.ts';

const RECORDS = 20_000;

describe('status command', { timeout: 180_000 }, () => {
  let topic: string;
  let dir: string;
  let store: string;

  before(async () => {
    topic = await createTopic(uniqueTopic('status'), { partitions: 2 });
    await produceWithPerf(topic, RECORDS, 300);
    dir = tempDir('status');
    store = join(dir, 'backups');
  });
  after(() => deleteTopics([topic, `${topic}-restored`]));

  const status = async (...extra: string[]) => {
    const r = await cli(['status', '--path', store, '--backup-id', 'st', '--format', 'json', ...extra]);
    assert.equal(r.code, 0, r.stderr);
    return jsonOut<BackupStatus>(r);
  };

  test('a running backup, --watch until it ends, then the finished state', async () => {
    const config = writeConfig(dir, 'backup.yaml', {
      backup_id: 'st',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: store },
      backup: {
        max_bytes_per_sec: 1_000_000,
        max_batch_bytes: 131_072,
        fetch_max_bytes: 524_288,
        segment_max_bytes: 1_048_576,
        checkpoint_interval_secs: 1,
      },
    });
    const { child, done } = startCli(['backup', '-c', config, '--format', 'json']);
    // wait for a checkpoint after the first
    let running: BackupStatus | undefined;
    for (let i = 0; i < 60 && child.exitCode === null; i++) {
      await sleep(250);
      const r = await cli(['status', '--path', store, '--backup-id', 'st', '--format', 'json']);
      if (r.code !== 0) continue; // no generation yet
      const s = jsonOut<BackupStatus>(r);
      if (s.manifest.generation >= 2 && s.progress.offsets_done > 0) {
        running = s;
        break;
      }
    }
    assert.ok(running, 'status saw the backup running');
    assert.equal(running.running, true);
    assert.equal(running.lease?.pid, child.pid, 'lease holder is the backup process');
    assert.equal(running.lease?.expired, false);
    assert.ok(running.lease!.expires_in_secs > 0);
    assert.equal(running.snapshot?.state, 'in-progress');
    assert.ok(running.manifest.checkpoint_age_secs < 10, `checkpoint age ${running.manifest.checkpoint_age_secs}`);
    assert.equal(running.topics.length, 1);
    const t = running.topics[0]!;
    assert.equal(t.topic, topic);
    assert.equal(t.partitions, 2);
    assert.equal(t.offsets_total, RECORDS, 'end offsets of the snapshot');
    assert.ok(t.offsets_remaining > 0 && t.offsets_done > 0 && t.percent < 100, JSON.stringify(t));

    const watch = cli([
      'status',
      '--path',
      store,
      '--backup-id',
      'st',
      '--watch',
      '--interval',
      '1',
      '--format',
      'json',
    ]);
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    const w = await watch;
    assert.equal(w.code, 0, w.stderr);
    const docs = w.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as BackupStatus);
    assert.ok(docs.length >= 2, `watch refreshed (${docs.length} documents)`);
    assert.equal(docs[0]!.running, true);
    const last = docs[docs.length - 1]!;
    assert.equal(last.running, false, '--watch ends when the run ends');
    assert.equal(last.snapshot?.state, 'complete');

    const fin = await status();
    assert.equal(fin.lease, null, 'the lease was released');
    assert.equal(fin.progress.percent, 100);
    assert.equal(fin.progress.offsets_remaining, 0);
    assert.equal(fin.topics[0]!.records, RECORDS);
    assert.ok(fin.topics[0]!.files >= 2);
    const text = await cli(['status', '--path', store, '--backup-id', 'st']);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /not running \(no lease\)/);
    assert.match(text.stdout, /\(snapshot, complete\)/);
    assert.match(text.stdout, new RegExp(`${topic}\\s+2\\s+${RECORDS}\\s+${RECORDS}\\s+0\\s+100`));
  });

  test('restore state: plan.json and report.json; unknown ids exit 2', async () => {
    const config = writeConfig(dir, 'restore.yaml', {
      backup_id: 'st',
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage: { backend: 'filesystem', path: store },
      restore: { topic_mapping: { [topic]: `${topic}-restored` }, restore_id: 'r1' },
    });
    const r = await cli(['restore', '-c', config, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const s = await status('--restore-id', 'r1');
    assert.deepEqual(
      s.restores.map((x) => [x.restore_id, x.plan, x.report, x.offset_map, x.state, x.records]),
      [['r1', true, true, true, 'finished', RECORDS]],
    );
    const all = await status();
    assert.deepEqual(
      all.restores.map((x) => x.restore_id),
      ['r1'],
      'without --restore-id every restore is listed',
    );
    const text = await cli(['status', '--path', store, '--backup-id', 'st', '--restore-id', 'r1']);
    assert.match(text.stdout, /restore r1 of snapshot \S+: finished: 20000 records/);
    assert.match(text.stdout, /plan\.json present, report\.json present/);

    const unknownRestore = await cli(['status', '--path', store, '--backup-id', 'st', '--restore-id', 'nope']);
    assert.equal(unknownRestore.code, 2);
    assert.match(unknownRestore.stderr, /no restore 'nope' of backup 'st'.*\n\s+fix: restores there: r1/);
    const unknownBackup = await cli(['status', '--path', store, '--backup-id', 'nope']);
    assert.equal(unknownBackup.code, 2);
    assert.match(unknownBackup.stderr, /no backup 'nope'/);
  });
});
