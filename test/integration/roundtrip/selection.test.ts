/**
 * What a restore selects and where it puts it: point_in_time and time window boundaries,
 * offset windows, topic and partition remapping, repartitioning by key, original-offset headers.
 * Source data is produced by Kafka's Java producer with explicit timestamps; results are read
 * back with Kafka's Java consumer.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { murmur2 } from '@platformatic/kafka';
import { cli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, uniqueTopic } from '../../helpers/kafka.ts';
import { type DumpedRecord, dumpTopic, produceSpec, type SpecLine, text } from '../../helpers/peers.ts';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);
// Partition 0 is not monotonic: +1500 comes after +2000.
const P0 = [0, 1000, 2000, 1500, 3000, 4000];
const P1 = [500, 2500, 3500];

describe('restore selection and placement', { timeout: 300_000 }, () => {
  let topic: string;
  let dir: string;
  let source: DumpedRecord[];

  const restore = async (name: string, restoreSection: Record<string, unknown>, target = `${topic}-${name}`) => {
    const config = writeConfig(dir, `${name}.yaml`, {
      backup_id: 'sel',
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      restore: { topic_mapping: { [topic]: target }, ...restoreSection },
    });
    const r = await cli(['restore', '-c', config, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return dumpTopic(target);
  };
  const values = (rs: DumpedRecord[], p: number) => rs.filter((r) => r.partition === p).map((r) => text(r.value));

  before(async () => {
    topic = await createTopic(uniqueTopic('sel'), { partitions: 2 });
    const spec: SpecLine[] = [
      ...P0.map((d, i) => ({ partition: 0, key: `k${i}`, value: `p0-${d}`, timestamp: T0 + d })),
      ...P1.map((d, i) => ({ partition: 1, key: `k${i + 10}`, value: `p1-${d}`, timestamp: T0 + d })),
      { partition: 1, key: null, value: 'p1-nokey', timestamp: T0 + 4500 },
    ];
    await produceSpec(topic, spec);
    source = await dumpTopic(topic);
    dir = tempDir('sel');
    const config = writeConfig(dir, 'backup.yaml', {
      backup_id: 'sel',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
    });
    const b = await cli(['backup', '-c', config]);
    assert.equal(b.code, 0, b.stderr);
  });

  test('point_in_time keeps each partition’s prefix before the first record later than it (a record at it is kept)', async () => {
    const got = await restore('pit', { point_in_time: new Date(T0 + 2000).toISOString() });
    assert.deepEqual(values(got, 0), ['p0-0', 'p0-1000', 'p0-2000', 'p0-1500']);
    assert.deepEqual(values(got, 1), ['p1-500']);
    const before = await restore('pit-before', { point_in_time: T0 - 1, allow_empty: true });
    assert.equal(before.length, 0);
  });

  test('time window is a filter [start, end) on each record', async () => {
    const got = await restore('win', {
      time_window_start: T0 + 1000,
      time_window_end: new Date(T0 + 3000).toISOString(),
    });
    assert.deepEqual(values(got, 0), ['p0-1000', 'p0-2000', 'p0-1500']);
    assert.deepEqual(values(got, 1), ['p1-2500']);
  });

  test('offset window is [start, end) per partition', async () => {
    const got = await restore('ow', { offset_window: { [topic]: { 0: { start: 1, end: 3 } } } });
    assert.deepEqual(values(got, 0), ['p0-1000', 'p0-2000']);
    assert.deepEqual(values(got, 1), ['p1-500', 'p1-2500', 'p1-3500', 'p1-nokey']);
  });

  test('partition mapping swaps partitions; timestamps and keys are kept', async () => {
    const got = await restore('pm', { partition_mapping: { [topic]: { 0: 1, 1: 0 } } });
    assert.deepEqual(values(got, 1), values(source, 0));
    assert.deepEqual(values(got, 0), values(source, 1));
    assert.deepEqual(
      got.filter((r) => r.partition === 1).map((r) => [r.key, r.timestamp]),
      source.filter((r) => r.partition === 0).map((r) => [r.key, r.timestamp]),
    );
  });

  test('a mapping outside the target partition count is refused before anything is produced', async () => {
    await createTopic(`${topic}-bad`, { partitions: 2 });
    const config = writeConfig(dir, 'bad.yaml', {
      backup_id: 'sel',
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      restore: { topic_mapping: { [topic]: `${topic}-bad` }, partition_mapping: { [topic]: { 0: 5 } } },
    });
    const r = await cli(['restore', '-c', config]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /partition_mapping/);
    const dry = await cli(['restore', '-c', config, '--dry-run']);
    assert.equal(dry.code, 2);
    assert.equal((await dumpTopic(`${topic}-bad`)).length, 0, 'nothing was produced');
  });

  test('repartitioning places keyed records by murmur2 and null keys by source partition modulo the count', async () => {
    const target = await createTopic(`${topic}-rp`, { partitions: 3 });
    const got = await restore('rp', { repartitioning: true }, target);
    assert.equal(got.length, source.length);
    for (const r of got) {
      const key = r.key === null ? null : Buffer.from(r.key, 'base64');
      const src = source.find((s) => s.value === r.value)!;
      const expected = key === null ? src.partition % 3 : (murmur2(key) & 0x7fffffff) % 3;
      assert.equal(r.partition, expected, `record ${text(r.value)}`);
      assert.equal(r.timestamp, src.timestamp);
    }
    // order per key and per source partition is kept
    for (let p = 0; p < 3; p++) {
      const vs = values(got, p);
      const order = vs.map((v) => source.findIndex((s) => text(s.value) === v));
      assert.deepEqual(
        order,
        [...order].sort((a, b) => a - b),
      );
    }
  });

  test('original position headers are appended with documented names and decimal values', async () => {
    const got = await restore('hdr', { include_original_offset_header: true });
    for (const r of got) {
      const src = source.find((s) => s.value === r.value)!;
      const h = Object.fromEntries(
        r.headers.map(([k, v]) => [k, v === null ? null : Buffer.from(v, 'base64').toString()]),
      );
      assert.equal(h['kafka-backup.original.topic'], topic);
      assert.equal(h['kafka-backup.original.partition'], String(src.partition));
      assert.equal(h['kafka-backup.original.offset'], String(src.offset));
      assert.equal(h['kafka-backup.original.timestamp'], String(src.timestamp));
    }
  });
});
