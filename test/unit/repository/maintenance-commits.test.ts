/**
 * The maintenance members of a commit (forget, drop, replace): read from the log and from a
 * consolidated checkpoint they give the same state; a running writer absorbs a maintenance
 * commit that took its number and is still fenced by another backup's; readers refuse members
 * they do not know.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IntegrityError } from '../../../src/errors.ts';
import { type Commit, decodeV2, encodeV2, v2keys } from '../../../src/format/line-v2.ts';
import type { Manifest } from '../../../src/format/manifest.ts';
import { encodeSigned } from '../../../src/format/signed.ts';
import { putImmutable } from '../../../src/repository/immutable.ts';
import { BackupLine, FencedError } from '../../../src/repository/line.ts';
import { type Additions, dropBelow, MaintenanceConflict, replaceFiles } from '../../../src/repository/state.ts';
import { MemoryStorage } from '../inspect/fixtures.ts';
import { fileEntry, oneTopicView, writer } from './line-fixtures.ts';

const ID = 'm';
const other = { run_id: 'prune-1', host: 'h', pid: 2, tool_version: 'test' };

const file = (p: number, first: number, n: number, key?: string) => fileEntry(ID, p, first, n, key ? { key } : {});
const newView = () => oneTopicView(ID);

/** A writer that commits `rounds` files of 10 offsets per partition, one snapshot per round. */
async function writeLine(storage: MemoryStorage, rounds: number, commitsPerCheckpoint = 1000) {
  const line = new BackupLine(storage, ID, { commits: commitsPerCheckpoint, bytes: 1 << 30 });
  await line.openForWrite(writer);
  const view = newView();
  for (let i = 0; i < rounds; i++) {
    const added: Additions = new Map([['t', new Map()]]);
    for (const [p, ps] of Object.entries(view.topics['t']!.partitions)) {
      added.get('t')!.set(Number(p), { files: [file(Number(p), ps.next_offset, 10)], gaps: [] });
      ps.next_offset += 10;
    }
    view.snapshots.push({
      id: `s${i}`,
      run_id: 'run1',
      mode: 'snapshot',
      state: 'complete',
      started_at: new Date(Date.UTC(2026, 0, 1 + i)).toISOString(),
      end_offsets: { t: { '0': (i + 1) * 10, '1': (i + 1) * 10 } },
    });
    await line.commit(view, added);
  }
  return { line, view };
}

function maintenanceCommit(seq: number, body: Partial<Commit>): Commit {
  return {
    format: 'kafka-backup/commit',
    version: 2,
    backup_id: ID,
    seq,
    created_at: new Date().toISOString(),
    writer: other,
    maintenance: { op: 'prune' },
    ...body,
  };
}

const merged = file(0, 0, 20, `${ID}/data/t/0/merged-0-19.kbs`);

/** forget s0 and s1, drop partition 1 below 20, replace partition 0's files 0..9 and 10..19 by one. */
const BODY: Partial<Commit> = {
  forget: ['s0', 's1'],
  drop: { t: { '1': { below: 20 } } },
  replace: {
    t: {
      '0': [
        {
          remove: [`${ID}/data/t/0/0.kbs`, `${ID}/data/t/0/10.kbs`],
          add: { ...merged, min_timestamp: 0, max_timestamp: 19 },
        },
      ],
    },
  },
};

function checkState(v: Manifest): void {
  assert.deepEqual(
    v.snapshots.map((s) => s.id),
    ['s2', 's3'],
  );
  const p0 = v.topics['t']!.partitions['0']!;
  assert.deepEqual(
    p0.files.map((f) => [f.first_offset, f.last_offset]),
    [
      [0, 19],
      [20, 29],
      [30, 39],
    ],
  );
  assert.equal(p0.files[0]!.key, merged.key);
  const p1 = v.topics['t']!.partitions['1']!;
  assert.deepEqual(
    p1.files.map((f) => f.first_offset),
    [20, 30],
  );
  assert.deepEqual(p1.gaps, [{ start: 0, end: 20, cause: 'retention-policy' }]);
  assert.equal(p1.start_offset, 0);
  assert.equal(p1.next_offset, 40);
  // a snapshot's own end offsets do not change
  assert.deepEqual(v.snapshots[0]!.end_offsets, { t: { '0': 30, '1': 30 } });
}

describe('maintenance commits', () => {
  test('forget, drop and replace read from the log, then from a consolidated checkpoint, give one state', async () => {
    const storage = new MemoryStorage();
    await writeLine(storage, 4);
    await putImmutable(storage, v2keys.commit(ID, 5), encodeV2(maintenanceCommit(5, BODY)));
    const fromLog = (await new BackupLine(storage, ID).open())!;
    assert.equal(fromLog.read!.checkpoint, null, 'nothing consolidated yet');
    checkState(fromLog.view);

    // a writer opening the line consolidates it (the tail holds the maintenance commit)
    const w = new BackupLine(storage, ID);
    const view = (await w.openForWrite(writer))!;
    await w.consolidateNow(view);
    const fromCheckpoint = (await new BackupLine(storage, ID).open())!;
    assert.equal(fromCheckpoint.read!.checkpoint?.seq, 5);
    assert.equal(fromCheckpoint.read!.tail.length, 0);
    checkState(fromCheckpoint.view);

    // the checkpoint no longer lists the forgotten snapshots, nor their ends in the topic index
    const cp = fromCheckpoint.read!.checkpoint!;
    assert.deepEqual(
      cp.snapshots.map((s) => s.id),
      ['s2', 's3'],
    );
    const index = [...fromCheckpoint.read!.indexes.values()][0]!;
    assert.deepEqual(Object.keys(index.snapshot_ends).sort(), ['s2', 's3']);
    // and no chunk it references lists a dropped or replaced file
    for (const [p, pi] of Object.entries(index.partitions))
      for (const ref of pi.chunks) {
        const key = v2keys.chunk(ID, 't', 'tid', Number(p), ref.from, ref.level, ref.seq);
        const chunk = decodeV2('chunk', key, await storage.get(key), ID);
        for (const f of chunk.files) {
          assert.ok(!(p === '1' && f.first_offset < 20), `dropped file ${f.key} in ${key}`);
          assert.ok(!(p === '0' && /\/(0|10)\.kbs$/.test(f.key)), `replaced file ${f.key} in ${key}`);
        }
      }
    // totals follow the state
    assert.equal(cp.topics['t']!.totals.files, 5);
  });

  test('a drop after an earlier drop keeps one retention-policy gap from the start', () => {
    const files = [file(0, 0, 10), file(0, 10, 10), file(0, 20, 10)];
    const once = dropBelow(0, files, [], 10);
    const twice = dropBelow(0, once.files, once.gaps, 20);
    assert.deepEqual(twice.gaps, [{ start: 0, end: 20, cause: 'retention-policy' }]);
    assert.deepEqual(
      twice.files.map((f) => f.first_offset),
      [20],
    );
    assert.throws(() => dropBelow(0, files, [], 15), MaintenanceConflict);
    assert.equal(dropBelow(5, files.slice(1), [{ start: 5, end: 10, cause: 'retention' }], 5).files.length, 2);
  });

  test('a replacement must cover exactly the consecutive files it removes', () => {
    const files = [file(0, 0, 10), file(0, 10, 10), file(0, 20, 10)];
    assert.throws(
      () => replaceFiles(files, { remove: [files[0]!.key, files[2]!.key], add: file(0, 0, 30, 'x') }),
      MaintenanceConflict,
    );
    assert.throws(
      () => replaceFiles(files, { remove: [files[0]!.key, files[1]!.key], add: file(0, 0, 25, 'x') }),
      MaintenanceConflict,
    );
    assert.deepEqual(
      replaceFiles(files, { remove: [files[1]!.key, files[2]!.key], add: file(0, 10, 20, 'x') }).map((f) => f.key),
      [files[0]!.key, 'x'],
    );
  });

  test('a replacement that does not fit the state makes the line unreadable, never silently wrong', async () => {
    const storage = new MemoryStorage();
    await writeLine(storage, 2);
    const bad = maintenanceCommit(3, { replace: { t: { '0': [{ remove: ['nope'], add: merged }] } } });
    await putImmutable(storage, v2keys.commit(ID, 3), encodeV2(bad));
    await assert.rejects(new BackupLine(storage, ID).open(), IntegrityError);
  });

  test('a running writer absorbs a maintenance commit that took its number, and continues', async () => {
    const storage = new MemoryStorage();
    const { line, view } = await writeLine(storage, 4, 3);
    const opened = (await new BackupLine(storage, ID).open())!;
    await new BackupLine(storage, ID).commitMaintenance(opened.read!, { maintenance: { op: 'prune' }, ...BODY }, other);
    // the writer goes on as if nothing happened: a file more per partition, a new snapshot
    const added: Additions = new Map([['t', new Map()]]);
    for (const [p, ps] of Object.entries(view.topics['t']!.partitions)) {
      added.get('t')!.set(Number(p), { files: [file(Number(p), ps.next_offset, 10)], gaps: [] });
      ps.next_offset += 10;
    }
    view.snapshots.push({
      id: 's4',
      run_id: 'run1',
      mode: 'snapshot',
      state: 'complete',
      started_at: new Date().toISOString(),
      end_offsets: { t: { '0': 50, '1': 50 } },
    });
    await line.commit(view, added);
    assert.equal(view.generation, opened.view.generation + 2);
    assert.deepEqual(
      view.snapshots.map((s) => s.id),
      ['s2', 's3', 's4'],
      'the writer dropped the forgotten snapshots from its own state',
    );
    await line.consolidateNow(view);
    const after = (await new BackupLine(storage, ID).open())!.view;
    assert.deepEqual(
      after.snapshots.map((s) => s.id),
      ['s2', 's3', 's4'],
    );
    assert.deepEqual(
      after.topics['t']!.partitions['0']!.files.map((f) => f.first_offset),
      [0, 20, 30, 40],
    );
    assert.deepEqual(after.topics['t']!.partitions['1']!.gaps, [{ start: 0, end: 20, cause: 'retention-policy' }]);
    assert.equal(after.topics['t']!.partitions['1']!.next_offset, 50);
  });

  test('a commit by another backup writer still fences', async () => {
    const storage = new MemoryStorage();
    const { line, view } = await writeLine(storage, 2);
    const intruder = maintenanceCommit(3, { writer: { ...other, run_id: 'backup-2' } });
    delete intruder.maintenance;
    await putImmutable(storage, v2keys.commit(ID, 3), encodeV2(intruder));
    view.topics['t']!.partitions['0']!.next_offset += 1;
    await assert.rejects(line.commit(view), FencedError);
  });

  test('a reader refuses a commit member it does not know', async () => {
    const storage = new MemoryStorage();
    await writeLine(storage, 1);
    const c = { ...maintenanceCommit(2, {}), expire: ['s0'] };
    await putImmutable(storage, v2keys.commit(ID, 2), encodeSigned(c));
    await assert.rejects(new BackupLine(storage, ID).open(), (e: Error) => {
      assert.ok(e instanceof IntegrityError);
      assert.match(e.message, /members this tool does not understand \(expire\)/);
      return true;
    });
  });
});
