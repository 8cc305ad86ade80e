/**
 * backup.retention with `apply: periodic` in continuous mode, against the real broker: while the
 * run follows its topic, it drops the data older than max_age by itself (every interval_secs,
 * here the smallest, 60 s), recorded as a gap with cause retention-policy; nothing younger is
 * lost, the run goes on writing and publishes the retention state as metrics, and a restore of its snapshot gives back exactly the young
 * records (Kafka's Java consumer compares).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cli, jsonOut, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, sleep, uniqueTopic } from '../../helpers/kafka.ts';
import { dumpTopic } from '../../helpers/peers.ts';
import { type Line, listSnapshots, ok, produce, restoreEquals, validateDeep } from '../../helpers/retention-line.ts';
import { freePort, parseMetrics } from '../metrics/scrape.ts';

const DAY = 86_400_000;

interface Described {
  totals: { records: number };
  topics: {
    oldest_restorable?: string;
    partitions: { partition: number; gaps?: { cause: string; start: number; end: number }[] }[];
  }[];
}

describe('backup.retention apply: periodic', { timeout: 900_000 }, () => {
  test('a continuous run drops data older than max_age while it runs, and loses nothing younger', async () => {
    const topic = await createTopic(uniqueTopic('ret-periodic'), { partitions: 2 });
    const dir = tempDir('ret-periodic');
    const port = await freePort();
    const scrape = async () => parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    const storage = { backend: 'filesystem', path: join(dir, 'backups') };
    const line: Line = { dir, storage, url: `file://${storage.path}`, env: {}, id: 'periodic' };
    const base = ['--path', line.url, '--backup-id', line.id, '--format', 'json'];
    const describeLine = async () => jsonOut<Described>(ok(await cli(['describe', ...base]), 'describe'));
    const status = async () =>
      jsonOut<{ topics: { records: number }[]; retention: { topics: { dropped_offsets: number }[] } }>(
        ok(await cli(['status', ...base]), 'status'),
      );
    const records = async () => (await status()).topics.reduce((n, t) => n + t.records, 0);
    const until = async (what: string, cond: () => Promise<boolean>, ms: number) => {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        if (await cond().catch(() => false)) return;
        await sleep(500);
      }
      assert.fail(`timed out waiting for ${what}; the backup logged:\n${log.slice(-4000)}`);
    };

    // 100 records of 40 days ago: older than the horizon
    await produce(topic, 100, 2, Date.now() - 40 * DAY);
    const cfg = writeConfig(dir, 'backup.yaml', {
      backup_id: line.id,
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage,
      backup: {
        mode: 'continuous',
        segment_max_interval_secs: 1,
        checkpoint_interval_secs: 1,
        poll_interval_ms: 100,
        retention: { max_age: '30d', apply: 'periodic', interval_secs: 60 },
      },
      metrics: { enabled: true, port },
    });
    const backup = startCli(['backup', '-c', cfg]);
    let log = '';
    backup.child.stderr!.on('data', (d) => {
      log += d;
    });
    try {
      await until('the old records in the line', async () => (await records()) >= 100, 90_000);
      // 100 records of 29 days ago (younger than the horizon, in files of their own), then of now
      const youngFrom = Date.now() - 29 * DAY;
      await produce(topic, 100, 2, youngFrom);
      await until('the 29-day-old records in the line', async () => (await records()) >= 200, 90_000);
      await produce(topic, 100, 2);
      await until('the new records in the line', async () => (await records()) >= 300, 90_000);

      // the run applies its retention by itself within its interval: a retention-policy gap appears
      // (status reads the in-progress snapshot; describe shows complete ones)
      await until(
        'the periodic retention',
        async () => (await status()).retention.topics[0]?.dropped_offsets === 100,
        150_000,
      );
      assert.equal(backup.child.exitCode, null, 'the backup is still running: the drop was periodic, not at its end');
      // the run publishes the retention state it applied (the oldest restorable record is the
      // first 29-day-old one once that batch is in the line; a later interval shows it)
      const oldest = `kafka_backup_oldest_restorable_timestamp_seconds{topic="${topic}"}`;
      await until(
        'the retention metrics',
        async () => Math.round(((await scrape()).get(oldest) ?? 0) * 1000) === youngFrom,
        150_000,
      );
      const m = await scrape();
      assert.ok((m.get('kafka_backup_retention_dropped_bytes_total') ?? 0) > 0, 'dropped bytes are counted');
      assert.equal(m.get('kafka_backup_last_prune_timestamp_seconds'), 0, 'no prune has run');
      const horizon = m.get('kafka_backup_retention_horizon_timestamp_seconds')! * 1000;
      assert.ok(Math.abs(horizon - (Date.now() - 30 * DAY)) < 10 * 60_000, `horizon ${horizon} is now - 30d`);
      // and it goes on writing after taking the drop in
      await produce(topic, 100, 2);
      await until('records written after the drop', async () => (await records()) === 300, 90_000);
    } finally {
      backup.child.kill('SIGTERM');
    }
    const br = await backup.done;
    assert.equal(br.code, 0, log.slice(-3000));
    assert.doesNotMatch(log, /another writer committed/);
    assert.match(log, /retention applied/, 'the run logged its own retention');

    const all = await dumpTopic(topic);
    const young = all.filter((r) => r.offset >= 50);
    assert.equal(young.length, 300);
    const d = await describeLine();
    assert.equal(d.totals.records, 300, 'the 100 old records are dropped, every younger one is in the line');
    for (const p of d.topics[0]!.partitions)
      assert.deepEqual(p.gaps?.[0], { start: 0, end: 50, cause: 'retention-policy' }, `partition ${p.partition}`);
    assert.equal(
      Date.parse(d.topics[0]!.oldest_restorable!),
      Math.min(...young.map((r) => r.timestamp)),
      'the oldest restorable record is the oldest one younger than the horizon',
    );
    await validateDeep(line, 'after the periodic retention');
    const snaps = await listSnapshots(line);
    await restoreEquals(line, topic, snaps.at(-1)!.id, young, 'continuous snapshot after periodic retention');
  });
});
