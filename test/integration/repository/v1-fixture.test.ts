/**
 * A backup line written by the last format version 1 release (test/fixtures/v1-line, generated
 * once, never regenerated) stays readable: validate --deep, describe and restore of both its
 * snapshots on the version 1 line; then `migrate` converts it without touching a data file, and
 * the same checks pass on the version 2 line; a backup run on another copy converts it by itself
 * and its old snapshots still restore exactly. Restored records are read with Kafka's Java
 * consumer and compared with the fixture's expected.json (cross-checked with the Java consumer
 * when the fixture was made), never with our own reader.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cli, jsonOut, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, REPO_ROOT, uniqueTopic } from '../../helpers/kafka.ts';
import { dumpTopic, produceSpec, text } from '../../helpers/peers.ts';

const FIXTURE = join(REPO_ROOT, 'test/fixtures/v1-line/store');
const BACKUP = 'v1fx';

interface ExpectedRecord {
  offset: number;
  timestamp: number;
  key: string | null;
  value: string | null;
  headers: [string, string | null][];
}
interface Expected {
  snapshots: {
    id: string;
    end_offsets: Record<string, Record<string, number>>;
    records: Record<string, Record<string, ExpectedRecord[]>>;
  }[];
}
const expected = JSON.parse(readFileSync(join(REPO_ROOT, 'test/fixtures/v1-line/expected.json'), 'utf8')) as Expected;

/** A private copy: the fixture itself is never written to. */
function copyFixture(): string {
  const dir = tempDir('v1fx');
  cpSync(FIXTURE, join(dir, 'store'), { recursive: true });
  return join(dir, 'store');
}

function digests(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' }))
    if (f.endsWith('.kbs'))
      out.set(
        f,
        createHash('sha256')
          .update(readFileSync(join(dir, f)))
          .digest('hex'),
      );
  return out;
}

async function validateDeep(store: string, version: 1 | 2): Promise<void> {
  const v = await cli(['validate', '--path', store, '--backup-id', BACKUP, '--deep', '--format', 'json']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  const report = jsonOut<{ format_version: number; files_read: number; ok: boolean }>(v);
  assert.equal(report.format_version, version);
  assert.equal(report.files_read, 8);
}

async function describeCounts(store: string): Promise<void> {
  for (const s of expected.snapshots) {
    const d = await cli(['describe', '--path', store, '--backup-id', BACKUP, '--snapshot', s.id, '--format', 'json']);
    assert.equal(d.code, 0, d.stderr);
    const got = jsonOut<{ topics: { name: string; partitions: { partition: number; records: number }[] }[] }>(d);
    for (const [topic, parts] of Object.entries(s.records))
      for (const [p, records] of Object.entries(parts)) {
        const t = got.topics.find((x) => x.name === topic);
        assert.equal(t?.partitions.find((x) => x.partition === Number(p))?.records, records.length, `${topic}-${p}`);
      }
  }
}

/** Restores snapshot `index` into new topics and compares every record with expected.json. */
async function restoreExactly(store: string, index: number, extra: Record<string, unknown> = {}): Promise<void> {
  const s = expected.snapshots[index]!;
  const dir = tempDir('v1fx-restore');
  const mapping = Object.fromEntries(Object.keys(s.records).map((t) => [t, uniqueTopic(`${t}-r`)]));
  const config = writeConfig(dir, 'restore.yaml', {
    backup_id: BACKUP,
    snapshot: s.id,
    target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
    storage: { backend: 'filesystem', path: store },
    restore: { topic_mapping: mapping, ...extra },
  });
  const r = await cli(['restore', '-c', config, '--format', 'json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const [topic, parts] of Object.entries(s.records)) {
    const dumped = await dumpTopic(mapping[topic]!);
    for (const [p, records] of Object.entries(parts)) {
      const got = dumped
        .filter((d) => d.partition === Number(p))
        .map((d) => ({
          offset: d.offset,
          timestamp: d.timestamp,
          key: text(d.key),
          value: text(d.value),
          headers: d.headers.map(([k, v]) => [k, text(v)] as [string, string | null]),
        }));
      assert.deepEqual(got, records, `${topic}-${p} of snapshot ${s.id}`);
    }
  }
}

describe('format version 1 fixture', { timeout: 600_000 }, () => {
  test('a version 1 line validates, describes and restores both snapshots exactly', async () => {
    const store = copyFixture();
    await validateDeep(store, 1);
    await describeCounts(store);
    await restoreExactly(store, 0);
    await restoreExactly(store, 1);
  });

  test('migrate converts it without touching data files; everything still holds on version 2', async () => {
    const store = copyFixture();
    const before = digests(store);
    const dry = await cli(['migrate', '--path', store, '--backup-id', BACKUP, '--dry-run', '--format', 'json']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(jsonOut<{ dry_run: boolean; files: number }>(dry).files, 8);
    assert.equal(existsSync(join(store, BACKUP, 'head.json')), false, 'a dry run writes nothing');

    const m = await cli(['migrate', '--path', store, '--backup-id', BACKUP, '--format', 'json']);
    assert.equal(m.code, 0, m.stderr);
    const res = jsonOut<{ from_generation: number; checkpoint_seq: number }>(m);
    assert.equal(res.from_generation, 4);
    assert.equal(res.checkpoint_seq, 5);
    assert.ok(existsSync(join(store, BACKUP, 'head.json')));
    // the marker generation makes version 1 tools refuse the line instead of writing beside it
    const marker = readFileSync(join(store, BACKUP, 'manifests', '0000000005.json'), 'utf8');
    assert.match(marker, /"version": 2/);
    assert.deepEqual(digests(store), before, 'no data file was rewritten');

    const again = await cli(['migrate', '--path', store, '--backup-id', BACKUP, '--format', 'json']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(jsonOut<{ from_version: number }>(again).from_version, 2);

    await validateDeep(store, 2);
    await describeCounts(store);
    await restoreExactly(store, 0);
    await restoreExactly(store, 1);
  });

  test('a backup run on a version 1 line converts it; its old snapshots still restore exactly', async () => {
    const store = copyFixture();
    const topic = await createTopic(uniqueTopic('v1fx-new'), { partitions: 2 });
    await produceSpec(
      topic,
      Array.from({ length: 20 }, (_, i) => ({ partition: i % 2, key: `n-${i}`, value: `nv-${i}` })),
    );
    const dir = tempDir('v1fx-backup');
    const config = writeConfig(dir, 'backup.yaml', {
      backup_id: BACKUP,
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: store },
      // the fixture was written from another cluster (its id is recorded)
      backup: { allow_source_change: true },
    });
    const b = await cli(['backup', '-c', config, '--format', 'json']);
    assert.equal(b.code, 0, b.stdout + b.stderr);
    assert.equal(jsonOut<{ state: string; records: number }>(b).records, 20);
    assert.ok(existsSync(join(store, BACKUP, 'head.json')), 'the line is in version 2 now');
    const v = await cli(['validate', '--path', store, '--backup-id', BACKUP, '--deep', '--format', 'json']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.equal(jsonOut<{ format_version: number; files_read: number }>(v).format_version, 2);
    const list = jsonOut<{ backups: { snapshots: { id: string; state: string }[] }[] }>(
      await cli(['list', '--path', store, '--format', 'json']),
    );
    assert.deepEqual(
      list.backups[0]!.snapshots.map((s) => s.state),
      ['complete', 'complete', 'complete'],
    );
    await restoreExactly(store, 0);
    await restoreExactly(store, 1);
  });
});
