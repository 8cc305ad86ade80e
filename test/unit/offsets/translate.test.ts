import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UsageError } from '../../../src/errors.ts';
import {
  type CaptureRef,
  chooseCapture,
  type Lane,
  mapGroups,
  mergeCandidates,
  parseCaptureKey,
  parseDecimalHeader,
  parseMappingList,
  RunCollector,
  selectGroups,
  TopicRunIndex,
  translateInLane,
} from '../../../src/offsets/translate.ts';
import { MappingBuilder, type MappingRun, translateOffset } from '../../../src/restore/offset-map.ts';

function lane(runs: MappingRun[]): Lane {
  const idx = new TopicRunIndex({ '0': runs });
  return idx.lanesOf(runs[0]![0])[0]!;
}

/** Runs from the source offsets that were restored, in order, starting at target offset `base`. */
function restored(sourceOffsets: number[], base = 0, sp = 0): MappingRun[] {
  const b = new MappingBuilder();
  for (const [i, s] of sourceOffsets.entries()) b.add(sp, s, base + i);
  return b.runs;
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

describe('exact translation within one lane', () => {
  // source 0..9 restored, 10..19 missing (compaction), 20..29 restored, target starts at 100
  const l = lane(restored([...range(0, 10), ...range(20, 30)], 100));

  test('a committed offset that is a restored record maps to that record', () => {
    assert.deepEqual(translateInLane(l, 0), { offset: 100, rule: 'record' });
    assert.deepEqual(translateInLane(l, 5), { offset: 105, rule: 'record' });
    assert.deepEqual(translateInLane(l, 9), { offset: 109, rule: 'record' });
    assert.deepEqual(translateInLane(l, 20), { offset: 110, rule: 'record' });
    assert.deepEqual(translateInLane(l, 29), { offset: 119, rule: 'record' });
  });

  test('an offset inside a gap maps to the next restored record', () => {
    for (const o of range(10, 20)) assert.deepEqual(translateInLane(l, o), { offset: 110, rule: 'next-record' });
  });

  test('after the last restored record: last target offset + 1', () => {
    assert.deepEqual(translateInLane(l, 30), { offset: 120, rule: 'after-last' });
    assert.deepEqual(translateInLane(l, 1_000_000), { offset: 120, rule: 'after-last' });
  });

  test('before every restored record: the first restored target offset', () => {
    const late = lane(restored(range(50, 60), 7));
    assert.deepEqual(translateInLane(late, 0), { offset: 7, rule: 'before-first' });
    assert.deepEqual(translateInLane(late, 49), { offset: 7, rule: 'before-first' });
    assert.deepEqual(translateInLane(late, 50), { offset: 7, rule: 'record' });
  });

  test('time windows: only some stretches restored', () => {
    // source 0..99, window kept 20..39 and 60..79
    const w = lane(restored([...range(20, 40), ...range(60, 80)]));
    assert.deepEqual(translateInLane(w, 10), { offset: 0, rule: 'before-first' });
    assert.deepEqual(translateInLane(w, 39), { offset: 19, rule: 'record' });
    assert.deepEqual(translateInLane(w, 45), { offset: 20, rule: 'next-record' });
    assert.deepEqual(translateInLane(w, 85), { offset: 40, rule: 'after-last' });
  });

  test('aborted transactions and markers: committed offset on a marker goes to the next committed record', () => {
    // 0-4 committed, 5 marker, 6-10 aborted, 11 marker, 12-16 committed, 17 marker
    const t = lane(restored([...range(0, 5), ...range(12, 17)]));
    assert.deepEqual(translateInLane(t, 5), { offset: 5, rule: 'next-record' });
    assert.deepEqual(translateInLane(t, 17), { offset: 10, rule: 'after-last' });
  });

  test('sparse single records (heavily compacted) use the binary search correctly', () => {
    const src = [3, 7, 8, 15, 40, 41, 42, 99];
    const t = lane(restored(src, 10));
    for (let o = 0; o <= 100; o++) {
      const i = src.findIndex((s) => s >= o);
      const want = i < 0 ? 10 + src.length : 10 + i;
      assert.equal(translateInLane(t, o).offset, want, `offset ${o}`);
    }
  });

  test('agrees with the reference rule of the mapping artifact on random lanes', () => {
    let seed = 42;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let round = 0; round < 300; round++) {
      const src: number[] = [];
      let o = Math.floor(rnd() * 5);
      const n = 1 + Math.floor(rnd() * 40);
      for (let i = 0; i < n; i++) {
        src.push(o);
        o += rnd() < 0.3 ? 1 + Math.floor(rnd() * 6) : 1;
      }
      const runs = restored(src, Math.floor(rnd() * 1000));
      const l2 = lane(runs);
      for (let c = 0; c <= o + 2; c++)
        assert.equal(translateInLane(l2, c).offset, translateOffset(runs, 0, c), `round ${round} offset ${c}`);
    }
  });
});

describe('topic run index: remapped, merged and repartitioned partitions', () => {
  test('remapped partitions: each source partition translates onto its own target partition', () => {
    const idx = new TopicRunIndex({ '2': restored(range(0, 10), 0, 0), '0': restored(range(5, 15), 0, 1) });
    assert.equal(idx.repartitioned, false);
    assert.deepEqual(idx.translate(0, 4), { offset: 4, rule: 'record', partition: 2 });
    assert.deepEqual(idx.translate(1, 4), { offset: 0, rule: 'before-first', partition: 0 });
    assert.deepEqual(idx.translate(1, 20), { offset: 10, rule: 'after-last', partition: 0 });
    assert.equal(idx.translate(3, 0), null);
  });

  test('merged partitions: two source partitions, one after the other, in one target partition', () => {
    const runs = [...restored(range(0, 10), 0, 0), ...restored(range(0, 10), 10, 1)];
    const idx = new TopicRunIndex({ '0': runs });
    assert.deepEqual(idx.sourcesOf(0), [0, 1]);
    const a = idx.translate(0, 4)!;
    const b = idx.translate(1, 4)!;
    assert.deepEqual([a.offset, b.offset], [4, 14]);
    const m = mergeCandidates([
      { sourcePartition: 0, sourceOffset: 4, offset: a.offset, rule: a.rule },
      { sourcePartition: 1, sourceOffset: 4, offset: b.offset, rule: b.rule },
    ]);
    assert.equal(m.offset, 4);
    assert.equal(m.merged, true);
    assert.equal(m.chosen.sourcePartition, 0);
    // the earlier partition fully read: its "after-last" is where the second one starts
    assert.equal(idx.translate(0, 10)!.offset, 10);
  });

  test('repartitioned: one source partition spread over several target partitions cannot be translated exactly', () => {
    const idx = new TopicRunIndex({
      '0': [
        [0, 0, 0, 1],
        [0, 2, 1, 1],
      ],
      '1': [[0, 1, 0, 1]],
    });
    assert.equal(idx.repartitioned, true);
    assert.equal(idx.translate(0, 1), null);
    assert.deepEqual(
      idx.lanesOf(0).map((l) => l.targetPartition),
      [0, 1],
    );
  });

  test('empty runs are ignored', () => {
    const idx = new TopicRunIndex({ '0': [[0, 5, 0, 0]] });
    assert.equal(idx.translate(0, 0), null);
    assert.deepEqual(idx.targetPartitions(), []);
  });
});

describe('header scan runs', () => {
  test('consecutive triples become one run; a jump starts a new one', () => {
    const c = new RunCollector();
    for (const [tp, sp, so, to] of [
      [0, 0, 10, 0],
      [0, 0, 11, 1],
      [0, 0, 13, 2],
      [0, 1, 0, 3],
      [1, 0, 14, 0],
    ] as const)
      c.add(tp, sp, so, to);
    assert.deepEqual(c.partitions(), {
      '0': [
        [0, 10, 0, 2],
        [0, 13, 2, 1],
        [1, 0, 3, 1],
      ],
      '1': [[0, 14, 0, 1]],
    });
  });

  test('decimal header values', () => {
    assert.equal(parseDecimalHeader(Buffer.from('0')), 0);
    assert.equal(parseDecimalHeader(Buffer.from('123456789012')), 123456789012);
    assert.equal(parseDecimalHeader(Buffer.from('-1')), null);
    assert.equal(parseDecimalHeader(Buffer.from('1e3')), null);
    assert.equal(parseDecimalHeader(Buffer.from('')), null);
    assert.equal(parseDecimalHeader(null), null);
    assert.equal(parseDecimalHeader(Buffer.from('99999999999999999999')), null);
  });
});

describe('groups: selection and renaming', () => {
  const all = ['billing', 'billing-eu', 'orders', 'orders.v2', 'audit'];

  test('names, globs and regular expressions', () => {
    assert.deepEqual(selectGroups(all, ['billing*']).selected, ['billing', 'billing-eu']);
    assert.deepEqual(selectGroups(all, ['orders?v2']).selected, ['orders.v2']);
    assert.deepEqual(selectGroups(all, ['~^(audit|orders)$']).selected, ['audit', 'orders']);
    assert.deepEqual(selectGroups(all, ['orders', 'audit']).selected, ['audit', 'orders']);
    assert.deepEqual(selectGroups(all, []).selected, [...all].sort());
  });

  test('unknown names and patterns without a match are reported', () => {
    const s = selectGroups(all, ['nope', 'x*', 'audit']);
    assert.deepEqual(s.selected, ['audit']);
    assert.deepEqual(s.unknown, ['nope']);
    assert.deepEqual(s.unmatched, ['x*']);
  });

  test('a bad regular expression is a usage error', () => {
    assert.throws(() => selectGroups(all, ['~(']), UsageError);
  });

  test('renaming, and two groups onto one name refused', () => {
    assert.deepEqual(
      [...mapGroups(['a', 'b'], { a: 'a-dr' })],
      [
        ['a', 'a-dr'],
        ['b', 'b'],
      ],
    );
    assert.throws(() => mapGroups(['a', 'b'], { a: 'b' }), /both be moved to target group 'b'/);
  });

  test('mapping lists from the command line', () => {
    assert.deepEqual(parseMappingList('a=b, c=d', '--group-mapping'), { a: 'b', c: 'd' });
    assert.deepEqual(parseMappingList('', '--group-mapping'), {});
    assert.throws(() => parseMappingList('a', '--group-mapping'), UsageError);
    assert.throws(() => parseMappingList('=b', '--group-mapping'), UsageError);
  });
});

describe('choosing the capture', () => {
  const key = (s: string, iso: string) => `line/consumer-offsets/${s}/${iso.replace(/[:.]/g, '')}.json`;
  const caps = (list: [string, string][]): CaptureRef[] => list.map(([s, iso]) => parseCaptureKey(key(s, iso))!);
  const order = ['s1', 's2', 's3'];
  const all = caps([
    ['s1', '2025-01-01T10:00:00.000Z'],
    ['s2', '2025-01-02T10:00:00.000Z'],
    ['s2', '2025-01-02T12:00:00.000Z'],
    ['s3', '2025-01-03T10:00:00.000Z'],
  ]);

  test('capture keys parse back to their time', () => {
    const c = parseCaptureKey(key('snap-1', '2025-06-01T01:02:03.456Z'))!;
    assert.equal(c.snapshotId, 'snap-1');
    assert.equal(c.capturedAt, Date.parse('2025-06-01T01:02:03.456Z'));
    assert.equal(parseCaptureKey('line/consumer-offsets/x/garbage.json'), null);
  });

  test("without a point in time: the snapshot's own capture (its own key, else its newest)", () => {
    assert.equal(chooseCapture(all, order, 's2', undefined)!.capture.capturedAt, Date.parse('2025-01-02T12:00:00Z'));
    assert.equal(chooseCapture(all, order, 's2', undefined, all[1]!.key)!.capture.key, all[1]!.key);
  });

  test('with a point in time: the newest capture at or before it, never one of a later snapshot', () => {
    const t = Date.parse('2025-01-02T11:00:00Z');
    assert.equal(chooseCapture(all, order, 's3', t)!.capture.key, all[1]!.key);
    assert.equal(chooseCapture(all, order, 's3', Date.parse('2025-01-02T12:00:00Z'))!.capture.key, all[2]!.key);
    assert.equal(chooseCapture(all, order, 's1', Date.parse('2025-01-05T00:00:00Z'))!.capture.key, all[0]!.key);
  });

  test('a point in time before every capture: the earliest capture, with a note', () => {
    const c = chooseCapture(all, order, 's2', Date.parse('2024-12-01T00:00:00Z'))!;
    assert.equal(c.capture.key, all[0]!.key);
    assert.match(c.note!, /no capture at or before/);
  });

  test('a snapshot without capture falls back to an older one, with a note; none at all is null', () => {
    const c = chooseCapture(all.slice(0, 1), order, 's2', undefined)!;
    assert.equal(c.capture.snapshotId, 's1');
    assert.match(c.note!, /has no captured offsets/);
    assert.equal(chooseCapture([], order, 's2', undefined), null);
    assert.equal(chooseCapture(all, order, 'unknown', undefined), null);
  });
});
