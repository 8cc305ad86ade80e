/**
 * list / describe / validate on a real backup: a topic on the test broker, records produced by
 * the Kafka client, a snapshot backup by the engine into a temp directory, then the CLI as a
 * user runs it, and a flipped byte in a data file, in an old commit and in a chunk caught by validate.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Admin, Producer } from '@platformatic/kafka';
import { runBackup } from '../../../src/backup/engine.ts';
import { backupDefaults } from '../../../src/backup/options.ts';
import { v2keys } from '../../../src/format/line-v2.ts';
import { FilesystemBackend } from '../../../src/storage/filesystem.ts';
import { cli as run, tempDir } from '../../helpers/cli.ts';

const BOOTSTRAP = process.env['KB_KAFKA_BOOTSTRAP'] ?? '127.0.0.1:19092';
const topic = `kb-inspect-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const BACKUP = 'inspect-it';
const PER_PARTITION = [300, 200];

function flip(path: string, at: number): void {
  const b = readFileSync(path);
  b[at] = b[at]! ^ 0x01;
  writeFileSync(path, b);
}

function dataFiles(dir: string): string[] {
  const base = join(dir, BACKUP, 'data', encodeURIComponent(topic));
  return readdirSync(base, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.kbs'))
    .map((f) => `${BACKUP}/data/${encodeURIComponent(topic)}/${f}`)
    .sort();
}

describe('inspect commands on a real backup', () => {
  const admin = new Admin({ clientId: 'kb-inspect-it', bootstrapBrokers: [BOOTSTRAP], retries: 5, retryDelay: 200 });
  const dir = tempDir('inspect-it');

  before(async () => {
    await admin.createTopics({
      topics: [topic],
      partitions: 2,
      replicas: 1,
      configs: [{ name: 'retention.ms', value: '604800000' }],
    });
    const producer = new Producer({ clientId: 'kb-inspect-it', bootstrapBrokers: [BOOTSTRAP], retries: 5 });
    try {
      for (const [partition, n] of PER_PARTITION.entries())
        for (let i = 0; i < n; i += 50)
          await producer.send({
            messages: Array.from({ length: Math.min(50, n - i) }, (_, j) => ({
              topic,
              partition,
              key: Buffer.from(`k${i + j}`),
              value: Buffer.from(`value ${partition}/${i + j} `.repeat(20)),
            })),
            // mixed producer compression: the deep check decompresses Kafka batches too
            compression: i % 100 === 0 ? 'gzip' : 'none',
          });
    } finally {
      await producer.close();
    }
    await runBackup({
      ...backupDefaults,
      backupId: BACKUP,
      source: { bootstrap_servers: [BOOTSTRAP] },
      topics: { include: [topic] },
      storage: new FilesystemBackend({ path: dir }),
      // small blocks and files, so partitions hold several of each
      maxBatchBytes: 8 << 10,
      segmentMaxBytes: 16 << 10,
      checkpointIntervalSecs: 1,
    });
  });

  after(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.close();
  });

  it('list shows the line and its complete snapshot', async () => {
    const r = await run(['list', '--path', dir, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.backups.length, 1);
    const line = doc.backups[0];
    assert.equal(line.backup_id, BACKUP);
    assert.equal(line.snapshots.length, 1);
    const s = line.snapshots[0];
    assert.equal(s.state, 'complete');
    assert.equal(s.mode, 'snapshot');
    assert.equal(s.records, 500);
    assert.ok(s.stored_bytes > 0 && s.files >= 2);
    assert.ok(s.finished);
  });

  it('describe shows topic and partition details', async () => {
    const r = await run(['describe', '--path', dir, '--backup-id', BACKUP, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout);
    assert.equal(d.snapshot.state, 'complete');
    assert.equal(d.totals.records, 500);
    const t = d.topics.find((x: { name: string }) => x.name === topic);
    assert.ok(t);
    assert.equal(t.partition_count, 2);
    assert.equal(t.replication_factor, 1);
    assert.equal(t.timestamp_type, 'CreateTime');
    assert.equal(t.configs['retention.ms'], '604800000');
    assert.ok(t.topic_id.length >= 22, `topic id ${t.topic_id}`);
    for (const [i, n] of PER_PARTITION.entries()) {
      const p = t.partitions[i];
      assert.equal(p.partition, i);
      assert.equal(p.start_offset, 0);
      assert.equal(p.end_offset, n);
      assert.equal(p.covered_to, n);
      assert.equal(p.records, n);
      assert.ok(p.files >= 1);
      assert.ok(p.raw_bytes > p.stored_bytes, 'the repetitive values compress');
      assert.ok(p.min_timestamp > 0 && p.max_timestamp >= p.min_timestamp);
      assert.deepEqual(p.gaps, []);
      assert.equal(p.records_exact, true);
    }
    const one = await run(['describe', '--path', dir, '--backup-id', BACKUP, '--topic', topic, '--format', 'json']);
    assert.equal(one.code, 0, one.stderr);
    assert.deepEqual(JSON.parse(one.stdout).totals, d.totals);
    const other = await run(['describe', '--path', dir, '--backup-id', BACKUP, '--topic', 'no-such-topic']);
    assert.equal(other.code, 2);
    assert.match(other.stderr, /has no topic no-such-topic/);
    const text = await run(['describe', '--path', dir, '--backup-id', BACKUP]);
    assert.equal(text.code, 0);
    assert.ok(text.stdout.includes(`topic ${topic}`));
    const bad = await run(['describe', '--path', dir, '--backup-id', BACKUP, '--snapshot', 'nope']);
    assert.equal(bad.code, 2);
    assert.ok(bad.stderr.includes(d.snapshot.id), 'the error lists the snapshots that exist');
  });

  it('validate passes shallow and deep', async () => {
    for (const deep of [[], ['--deep']]) {
      const r = await run(['validate', '--path', dir, '--backup-id', BACKUP, ...deep, '--format', 'json']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const report = JSON.parse(r.stdout);
      assert.equal(report.ok, true);
      assert.equal(report.files_listed, dataFiles(dir).length);
      if (deep.length) assert.equal(report.files_read, report.files_listed);
    }
  });

  it('validate --deep exits 3 naming a data file and a manifest with a flipped byte', async () => {
    const files = dataFiles(dir);
    const victim = files[files.length - 1]!;
    const size = readFileSync(join(dir, victim)).length;
    flip(join(dir, victim), Math.floor(size / 2));
    const r = await run(['validate', '--path', dir, '--backup-id', BACKUP, '--deep', '--format', 'json']);
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).bad_files, [victim]);
    assert.ok(r.stderr.includes(victim));

    // the oldest commit is history (the state is read from the checkpoint): only --deep reads it
    const logDir = join(dir, BACKUP, 'log');
    const commits = readdirSync(logDir)
      .filter((f) => f.endsWith('.json.zst'))
      .sort();
    assert.ok(commits.length >= 2);
    const oldest = v2keys.commit(BACKUP, Number(commits[0]!.slice(0, 10)));
    flip(join(dir, oldest), 30);
    const r2 = await run(['validate', '--path', dir, '--backup-id', BACKUP, '--deep', '--format', 'json']);
    assert.equal(r2.code, 3, r2.stderr);
    assert.deepEqual(JSON.parse(r2.stdout).bad_files.sort(), [oldest, victim].sort());

    // a chunk the state references is read by every reader: shallow validate names it
    const chunkDir = join(dir, BACKUP, 'chunks');
    const chunks = readdirSync(chunkDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.json.zst'));
    assert.ok(chunks.length > 0);
    const chunk = `${BACKUP}/chunks/${chunks.sort()[0]!}`;
    flip(join(dir, chunk), 40);
    const r3 = await run(['validate', '--path', dir, '--backup-id', BACKUP, '--format', 'json']);
    assert.equal(r3.code, 3, r3.stderr);
    assert.ok(JSON.parse(r3.stdout).bad_files.includes(chunk), r3.stdout);
  });
});
