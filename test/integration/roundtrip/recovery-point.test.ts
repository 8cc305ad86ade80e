/**
 * Recovery point of a continuous backup: every record produced to a followed partition is in a
 * finished data file listed by the newest manifest generation within segment_max_interval_secs
 * plus one checkpoint_interval_secs, however little traffic the partition has (here: one record
 * on one partition, 50 on the others, then nothing), without stopping the backup. The stored
 * records are compared with what Kafka's Java consumer (read_committed) reads from the source.
 * While records wait, the metrics and `status` show them (lag, age of the oldest one); once
 * they are durable and listed, both go back to 0.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { backupStatus } from '../../../src/cli/status.ts';
import { isControl, splitBatches } from '../../../src/format/batch.ts';
import type { Manifest } from '../../../src/format/manifest.ts';
import { decodeRecords } from '../../../src/format/records.ts';
import { readSegment } from '../../../src/format/segment.ts';
import { openExistingLine } from '../../../src/repository/line.ts';
import { FilesystemBackend } from '../../../src/storage/filesystem.ts';
import { startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, deleteTopics, KAFKA_BOOTSTRAP, sleep, uniqueTopic } from '../../helpers/kafka.ts';
import { type DumpedRecord, dumpTopic, produceSpec, type SpecLine } from '../../helpers/peers.ts';
import { freePort, scrapeLoop, series } from '../metrics/scrape.ts';

const SEGMENT_MAX_INTERVAL_SECS = 2;
const CHECKPOINT_INTERVAL_SECS = 1;
/**
 * Allowance on top of segment_max_interval + checkpoint_interval for scheduling: the fetch that
 * picks the records up (the producer's acks come first), the loop's tick, writing the file and
 * the manifest, and this test's own polling (100 ms).
 */
const ALLOWANCE_MS = 3000;
const DEADLINE_MS = (SEGMENT_MAX_INTERVAL_SECS + CHECKPOINT_INTERVAL_SECS) * 1000 + ALLOWANCE_MS;

/** partition -> offsets the newest generation lists as covered by files (or gaps), [start, next_offset). */
function listedEnd(m: Manifest, topic: string, partition: number): number {
  return m.topics[topic]?.partitions[String(partition)]?.next_offset ?? 0;
}

/** The records stored in the files the manifest lists for the topic, in partition and offset order. */
async function storedRecords(storage: FilesystemBackend, m: Manifest, topic: string): Promise<DumpedRecord[]> {
  const out: DumpedRecord[] = [];
  const parts = m.topics[topic]!.partitions;
  for (const p of Object.keys(parts).sort((a, b) => Number(a) - Number(b))) {
    let last = -1;
    for (const f of parts[p]!.files) {
      for await (const block of readSegment(f.key, await storage.load(f.key), { expected: f })) {
        for (const h of splitBatches(block.raw)) {
          if (isControl(h)) continue;
          for (const r of decodeRecords(block.raw, h)) {
            if (r.offset < Math.max(block.firstOffset, f.first_offset) || r.offset > f.last_offset) continue;
            if (r.offset <= last) continue;
            last = r.offset;
            out.push({
              topic,
              partition: Number(p),
              offset: r.offset,
              timestamp: r.timestamp,
              timestampType: 'CreateTime',
              key: r.key === null ? null : r.key.toString('base64'),
              value: r.value === null ? null : r.value.toString('base64'),
              headers: r.headers.map(([k, v]) => [k.toString('utf8'), v === null ? null : v.toString('base64')]),
            });
          }
        }
      }
    }
  }
  return out;
}

const view = (r: DumpedRecord) =>
  `${r.partition}|${r.offset}|${r.timestamp}|${r.key}|${r.value}|${JSON.stringify(r.headers)}`;

describe('recovery point of a continuous backup', { timeout: 180_000 }, () => {
  test('one record on a partition, 50 on others: listed within segment_max_interval + checkpoint_interval', async () => {
    const topic = await createTopic(uniqueTopic('rpo'), { partitions: 3 });
    const dir = tempDir('rpo');
    const store = join(dir, 'backups');
    const port = await freePort();
    const config = writeConfig(dir, 'backup.yaml', {
      backup_id: 'rpo',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: store },
      backup: {
        mode: 'continuous',
        segment_max_interval_secs: SEGMENT_MAX_INTERVAL_SECS,
        checkpoint_interval_secs: CHECKPOINT_INTERVAL_SECS,
        poll_interval_ms: 200,
      },
      metrics: { enabled: true, port },
    });
    const scraper = scrapeLoop(port, 100);
    const run = startCli(['backup', '-c', config, '--format', 'json']);
    const storage = new FilesystemBackend({ path: store });
    try {
      // the backup is following the (empty) topic
      const ready = Date.now() + 60_000;
      while (!scraper.scrapes.some((s) => s.ready === 200) && Date.now() < ready && run.child.exitCode === null)
        await sleep(100);
      assert.ok(
        scraper.scrapes.some((s) => s.ready === 200),
        'backup became ready',
      );
      await sleep(1000);

      const spec: SpecLine[] = [{ partition: 0, key: 'only', value: 'the one record of partition 0' }];
      for (const p of [1, 2])
        for (let i = 0; i < 50; i++)
          spec.push({ partition: p, key: `k${i}`, value: `p${p}-v${i}`, headers: [['i', String(i)]] });
      const produced = await produceSpec(topic, spec);
      const producedAt = Date.now();
      // the deadline counts from when the records were sent (their CreateTime, this machine's clock)
      const sentAt = Math.min(...produced.map((r) => r.timestamp));
      const want = new Map<number, number>();
      for (const r of produced) want.set(r.partition, Math.max(want.get(r.partition) ?? 0, r.offset + 1));
      assert.deepEqual([...want].sort(), [
        [0, 1],
        [1, 50],
        [2, 50],
      ]);

      // without stopping the backup: the newest generation lists every produced offset in time
      let listed: Manifest | undefined;
      let listedAt = 0;
      let pendingSeen = 0;
      while (Date.now() - sentAt < DEADLINE_MS + 5000) {
        const { manifest: m } = await openExistingLine(storage, 'rpo');
        const st = await backupStatus(storage, 'rpo');
        pendingSeen = Math.max(pendingSeen, st.progress.oldest_pending_age_secs ?? 0);
        if ([...want].every(([p, end]) => listedEnd(m, topic, p) >= end)) {
          listed = m;
          listedAt = Date.now();
          break;
        }
        await sleep(100);
      }
      const latest = await openExistingLine(storage, 'rpo');
      assert.ok(
        listed,
        `within ${DEADLINE_MS + 5000} ms of the produce the newest generation (${latest.manifest.generation}) lists ` +
          `next_offset ${[0, 1, 2].map((p) => listedEnd(latest.manifest, topic, p)).join('/')} ` +
          `for partitions 0/1/2, expected ${[...want.values()].join('/')}`,
      );
      const took = listedAt - sentAt;
      console.log(
        `recovery point: produced ${produced.length} records, listed ${took} ms after they were sent (${listedAt - producedAt} ms after the producer returned)`,
      );
      assert.ok(took <= DEADLINE_MS, `listed ${took} ms after the produce; limit ${DEADLINE_MS} ms`);

      // what is stored is exactly what Kafka's Java consumer reads
      const source = await dumpTopic(topic);
      assert.equal(source.length, 101);
      const stored = await storedRecords(storage, listed, topic);
      assert.deepEqual(stored.map(view), source.map(view), 'stored records match the source (read_committed)');

      // the records waited in memory for about segment_max_interval: the metrics and status saw them
      await sleep(1500);
      const s = scraper.scrapes.filter((x) => x.at >= producedAt - 2000);
      const age = series(s, 'kafka_backup_oldest_pending_record_age_seconds');
      const lag = series(s, 'kafka_backup_lag_records');
      assert.ok(
        age.some((v) => v > 0),
        `age of the oldest pending record rose above 0: ${age.join(',')}`,
      );
      assert.equal(age[age.length - 1], 0, 'and is 0 once they are durable');
      assert.ok(Math.max(...lag) >= 1, `lag counted the records read but not durable: ${lag.join(',')}`);
      assert.equal(lag[lag.length - 1], 0, 'lag is 0 once they are durable');
      assert.ok(pendingSeen > 0, 'status showed the age of the oldest pending record');
      const after = await backupStatus(storage, 'rpo');
      assert.equal(after.progress.oldest_pending_age_secs, 0, 'status: nothing pending once listed');
      assert.equal(after.progress.offsets_remaining, 0);
    } finally {
      run.child.kill('SIGTERM');
      const r = await run.done;
      await scraper.stop();
      await storage.close();
      await deleteTopics([topic]);
      assert.equal(r.code, 0, r.stderr.slice(-2000));
    }
  });
});
