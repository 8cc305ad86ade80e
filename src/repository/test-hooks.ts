/**
 * Test-only hooks of the repository layer, read from the environment here and nowhere else
 * (docs/testing.md, "Test-only hooks"). Both are inert unless their variable is set, and a run
 * that uses one says so in its log.
 *
 * - KB_TEST_SNAPSHOT_TIME=<ISO time>: the time a backup run records for the snapshot it creates
 *   (started_at, and finished_at when it ends), instead of now. Real runs against a real broker
 *   all happen "now"; this lets a test build a line whose snapshots fall into different hours,
 *   days, weeks, months and years, so forget's calendar rules decide something. The data, the
 *   offsets and every other time the run records stay real.
 * - KB_TEST_STALL_AT=<point>: forget or prune stops for good at that named step (printing
 *   "<op>: stalled at <point>" to stderr), so a test's kill -9 lands exactly there instead of
 *   after a sleep that depends on the machine's load. The points are listed in docs/testing.md.
 */
import { UsageError } from '../errors.ts';
import { logger } from '../util/log.ts';

const log = logger('test-hooks');

/** The time to record for a snapshot: `realIso`, unless KB_TEST_SNAPSHOT_TIME is set. */
export function recordedSnapshotTime(realIso: string): string {
  const forced = process.env['KB_TEST_SNAPSHOT_TIME'];
  if (!forced) return realIso;
  const t = Date.parse(forced);
  if (Number.isNaN(t))
    throw new UsageError(`KB_TEST_SNAPSHOT_TIME is set to "${forced}", which is not a time`, {
      hint: 'give an ISO 8601 time such as 2025-02-06T09:45:00Z, or unset it (it is for tests only)',
    });
  const iso = new Date(t).toISOString();
  log.warn('KB_TEST_SNAPSHOT_TIME is set: the snapshot records a test time', { recorded: iso, real: realIso });
  return iso;
}

/** Stops for good when KB_TEST_STALL_AT names this point (a timer keeps the process alive until killed). */
export async function stallAt(op: string, point: string): Promise<void> {
  if (process.env['KB_TEST_STALL_AT'] !== point) return;
  process.stderr.write(`${op}: stalled at ${point}\n`);
  await new Promise(() => setInterval(() => undefined, 60_000));
}
