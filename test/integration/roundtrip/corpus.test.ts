/**
 * The backup issue's corpus, backed up, validated deeply, described, and restored to new topics;
 * every record is compared with what Kafka's own Java consumer (read_committed) reads from the
 * source, never with our own reader.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cli, jsonOut, tempDir, writeConfig } from '../../helpers/cli.ts';
import { type Corpus, corpusTopics, sharedCorpus } from '../../helpers/corpus.ts';
import { KAFKA_BOOTSTRAP } from '../../helpers/kafka.ts';
import { type DumpedRecord, dumpTopic } from '../../helpers/peers.ts';

const strip = (r: DumpedRecord) => ({
  key: r.key,
  value: r.value,
  headers: r.headers,
  timestamp: r.timestamp,
  partition: r.partition,
});

describe('corpus round trip', { timeout: 600_000 }, () => {
  let corpus: Corpus;
  let dir: string;
  const suffix = `-r${Date.now().toString(36)}`;
  let described: {
    topics: {
      name: string;
      records: number;
      partitions: { partition: number; records: number; gaps: unknown[]; skipped: Record<string, number> }[];
    }[];
  };

  before(async () => {
    corpus = await sharedCorpus();
    dir = tempDir('corpus');
    const names = corpusTopics(corpus).map((t) => t.name);
    writeConfig(dir, 'backup.yaml', {
      backup_id: 'corpus',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: names } },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      // small blocks and files so the corpus spans many of them
      backup: { max_batch_bytes: 262_144, fetch_max_bytes: 4_194_304, max_concurrent_partitions: 8 },
    });
    writeConfig(dir, 'restore.yaml', {
      backup_id: 'corpus',
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      restore: { topic_mapping: Object.fromEntries(names.map((n) => [n, `${n}${suffix}`])) },
    });
  });

  test('backup completes and validate --deep passes', async () => {
    const b = await cli(['backup', '-c', join(dir, 'backup.yaml'), '--format', 'json']);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(jsonOut<{ state: string }>(b).state, 'complete');
    const v = await cli(['validate', '--path', join(dir, 'backups'), '--backup-id', 'corpus', '--deep']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const d = await cli(['describe', '--path', join(dir, 'backups'), '--backup-id', 'corpus', '--format', 'json']);
    assert.equal(d.code, 0, d.stderr);
    described = jsonOut(d);
  });

  test('describe reports the record counts Kafka’s consumer sees', async () => {
    for (const t of corpusTopics(corpus)) {
      const dump = await dumpTopic(t.name);
      const dt = described.topics.find((x) => x.name === t.name);
      assert.ok(dt, `topic ${t.name} described`);
      assert.equal(dt.records, dump.length, `${t.kind}: records`);
      for (let p = 0; p < t.partitions; p++) {
        const n = dump.filter((r) => r.partition === p).length;
        assert.equal(dt.partitions.find((x) => x.partition === p)?.records, n, `${t.kind} partition ${p}`);
      }
    }
    const compacted = described.topics.find((x) => x.name === corpus.compacted.name)!;
    assert.ok(
      compacted.partitions.some((p) => (p.skipped['compaction'] ?? 0) > 0 || p.gaps.length > 0),
      'compaction holes are recorded',
    );
    const txn = described.topics.find((x) => x.name === corpus.txnLargeAbort.name)!;
    assert.ok(
      txn.partitions.some((p) => (p.skipped['aborted'] ?? 0) > 0),
      'aborted offsets are recorded as skipped',
    );
  });

  test('restore reproduces every record, in order, as Kafka’s consumer reads it', async () => {
    const r = await cli(['restore', '-c', join(dir, 'restore.yaml'), '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    for (const t of corpusTopics(corpus)) {
      const src = await dumpTopic(t.name);
      const dst = await dumpTopic(`${t.name}${suffix}`);
      assert.equal(dst.length, src.length, `${t.kind}: record count`);
      assert.deepEqual(dst.map(strip), src.map(strip), `${t.kind}: keys, values, headers, timestamps, partitions`);
      assert.ok(
        dst.every((x) => x.timestampType === 'CreateTime'),
        `${t.kind}: restored as CreateTime`,
      );
      // nothing aborted was produced: a read_uncommitted dump of the target has the same records
      const dstAll = await dumpTopic(`${t.name}${suffix}`, { isolation: 'read_uncommitted' });
      assert.equal(dstAll.length, src.length, `${t.kind}: no aborted record restored`);
    }
    const lat = await dumpTopic(corpus.logAppendTime.name);
    assert.ok(lat.every((x) => x.timestampType === 'LogAppendTime'));
  });

  after(() => undefined);
});
