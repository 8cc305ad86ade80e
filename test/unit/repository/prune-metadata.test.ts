/**
 * prune removes superseded metadata of a format 2 line and nothing a reader needs: after many
 * commits and consolidations (on the real filesystem backend, whose listing carries the times
 * the grace period is judged by), only the newest commits and checkpoints stay, every index and
 * chunk left is reachable, and the line opens to the same state as before.
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MANIFEST_FORMAT, MANIFEST_VERSION, type Manifest } from '../../../src/format/manifest.ts';
import { BackupLine } from '../../../src/repository/line.ts';
import { prune } from '../../../src/repository/prune.ts';
import { KEEP_CHECKPOINTS, KEEP_FOLDED_COMMITS } from '../../../src/repository/prune-plan.ts';
import type { Additions } from '../../../src/repository/state.ts';
import { FilesystemBackend } from '../../../src/storage/filesystem.ts';
import { tempDir } from '../../helpers/cli.ts';

const dir = tempDir('prune-meta');
after(() => rmSync(dir, { recursive: true, force: true }));
const writer = { run_id: 'run1', host: 'h', pid: 1, tool_version: 'test' };

test('prune keeps the newest commits and checkpoints and every reachable index and chunk', async () => {
  const storage = new FilesystemBackend({ path: dir });
  const line = new BackupLine(storage, 'm', { commits: 5, bytes: 1 << 30 });
  await line.openForWrite(writer);
  const view: Manifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    backup_id: 'm',
    generation: 0,
    created_at: new Date().toISOString(),
    writer,
    source: { cluster_id: 'c', bootstrap_servers: ['k:9092'] },
    topics: {
      t: {
        topic_id: 'tid',
        partition_count: 1,
        replication_factor: 1,
        configs: {},
        timestamp_type: 'CreateTime',
        partitions: { '0': { start_offset: 0, next_offset: 0, files: [], gaps: [] } },
      },
    },
    snapshots: [],
    retired_topics: [],
  };
  await line.commit(view);
  const commits = 80;
  for (let i = 0; i < commits; i++) {
    // gaps only: no data file, so prune has nothing to repack or to verify
    const ps = view.topics['t']!.partitions['0']!;
    const added: Additions = new Map([
      [
        't',
        new Map([
          [0, { files: [], gaps: [{ start: ps.next_offset, end: ps.next_offset + 3, cause: 'control' as const }] }],
        ]),
      ],
    ]);
    ps.next_offset += 3;
    await line.commit(view, added);
  }
  const before = (await new BackupLine(storage, 'm').latest())!;
  const report = await prune(storage, 'm', {
    graceMs: 0,
    repack: true,
    targetBytes: 128 << 20,
    dryRun: false,
    writer: { ...writer, run_id: 'prune-test' },
  });
  assert.deepEqual(report.problems, []);
  const whys = new Set(report.deleted.map((d) => d.why));
  for (const w of ['superseded commit', 'superseded checkpoint', 'unreachable index', 'unreachable chunk'])
    assert.ok(whys.has(w as never), `prune deleted no ${w}: ${[...whys].join(', ')}`);
  const left = (sub: string) => readdirSync(join(dir, 'm', sub)).filter((f) => f.endsWith('.json.zst'));
  const newest = Math.max(...left('checkpoints').map((f) => Number(f.slice(0, 10))));
  assert.ok(left('checkpoints').length <= KEEP_CHECKPOINTS + 1, left('checkpoints').join(' '));
  for (const f of left('log')) assert.ok(Number(f.slice(0, 10)) > newest - KEEP_FOLDED_COMMITS, `commit ${f} left`);
  const after = (await new BackupLine(storage, 'm').latest())!;
  assert.deepEqual(after.topics, before.topics);
  assert.equal(after.topics['t']!.partitions['0']!.gaps.length, commits);
  await storage.close();
});
