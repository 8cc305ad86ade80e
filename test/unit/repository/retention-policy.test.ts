/**
 * The keep policy (restic's semantics: the newest snapshot of each of the N most recent buckets;
 * keep-within relative to the newest snapshot; tags), forget's plan over a line's snapshots, and
 * the record-time horizon's prefix drop.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FileEntry, Manifest, Snapshot } from '../../../src/format/manifest.ts';
import {
  applyPolicy,
  type KeepPolicy,
  oldestRestorableAfter,
  type PolicySnapshot,
  parseDuration,
  planDrop,
  planForget,
  snapshotsEntirelyDropped,
} from '../../../src/repository/retention-policy.ts';
import { emptyView } from '../../../src/repository/state.ts';

const H = 3_600_000;
const D = 24 * H;
const T0 = Date.UTC(2026, 0, 1, 0, 30); // Thursday 2026-01-01 00:30 UTC

/** One snapshot every `step` ms, `n` of them, oldest first from T0. */
function series(n: number, step: number, from = T0): PolicySnapshot[] {
  return Array.from({ length: n }, (_, i) => ({ id: `s${String(i).padStart(3, '0')}`, time: from + i * step }));
}

const kept = (snaps: PolicySnapshot[], p: KeepPolicy) =>
  applyPolicy(snaps, p)
    .filter((d) => d.keep)
    .map((d) => d.id)
    .sort();

describe('keep policy', () => {
  test('keep-last keeps the n newest', () => {
    assert.deepEqual(kept(series(10, H), { last: 3 }), ['s007', 's008', 's009']);
    assert.deepEqual(kept(series(2, H), { last: 5 }), ['s000', 's001']);
  });

  test('keep-hourly keeps the newest snapshot of each of the n newest hours that have one', () => {
    // 4 snapshots per hour for 5 hours
    const snaps = series(20, 15 * 60_000, Date.UTC(2026, 0, 1, 10, 0));
    assert.deepEqual(kept(snaps, { hourly: 3 }), ['s011', 's015', 's019']);
  });

  test('keep-daily counts days with a snapshot, not calendar days', () => {
    // days 0, 1, 5, 9: three newest days that have snapshots are 1, 5, 9
    const snaps = [0, 1, 5, 9].flatMap((d, i) => [
      { id: `d${i}a`, time: T0 + d * D },
      { id: `d${i}b`, time: T0 + d * D + H },
    ]);
    assert.deepEqual(kept(snaps, { daily: 3 }), ['d1b', 'd2b', 'd3b']);
  });

  test('daily buckets are UTC days', () => {
    const snaps = [
      { id: 'late', time: Date.UTC(2026, 0, 1, 23, 59) },
      { id: 'early', time: Date.UTC(2026, 0, 2, 0, 1) },
    ];
    assert.deepEqual(kept(snaps, { daily: 2 }), ['early', 'late']);
    assert.deepEqual(kept(snaps, { hourly: 1 }), ['early']);
  });

  test('keep-weekly uses ISO weeks (Monday to Sunday, week-numbering year)', () => {
    const snaps = [
      { id: 'sun', time: Date.UTC(2026, 0, 4, 12) }, // Sunday, ISO week 2026-W01
      { id: 'mon', time: Date.UTC(2026, 0, 5, 12) }, // Monday, W02
      { id: 'tue', time: Date.UTC(2026, 0, 6, 12) }, // W02
      { id: 'dec29', time: Date.UTC(2025, 11, 29, 12) }, // Monday, ISO 2026-W01 as well
    ];
    assert.deepEqual(kept(snaps, { weekly: 5 }), ['sun', 'tue']);
  });

  test('keep-monthly and keep-yearly', () => {
    const snaps = series(40, 20 * D); // ~26 months
    const monthly = kept(snaps, { monthly: 3 });
    assert.equal(monthly.length, 3);
    assert.ok(monthly.includes('s039'));
    const months = new Set(monthly.map((id) => new Date(snaps.find((s) => s.id === id)!.time).getUTCMonth()));
    assert.equal(months.size, 3);
    assert.deepEqual(kept(snaps, { yearly: 10 }).length, 3); // 2026, 2027, 2028
  });

  test('keep-within is relative to the newest snapshot, not to now', () => {
    const snaps = series(10, D, Date.UTC(2020, 0, 1));
    assert.deepEqual(kept(snaps, { withinMs: 3 * D }), ['s007', 's008', 's009']);
  });

  test('keep-tag keeps every tagged snapshot; rules combine as a union with every reason', () => {
    const snaps = series(6, D).map((s, i) => (i === 1 || i === 3 ? { ...s, tags: ['release'] } : s));
    const d = applyPolicy(snaps, { last: 1, tags: ['release'] });
    assert.deepEqual(
      d.filter((x) => x.keep).map((x) => x.id),
      ['s005', 's003', 's001'],
    );
    assert.deepEqual(d.find((x) => x.id === 's003')!.reasons, ['tag release']);
    const both = applyPolicy(snaps, { last: 2, daily: 1 });
    assert.deepEqual(both[0]!.reasons, ['last snapshot', 'daily snapshot']);
    assert.deepEqual(both[1]!.reasons, ['last snapshot']);
    assert.deepEqual(both[2]!.reasons, []);
  });

  test('an empty policy keeps nothing (forget refuses it before this)', () => {
    assert.deepEqual(kept(series(3, H), {}), []);
  });

  test('durations', () => {
    assert.equal(parseDuration('30d'), 30 * D);
    assert.equal(parseDuration('12h'), 12 * H);
    assert.equal(parseDuration('1w2d'), 9 * D);
    assert.equal(parseDuration('90min'), 90 * 60_000);
    assert.equal(parseDuration('1y'), 365 * D);
    for (const bad of ['', '5', '3m', 'd', '1d x', '0d', '-1d'])
      assert.throws(() => parseDuration(bad), RangeError, bad);
  });
});

function snap(id: string, at: number, extra: Partial<Snapshot> = {}): Snapshot {
  return {
    id,
    run_id: `run-${id}`,
    mode: 'snapshot',
    state: 'complete',
    started_at: new Date(at).toISOString(),
    finished_at: new Date(at + 1000).toISOString(),
    end_offsets: {},
    ...extra,
  };
}

describe('forget plan', () => {
  test('only complete snapshots are candidates; the newest complete one stays unless asked', () => {
    const snaps = [
      snap('a', T0),
      snap('b', T0 + D),
      snap('c', T0 + 2 * D, { state: 'failed' }),
      snap('d', T0 + 3 * D, { state: 'in-progress' }),
    ];
    const plan = planForget(snaps, { tags: ['none'] });
    const byId = Object.fromEntries(plan.map((e) => [e.id, e]));
    assert.equal(byId['a']!.keep, false);
    assert.equal(byId['b']!.keep, true);
    assert.match(byId['b']!.reasons[0]!, /newest complete/);
    assert.match(byId['c']!.reasons[0]!, /^failed/);
    assert.match(byId['d']!.reasons[0]!, /^in-progress/);
    const forced = planForget(snaps, { tags: ['none'] }, { forgetNewest: true });
    assert.equal(forced.find((e) => e.id === 'b')!.keep, false);
  });

  test('a continuous snapshot stands for its end time', () => {
    const snaps = [
      snap('cont', T0, { mode: 'continuous', finished_at: new Date(T0 + 10 * D).toISOString() }),
      snap('snap', T0 + 5 * D),
    ];
    assert.deepEqual(
      planForget(snaps, { last: 1 }).map((e) => [e.id, e.keep]),
      [
        ['cont', true],
        ['snap', false],
      ],
    );
  });
});

function file(first: number, n: number, maxTs: number): FileEntry {
  return {
    key: `k${first}`,
    size: 100,
    crc32c: '00000000',
    run_id: 'r',
    first_offset: first,
    last_offset: first + n - 1,
    records: n,
    batches: 1,
    blocks: 1,
    raw_bytes: 10 * n,
    min_timestamp: maxTs - 10,
    max_timestamp: maxTs,
    skipped: {},
    created_at: '2026-01-01T00:00:00Z',
  };
}

function lineWith(files: FileEntry[], gaps: Manifest['topics'][string]['partitions'][string]['gaps'] = []): Manifest {
  const v = emptyView('x');
  const next = Math.max(...files.map((f) => f.last_offset + 1), ...gaps.map((g) => g.end));
  v.topics['t'] = {
    topic_id: 'id',
    partition_count: 1,
    replication_factor: 1,
    configs: {},
    timestamp_type: 'CreateTime',
    partitions: { '0': { start_offset: 0, next_offset: next, files, gaps } },
  };
  return v;
}

describe('record-time horizon', () => {
  test('drops the prefix of old files and stops at the first young one, even if older ones follow', () => {
    const v = lineWith([file(0, 10, 100), file(10, 10, 200), file(20, 10, 900), file(30, 10, 150)]);
    const [d] = planDrop(v, 500);
    assert.equal(d!.below, 20);
    assert.deepEqual(
      d!.files.map((f) => f.key),
      ['k0', 'k10'],
    );
    assert.deepEqual(planDrop(v, 50), []);
  });

  test('gaps between old files go with them; everything old drops to next_offset', () => {
    const v = lineWith([file(0, 10, 100), file(15, 5, 120)], [{ start: 10, end: 15, cause: 'control' }]);
    const [d] = planDrop(v, 10_000);
    assert.equal(d!.below, 20);
  });

  test('snapshots whose every partition is below the boundary are forgotten with the drop', () => {
    const v = lineWith([file(0, 10, 100), file(10, 10, 200), file(20, 10, 900)]);
    v.snapshots = [
      snap('old', T0, { end_offsets: { t: { '0': 10 } } }),
      snap('edge', T0 + 1, { end_offsets: { t: { '0': 20 } } }),
      snap('young', T0 + 2, { end_offsets: { t: { '0': 30 } } }),
      snap('live', T0 + 3, { state: 'in-progress', end_offsets: { t: { '0': 5 } } }),
    ];
    const drops = planDrop(v, 500);
    assert.deepEqual(
      snapshotsEntirelyDropped(v, drops, (s) => s.id === 'live'),
      ['old', 'edge'],
    );
  });

  test('the oldest restorable record after a drop is the first kept file with records', () => {
    const v = lineWith([file(0, 10, 100), file(10, 10, 200), file(20, 10, 900), file(30, 10, 150)]);
    const empty = { ...file(40, 5, -1), records: 0, min_timestamp: -1 };
    v.topics['t']!.partitions['0']!.files.push(empty);
    assert.deepEqual(oldestRestorableAfter(v, []), { t: 90 });
    assert.deepEqual(oldestRestorableAfter(v, planDrop(v, 500)), { t: 890 });
    // a second partition with an older first record wins; one with nothing kept says -1
    v.topics['t']!.partitions['1'] = { start_offset: 0, next_offset: 10, files: [file(0, 10, 50)], gaps: [] };
    assert.deepEqual(oldestRestorableAfter(v, planDrop(v, 500)), { t: 890 });
    assert.deepEqual(oldestRestorableAfter(v, []), { t: 40 });
    const all = planDrop(v, 10_000);
    assert.deepEqual(oldestRestorableAfter(v, all), { t: -1 });
  });
});
