/**
 * Format version 2 of a backup line, through BackupLine over an in-memory store: commits carry
 * only what changed, consolidation folds them into checkpoints with size-tiered chunks, opening
 * reads a bounded number of objects (and only the topics asked for), and fencing holds.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IntegrityError } from '../../../src/errors.ts';
import { v2keys } from '../../../src/format/line-v2.ts';
import {
  decodeManifest,
  encodeManifest,
  type FileEntry,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type Manifest,
  type TopicState,
} from '../../../src/format/manifest.ts';
import { FANOUT } from '../../../src/repository/consolidate.ts';
import { putImmutable } from '../../../src/repository/immutable.ts';
import { BackupLine, FencedError } from '../../../src/repository/line.ts';
import type { Additions } from '../../../src/repository/state.ts';
import { MemoryStorage } from '../inspect/fixtures.ts';
import { fileEntry } from './line-fixtures.ts';

const ID = 'line';
const writer = { run_id: 'run1', host: 'h', pid: 1, tool_version: 'test' };

function topicState(id: string, partitions: number): TopicState {
  return {
    topic_id: id,
    partition_count: partitions,
    replication_factor: 1,
    configs: { 'retention.ms': '-1' },
    timestamp_type: 'CreateTime',
    partitions: Object.fromEntries(
      Array.from({ length: partitions }, (_, p) => [
        String(p),
        { start_offset: 0, next_offset: 0, files: [], gaps: [] },
      ]),
    ),
  };
}

function newView(): Manifest {
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    backup_id: ID,
    generation: 0,
    created_at: new Date().toISOString(),
    writer,
    source: { cluster_id: 'c1', bootstrap_servers: ['k:9092'] },
    topics: { a: topicState('ida', 2), b: topicState('idb', 3) },
    snapshots: [
      {
        id: 's1',
        run_id: 'run1',
        mode: 'continuous',
        state: 'in-progress',
        started_at: '2026-01-01T00:00:00Z',
        end_offsets: {},
      },
    ],
    retired_topics: [],
  };
}

function file(topic: string, p: number, first: number, n: number): FileEntry {
  return fileEntry(ID, p, first, n, { key: `${ID}/data/${topic}/${p}/${String(first).padStart(20, '0')}-run1-0.kbs` });
}

/** One checkpoint of a writer: every partition of `topics` gains a file of `n` offsets. */
function advance(view: Manifest, topics: string[], n: number): Additions {
  const added: Additions = new Map();
  for (const name of topics) {
    const t = view.topics[name]!;
    const byP = new Map<number, { files: FileEntry[]; gaps: [] }>();
    for (const [p, ps] of Object.entries(t.partitions)) {
      byP.set(Number(p), { files: [file(name, Number(p), ps.next_offset, n)], gaps: [] });
      ps.next_offset += n;
      (view.snapshots[0]!.end_offsets[name] ??= {})[p] = ps.next_offset;
    }
    added.set(name, byP);
  }
  return added;
}

/** Counts reads per key prefix. */
class CountingStorage extends MemoryStorage {
  gets: string[] = [];
  override async get(key: string): Promise<Buffer> {
    this.gets.push(key);
    return super.get(key);
  }
}

describe('repository format version 2', () => {
  test('commits carry only what changed, and a reader rebuilds the whole state from them', async () => {
    const storage = new MemoryStorage();
    const line = new BackupLine(storage, ID, { commits: 1000, bytes: 1 << 30 });
    assert.equal(await line.openForWrite(writer), null);
    const view = newView();
    await line.commit(view);
    const sizes: number[] = [];
    for (let i = 0; i < 60; i++) {
      await line.commit(view, advance(view, ['a'], 10));
      sizes.push(line.written.lastCommitBytes);
    }
    // the 60th commit is as small as the 2nd: it does not repeat history
    assert.ok(Math.abs(sizes[59]! - sizes[1]!) <= 16, `commit sizes ${sizes[1]} .. ${sizes[59]}`);
    const opened = await new BackupLine(storage, ID).open();
    assert.equal(opened?.version, 2);
    const v = opened!.view;
    assert.equal(v.generation, 61);
    assert.equal(v.topics['a']!.partitions['1']!.files.length, 60);
    assert.equal(v.topics['a']!.partitions['1']!.next_offset, 600);
    assert.equal(v.topics['b']!.partitions['2']!.files.length, 0);
    assert.deepEqual(v.snapshots[0]!.end_offsets, { a: { '0': 600, '1': 600 } });
    assert.deepEqual(
      v.topics['a']!.partitions['0']!.files.map((f) => f.first_offset),
      Array.from({ length: 60 }, (_, i) => i * 10),
    );
  });

  test('consolidation: checkpoints with size-tiered chunks; opening reads a bounded number of objects', async () => {
    const storage = new CountingStorage();
    const line = new BackupLine(storage, ID, { commits: 4, bytes: 1 << 30 });
    await line.openForWrite(writer);
    const view = newView();
    const commits = 4 * FANOUT * FANOUT + 3; // enough for two merge levels, plus a tail
    for (let i = 0; i < commits; i++) await line.commit(view, advance(view, ['a', 'b'], 5));
    assert.ok(line.written.consolidations >= FANOUT * FANOUT);
    storage.gets = [];
    const opened = await new BackupLine(storage, ID).open();
    const v = opened!.view;
    assert.equal(v.generation, commits);
    for (const [name, parts] of [
      ['a', 2],
      ['b', 3],
    ] as const)
      for (let p = 0; p < parts; p++) {
        const ps = v.topics[name]!.partitions[String(p)]!;
        assert.equal(ps.files.length, commits);
        assert.deepEqual(
          ps.files.map((f) => f.first_offset),
          Array.from({ length: commits }, (_, i) => i * 5),
          `${name}-${p} files in order`,
        );
      }
    // 16 probes of the tail, head, checkpoint, 2 indexes, and per partition a few chunks per level
    const chunkReads = storage.gets.filter((k) => k.includes('/chunks/')).length;
    assert.ok(chunkReads <= 5 * 3 * (FANOUT - 1), `chunk reads ${chunkReads}`);
    assert.ok(storage.gets.length <= chunkReads + 2 + 2 + 32, `objects read ${storage.gets.length}`);
    assert.ok(
      storage.gets.some((k) => /-L2-/.test(k)),
      'a level-2 chunk exists',
    );

    // the writer's start-up reads no chunk at all
    storage.gets = [];
    await new BackupLine(storage, ID).openForWrite(writer);
    assert.equal(storage.gets.filter((k) => k.includes('/chunks/')).length, 0);
  });

  test('one topic is loaded without reading the chunks or index of another', async () => {
    const storage = new CountingStorage();
    const line = new BackupLine(storage, ID, { commits: 3, bytes: 1 << 30 });
    await line.openForWrite(writer);
    const view = newView();
    for (let i = 0; i < 10; i++) await line.commit(view, advance(view, ['a', 'b'], 5));
    storage.gets = [];
    const opened = await new BackupLine(storage, ID).open({ topics: (t) => t === 'a' });
    assert.deepEqual(Object.keys(opened!.view.topics), ['a']);
    assert.equal(opened!.view.topics['a']!.partitions['0']!.files.length, 10);
    assert.deepEqual(opened!.view.snapshots[0]!.end_offsets, { a: { '0': 50, '1': 50 } });
    assert.equal(storage.gets.filter((k) => k.includes('/b.')).length, 0, storage.gets.join('\n'));
  });

  test('a re-created topic retires the old incarnation with its files, before and after consolidation', async () => {
    const storage = new MemoryStorage();
    const line = new BackupLine(storage, ID, { commits: 1000, bytes: 1 << 30 });
    await line.openForWrite(writer);
    const view = newView();
    await line.commit(view, advance(view, ['a'], 7));
    view.retired_topics.push({
      name: 'a',
      topic_id: 'ida',
      retired_at: '2026-01-02T00:00:00Z',
      reason: 're-created',
      state: view.topics['a']!,
    });
    view.topics['a'] = topicState('ida2', 1);
    await line.commit(view, advance(view, ['a'], 3));
    const check = (v: Manifest) => {
      assert.equal(v.retired_topics.length, 1);
      assert.equal(v.retired_topics[0]!.state!.partitions['1']!.files.length, 1);
      assert.equal(v.retired_topics[0]!.state?.topic_id, 'ida');
      assert.equal(v.topics['a']!.topic_id, 'ida2');
      assert.equal(v.topics['a']!.partitions['0']!.next_offset, 3);
      assert.equal(Object.keys(v.topics['a']!.partitions).length, 1);
    };
    check((await new BackupLine(storage, ID).latest())!);
    await line.consolidateNow(view);
    assert.ok(storage.objects.has(v2keys.head(ID)));
    check((await new BackupLine(storage, ID).latest())!);
  });

  test('a second writer is fenced; a create-if-absent whose answer was lost is recognised as ours', async () => {
    const storage = new MemoryStorage();
    const first = new BackupLine(storage, ID);
    await first.openForWrite(writer);
    const v1 = newView();
    await first.commit(v1);
    const second = new BackupLine(storage, ID);
    const v2 = (await second.openForWrite({ ...writer, run_id: 'run2' }))!;
    await first.commit(v1, advance(v1, ['a'], 1));
    await assert.rejects(second.commit(v2, advance(v2, ['b'], 1)), FencedError);

    const body = Buffer.from('same bytes');
    await putImmutable(storage, 'k', body);
    await putImmutable(storage, 'k', Buffer.from('same bytes'));
    await assert.rejects(putImmutable(storage, 'k', Buffer.from('other bytes')), /already exists with other content/);
  });

  test('a damaged head is skipped and reported; a damaged chunk is an integrity error naming it', async () => {
    const storage = new MemoryStorage();
    const line = new BackupLine(storage, ID, { commits: 2, bytes: 1 << 30 });
    await line.openForWrite(writer);
    const view = newView();
    for (let i = 0; i < 4; i++) await line.commit(view, advance(view, ['a'], 2));
    const head = storage.objects.get(v2keys.head(ID))!;
    head[5]! ^= 1;
    const opened = await new BackupLine(storage, ID).open();
    assert.equal(opened!.view.topics['a']!.partitions['0']!.files.length, 4);
    assert.deepEqual(
      opened!.read!.problems.map((p) => p.key),
      [v2keys.head(ID)],
    );
    const chunk = [...storage.objects.keys()].find((k) => k.includes('/chunks/a.'))!;
    storage.objects.get(chunk)![30]! ^= 1;
    await assert.rejects(new BackupLine(storage, ID).open(), (e: unknown) => {
      assert.ok(e instanceof IntegrityError);
      return true;
    });
  });
});

describe('migrating a version 1 line', () => {
  test('the v2 state equals the v1 manifest, retired incarnations and snapshot ends included', async () => {
    const storage = new MemoryStorage();
    const old = topicState('ida', 2);
    for (const [p, ps] of Object.entries(old.partitions)) {
      ps.files.push(file('a', Number(p), 0, 10));
      ps.next_offset = 10;
    }
    const current = topicState('ida2', 1);
    current.partitions['0']!.files.push(file('a', 0, 0, 4));
    current.partitions['0']!.gaps.push({ start: 4, end: 6, cause: 'retention' });
    current.partitions['0']!.next_offset = 6;
    const v1: Manifest = {
      ...newView(),
      generation: 7,
      topics: { a: current, b: topicState('idb', 1) },
      snapshots: [
        {
          id: 'before',
          run_id: 'r1',
          mode: 'snapshot',
          state: 'complete',
          started_at: '2026-01-01T00:00:00Z',
          end_offsets: { a: { '0': 10, '1': 10 }, b: { '0': 0 } },
        },
        {
          id: 'after',
          run_id: 'r2',
          mode: 'snapshot',
          state: 'complete',
          started_at: '2026-01-03T00:00:00Z',
          end_offsets: { a: { '0': 6 }, b: { '0': 0 } },
        },
      ],
      retired_topics: [
        { name: 'a', topic_id: 'ida', retired_at: '2026-01-02T00:00:00Z', reason: 're-created', state: old },
      ],
    };
    await storage.put('line/manifests/0000000007.json', encodeManifest(v1));
    const line = new BackupLine(storage, ID);
    assert.equal((await line.format())?.version, 1);
    const r = await line.migrate(writer);
    assert.deepEqual([r.from_generation, r.seq], [7, 8]);
    assert.equal((await line.format())?.version, 2);
    const v2 = (await new BackupLine(storage, ID).latest())!;
    assert.equal(v2.generation, 8);
    assert.deepEqual(v2.topics, v1.topics);
    assert.deepEqual(v2.retired_topics, v1.retired_topics);
    assert.deepEqual(v2.snapshots, v1.snapshots);
    assert.deepEqual(v2.source, v1.source);
    // the marker makes version 1 readers refuse the line
    assert.throws(
      () => decodeManifest('m', storage.objects.get('line/manifests/0000000008.json')!),
      /version 2 is newer/,
    );
    // a writer continues at 9
    const w = new BackupLine(storage, ID);
    const view = (await w.openForWrite(writer))!;
    await w.commit(view);
    assert.equal(view.generation, 9);
  });
});
