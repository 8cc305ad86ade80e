/**
 * kill -9 of forget and of prune at named steps (KB_TEST_STALL_AT, docs/testing.md: the process
 * stops for good at the step and says so, so the kill lands exactly there whatever the load), on
 * a line of incremental snapshots written by real backup runs. After every kill `validate --deep`
 * passes and every kept snapshot restores exactly (Kafka's Java consumer compares); running the
 * same command again completes the work, and then nothing unreferenced is left.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cli, jsonOut } from '../../helpers/cli.ts';
import {
  backends,
  type ForgetOut,
  incrementalLine,
  killAt,
  type Line,
  listSnapshots,
  ok,
  type PruneOut,
  restoreAllEqual,
  validateDeep,
} from '../../helpers/retention-line.ts';

/** Every file under a directory, hidden ones (the filesystem backend's temporary files) included. */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

const PRUNE_POINTS = [
  'repack-writing', // in the middle of writing the first repacked file
  'repacked', // a repacked file written, before it is verified and committed
  'committed', // the replace commit written, nothing deleted
  'deleting', // the first unreferenced data file deleted, the others not
  'deleted-data', // every data file deleted, no metadata object yet
];

describe('crash safety of forget and prune', { timeout: 1_800_000 }, () => {
  for (const b of backends) {
    test(`kill -9 of forget and of prune at each step on ${b.name}, then the same command completes`, {
      timeout: 1_800_000,
    }, async () => {
      const { topic, line, snaps } = await incrementalLine(b, 6, 0);
      const kept = [snaps[1]!, snaps[4]!, snaps[5]!];
      const ids = async () => (await listSnapshots(line)).map((s) => s.id);
      const checks = async (what: string) => {
        await validateDeep(line, what);
        await restoreAllEqual(line, topic, kept, `${b.name} after ${what}`);
      };
      const base = ['--path', line.url, '--backup-id', line.id];
      const forgetArgs = ['forget', ...base, '--keep-last', '2', '--keep-tag', 'release'];

      // forget killed before its commit: nothing changed; killed after it: the snapshots are gone
      await killAt(forgetArgs, 'forget-planned', line.env);
      assert.deepEqual(
        await ids(),
        snaps.map((s) => s.id),
        'a forget killed before its commit changes nothing',
      );
      await validateDeep(line, 'forget killed before its commit');
      await killAt(forgetArgs, 'forget-committed', line.env);
      assert.deepEqual(
        await ids(),
        kept.map((s) => s.id),
        'the commit of the killed forget holds',
      );
      const rerun = jsonOut<ForgetOut>(ok(await cli([...forgetArgs, '--format', 'json'], line.env), 'forget re-run'));
      assert.deepEqual(rerun.forgotten, [], 'the re-run finds the work done');
      await checks('forget killed after its commit');

      const pruneArgs = ['prune', ...base, '--grace', '0'];
      for (const point of PRUNE_POINTS) {
        await killAt(pruneArgs, point, line.env);
        await checks(`prune killed at ${point}`);
        if (point === 'repack-writing' && b.name === 'filesystem') {
          // the killed write's temporary file is in the plan (the next killed prune deletes it first)
          const plan = jsonOut<PruneOut>(
            ok(await cli([...pruneArgs, '--dry-run', '--format', 'json'], line.env), 'plan'),
          );
          const left = plan.deleted.filter((d) => d.why === 'incomplete write');
          assert.equal(left.length, 1, `the dry run shows the killed write: ${JSON.stringify(plan.deleted)}`);
          assert.match(left[0]!.key, /\/data\/.*\d{20}-prune-[^/]*\.kbs$/, 'the repacked file being written');
          assert.equal(tempFiles(line).length, 1, 'a dry run removes nothing');
        }
      }
      const final = jsonOut<PruneOut>(ok(await cli([...pruneArgs, '--format', 'json'], line.env), 'prune re-run'));
      assert.ok(final.deleted_objects > 0, 'the re-run deletes what the killed runs left');
      const v = await validateDeep(line, 'after the re-run');
      assert.deepEqual(v.unlisted_files, [], 'no data file is left that the state does not list');
      const again = jsonOut<PruneOut>(ok(await cli([...pruneArgs, '--dry-run', '--format', 'json'], line.env), 'dry'));
      assert.deepEqual([again.deleted_objects, again.repack.length], [0, 0], JSON.stringify(again));
      await checks('the completed prune');
      if (b.name === 'filesystem') assertNoTemporaryFileIsLeft(line);
    });
  }
});

/**
 * The kill in the middle of a write (repack-writing) left the filesystem backend's temporary file
 * of that write, which no listing shows; prune removes it (StorageBackend.listIncomplete). Looked
 * for on disk, not through the backend: anything left would be a leak.
 */
function assertNoTemporaryFileIsLeft(line: Line): void {
  assert.deepEqual(tempFiles(line), [], 'no temporary file is left');
}

const tempFiles = (line: Line) => walk(String(line.storage['path'])).filter((f) => f.includes('.kb-tmp-'));
