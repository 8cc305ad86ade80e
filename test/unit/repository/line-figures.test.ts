/**
 * The figures list, status and metrics show, from the topic indexes' summaries (no file lists),
 * equal the same figures summed over every file list, through appends, consolidations with merged
 * chunks (old snapshot ends inside a merged chunk), a tail of commits not yet consolidated, and
 * maintenance (forget, drop, replace); and they are read with a bounded number of objects.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { v2keys } from '../../../src/format/line-v2.ts';
import type { Manifest } from '../../../src/format/manifest.ts';
import { BackupLine } from '../../../src/repository/line.ts';
import { figuresFromFiles, type LineFigures, readLineFigures } from '../../../src/repository/line-figures.ts';
import type { Additions } from '../../../src/repository/state.ts';
import { MemoryStorage } from '../inspect/fixtures.ts';
import { fileEntry, oneTopicView, writer } from './line-fixtures.ts';

const ID = 'f';
const maint = { run_id: 'prune-1', host: 'h', pid: 2, tool_version: 'test' };

const file = (p: number, first: number, n: number, key?: string) =>
  fileEntry(ID, p, first, n, { size: 100 + first, stamp: 1000, ...(key ? { key } : {}) });
const newView = () => oneTopicView(ID);

/** Rounds of one 10-offset file per partition, a snapshot every `every` rounds. */
async function write(line: BackupLine, view: Manifest, from: number, rounds: number, every = 3): Promise<void> {
  for (let i = from; i < from + rounds; i++) {
    const added: Additions = new Map([['t', new Map()]]);
    for (const [p, ps] of Object.entries(view.topics['t']!.partitions)) {
      added.get('t')!.set(Number(p), { files: [file(Number(p), ps.next_offset, 10)], gaps: [] });
      ps.next_offset += 10;
    }
    if (i % every === 0)
      view.snapshots.push({
        id: `s${i}`,
        run_id: 'run1',
        mode: 'snapshot',
        state: 'complete',
        started_at: new Date(Date.UTC(2026, 0, 1 + i)).toISOString(),
        end_offsets: {
          t: {
            '0': view.topics['t']!.partitions['0']!.next_offset,
            '1': view.topics['t']!.partitions['1']!.next_offset,
          },
        },
      });
    await line.commit(view, added);
  }
}

/** The figures as plain data, to compare. */
function plain(f: LineFigures) {
  return {
    snapshots: [...f.snapshotTotals].map(([id, m]) => [id, Object.fromEntries(m)]),
    topics: f.topics,
  };
}

async function bothWays(storage: MemoryStorage): Promise<{ fast: LineFigures; slow: LineFigures }> {
  const fast = (await readLineFigures(new BackupLine(storage, ID)))!;
  const slow = figuresFromFiles((await new BackupLine(storage, ID).open())!);
  return { fast, slow };
}

describe('line figures from the index summaries', () => {
  test('equal the figures from every file list, through merged chunks, a tail and maintenance', async () => {
    const storage = new MemoryStorage();
    // a checkpoint every 3 commits: 8 of them merge into a level-1 chunk, so early snapshot ends
    // fall inside a merged chunk
    const line = new BackupLine(storage, ID, { commits: 3, bytes: 1 << 30 });
    await line.openForWrite(writer);
    const view = newView();
    await write(line, view, 0, 40);
    assert.ok(
      [...storage.objects.keys()].some((k) => /\/chunks\/.*-L1-/.test(k)),
      'a merged (level 1) chunk exists',
    );
    let { fast, slow } = await bothWays(storage);
    assert.equal(fast.source, 'summaries');
    assert.equal(slow.source, 'files');
    assert.deepEqual(plain(fast), plain(slow));
    assert.equal(fast.snapshotTotals.get('s3')!.get('t')!.files, 8, 's3 ends after 4 files of each partition');
    assert.deepEqual(fast.released, { files: 0, bytes: 0 });
    assert.deepEqual(fast.topics, [{ topic: 't', oldest_restorable_ms: 1000, dropped_offsets: 0 }]);

    // forget two snapshots, drop partition 1 below 50, replace partition 0's first two files by one
    const read = (await new BackupLine(storage, ID).open({ files: false }))!.read!;
    const merged = { ...file(0, 0, 20, `${ID}/data/t/0/merged.kbs`), size: 150 };
    await new BackupLine(storage, ID).commitMaintenance(
      read,
      {
        maintenance: { op: 'prune' },
        forget: ['s0', 's3'],
        drop: { t: { '1': { below: 50 } } },
        replace: { t: { '0': [{ remove: [`${ID}/data/t/0/0.kbs`, `${ID}/data/t/0/10.kbs`], add: merged }] } },
      },
      maint,
    );
    ({ fast, slow } = await bothWays(storage));
    assert.equal(fast.source, 'summaries');
    assert.deepEqual(plain(fast), plain(slow));
    // released: partition 1's files at 0..40 (sizes 100..140), partition 0's two replaced ones (100, 110)
    assert.deepEqual(fast.released, { files: 7, bytes: 100 + 110 + 120 + 130 + 140 + 100 + 110 });
    assert.deepEqual(fast.topics, [{ topic: 't', oldest_restorable_ms: 1000, dropped_offsets: 50 }]);

    // the writer goes on (it absorbs the maintenance commit), leaving a tail after the last checkpoint
    await write(line, view, 40, 5);
    const opened = (await new BackupLine(storage, ID).open({ files: false }))!;
    assert.ok(opened.read!.tail.length > 0, 'a tail of commits stays unconsolidated');
    ({ fast, slow } = await bothWays(storage));
    assert.equal(fast.source, 'summaries');
    assert.deepEqual(plain(fast), plain(slow));
  });

  test('a line whose indexes lack the summaries (written before them) is read from its file lists', async () => {
    const storage = new MemoryStorage();
    const line = new BackupLine(storage, ID, { commits: 3, bytes: 1 << 30 });
    await line.openForWrite(writer);
    await write(line, newView(), 0, 7);
    // take the summaries out of the indexes, as an older writer wrote them
    const { decodeV2, encodeV2 } = await import('../../../src/format/line-v2.ts');
    for (const key of [...storage.objects.keys()].filter((k) => k.startsWith(`${ID}/index/`))) {
      const ix = decodeV2('index', key, storage.objects.get(key)!, ID);
      delete ix.snapshot_totals;
      for (const p of Object.values(ix.partitions)) delete p.summary;
      storage.objects.set(key, encodeV2(ix));
    }
    const { fast, slow } = await bothWays(storage);
    assert.equal(fast.source, 'files');
    assert.deepEqual(plain(fast), plain(slow));
    assert.equal(fast.released, null, 'released files are not known without summaries');
    assert.ok(storage.objects.has(v2keys.head(ID)));
  });
});
