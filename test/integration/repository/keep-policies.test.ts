/**
 * forget with each keep policy, then prune, on a line of nine incremental snapshots written by
 * real backup runs against the real broker. The runs happen within a minute, so each records a
 * test time for its snapshot (KB_TEST_SNAPSHOT_TIME, docs/testing.md) spread over four years,
 * hours, days, ISO weeks and months apart: the calendar rules then have buckets to tell apart.
 *
 * First every policy is planned (--dry-run) on the whole line and its decision checked against
 * the calendar worked out by hand below (on the filesystem only: that logic does not depend on
 * the backend). Then, on each of the four backends, the policies are applied one after the
 * other, each removing exactly one snapshot, each followed by a prune: after every step the forgotten
 * snapshot is gone (list; describe refuses the first), nothing unreferenced is left past the grace period
 * (validate --deep finds no unlisted file, a second prune finds nothing), and the snapshot the
 * next step removes restores exactly while it is still kept (Kafka's Java consumer compares), so
 * every snapshot is restored once after at least one prune that repacked around it.
 * The pure bucket logic is unit-tested in test/unit/repository/retention-policy.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cli, jsonOut } from '../../helpers/cli.ts';
import {
  backends,
  type ForgetOut,
  incrementalLine,
  type Line,
  listSnapshots,
  ok,
  type PruneOut,
  restoreEquals,
  validateDeep,
} from '../../helpers/retention-line.ts';

/**
 * The recorded times, oldest first (UTC). ISO weeks: 2025-01-05 is a Sunday (2025-W01),
 * 2025-01-27 a Monday (W05), 2025-02-04 a Tuesday and 2025-02-06 a Thursday (both W06).
 */
const TIMES = [
  '2022-05-01T10:00:00Z', // s0
  '2023-06-15T10:00:00Z', // s1
  '2024-03-10T10:00:00Z', // s2, tagged release
  '2025-01-05T10:00:00Z', // s3  W01, January
  '2025-01-27T10:00:00Z', // s4  W05, January
  '2025-02-04T10:00:00Z', // s5  W06, another day
  '2025-02-06T08:00:00Z', // s6  W06, the newest day, another hour
  '2025-02-06T09:30:00Z', // s7  the newest hour
  '2025-02-06T09:45:00Z', // s8  newest
];

/** Each policy alone on the whole line: the snapshots it keeps (indexes into TIMES). */
const PLANS: { flags: string[]; keeps: number[]; reason: string }[] = [
  { flags: ['--keep-last', '3'], keeps: [8, 7, 6], reason: 'last snapshot' },
  // hours: s8 and s7 share 09h of the newest day
  { flags: ['--keep-hourly', '3'], keeps: [8, 6, 5], reason: 'hourly snapshot' },
  // days: s8, s7, s6 share 2025-02-06
  { flags: ['--keep-daily', '3'], keeps: [8, 5, 4], reason: 'daily snapshot' },
  // weeks: s5..s8 share W06
  { flags: ['--keep-weekly', '3'], keeps: [8, 4, 3], reason: 'weekly snapshot' },
  // months: s3 and s4 share January 2025
  { flags: ['--keep-monthly', '3'], keeps: [8, 4, 2], reason: 'monthly snapshot' },
  { flags: ['--keep-yearly', '3'], keeps: [8, 2, 1], reason: 'yearly snapshot' },
  // 1y = 365 days before s8 is 2024-02-07T09:45Z: s2 is inside, s1 outside
  { flags: ['--keep-within', '1y'], keeps: [8, 7, 6, 5, 4, 3, 2], reason: 'within 1y' },
  // the newest complete snapshot stays unless --forget-newest
  { flags: ['--keep-tag', 'release'], keeps: [8, 2], reason: 'tag release' },
];

/** Applied in this order, each removes exactly one snapshot of what the previous ones left. */
const STEPS: { flags: string[]; removes: number }[] = [
  { flags: ['--keep-last', '8'], removes: 0 },
  { flags: ['--keep-within', '1y'], removes: 1 },
  { flags: ['--keep-hourly', '100'], removes: 7 },
  { flags: ['--keep-daily', '100'], removes: 6 },
  { flags: ['--keep-weekly', '100'], removes: 5 },
  { flags: ['--keep-monthly', '100'], removes: 3 },
  { flags: ['--keep-yearly', '100'], removes: 4 },
  { flags: ['--keep-tag', 'release', '--forget-newest'], removes: 8 },
];

const prune = async (line: Line, extra: string[]) =>
  jsonOut<PruneOut>(
    ok(
      await cli(['prune', '--path', line.url, '--backup-id', line.id, '--format', 'json', ...extra], line.env),
      `prune ${extra.join(' ')}`,
    ),
  );

describe('forget with every keep policy, then prune, on real incremental lines', { timeout: 1_800_000 }, () => {
  for (const b of backends) {
    test(`each keep policy on ${b.name}: kept snapshots restore exactly, forgotten ones and their objects are gone`, {
      timeout: 1_800_000,
    }, async () => {
      const { topic, line, snaps } = await incrementalLine(b, TIMES.length, 0, (i) => ({
        tags: i === 2 ? ['release'] : [],
        env: { KB_TEST_SNAPSHOT_TIME: TIMES[i]! },
      }));
      const listed = await listSnapshots(line);
      assert.deepEqual(
        listed.map((s) => Date.parse(s.created)),
        TIMES.map((t) => Date.parse(t)),
        'each snapshot records its test time',
      );
      const forget = async (flags: string[], dry: boolean) =>
        jsonOut<ForgetOut>(
          ok(
            await cli(
              ['forget', '--path', line.url, '--backup-id', line.id, ...flags, '--format', 'json'].concat(
                dry ? ['--dry-run'] : [],
              ),
              line.env,
            ),
            `forget ${flags.join(' ')}`,
          ),
        );

      // 1. every policy's plan on the whole line: the calendar logic does not depend on the
      // backend, so it is checked once, on the filesystem; every backend gets step 2
      for (const p of b.name === 'filesystem' ? PLANS : []) {
        const plan = await forget(p.flags, true);
        const kept = plan.snapshots.filter((s) => s.keep).map((s) => snaps.findIndex((x) => x.id === s.id));
        assert.deepEqual(kept, p.keeps, `${p.flags.join(' ')} keeps`);
        for (const i of p.keeps.filter((i) => p.reason !== 'tag release' || i !== 8))
          assert.ok(
            plan.snapshots.find((s) => s.id === snaps[i]!.id)!.reasons.includes(p.reason),
            `${p.flags.join(' ')}: s${i} is kept as ${p.reason}`,
          );
      }
      assert.equal((await listSnapshots(line)).length, TIMES.length, 'dry runs change nothing');

      // 2. the policies one after the other, each followed by a prune
      const alive = new Set(snaps.map((_, i) => i));
      for (const [k, step] of STEPS.entries()) {
        const done = await forget(step.flags, false);
        assert.deepEqual(done.forgotten, [snaps[step.removes]!.id], `${step.flags.join(' ')} forgets s${step.removes}`);
        alive.delete(step.removes);
        if (k === 0) {
          // within the grace period nothing unreferenced goes, the repack included
          const young = await prune(line, ['--grace', '1h']);
          assert.equal(young.deleted_objects, 0, JSON.stringify(young.deleted));
          assert.ok(young.kept_young > 0, 'the forgotten capture and the repacked files wait out the grace period');
        }
        const pruned = await prune(line, ['--grace', '0']);
        assert.ok(pruned.deleted_objects > 0, `prune after ${step.flags.join(' ')} frees something`);
        const v = await validateDeep(line, `after ${step.flags.join(' ')}`);
        assert.deepEqual(v.unlisted_files, [], 'no data file is left that the state does not list');
        const again = await prune(line, ['--grace', '0', '--dry-run']);
        assert.deepEqual([again.deleted_objects, again.repack.length], [0, 0], JSON.stringify(again));
        assert.deepEqual(
          (await listSnapshots(line)).map((s) => s.id),
          [...alive].sort((x, y) => x - y).map((i) => snaps[i]!.id),
          'list shows exactly the kept snapshots',
        );
        if (k === 0) {
          const gone = snaps[step.removes]!.id;
          const refused = await cli(
            ['describe', '--path', line.url, '--backup-id', line.id, '--snapshot', gone],
            line.env,
          );
          assert.equal(refused.code, 2, `the forgotten ${gone} is unknown: ${refused.stderr}`);
        }
        // the snapshot the next step removes, or the last one left
        const next = STEPS[k + 1]?.removes ?? [...alive][0]!;
        await restoreEquals(
          line,
          topic,
          snaps[next]!.id,
          snaps[next]!.expected,
          `${b.name} s${next} after step ${k + 1}`,
        );
      }
      assert.deepEqual([...alive], [2], 'the tagged snapshot is what is left');
    });
  }
});
