import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Snapshot } from '../../../src/format/manifest.ts';
import {
  describePartition,
  describeSnapshot,
  displayState,
  pickSnapshot,
  summarizeLine,
  topicOf,
} from '../../../src/inspect/summary.ts';
import type { Lease } from '../../../src/repository/line.ts';
import { buildLine, T0, TOPIC, TOPIC_ID } from './fixtures.ts';

const snap = (over: Partial<Snapshot> = {}): Snapshot => ({
  id: 's',
  run_id: 'runA',
  mode: 'snapshot',
  state: 'in-progress',
  started_at: new Date(T0).toISOString(),
  end_offsets: {},
  ...over,
});
const lease = (run: string, expiresIn: number): Lease => ({
  run_id: run,
  host: 'h',
  pid: 1,
  acquired_at: new Date(T0).toISOString(),
  expires_at: new Date(T0 + expiresIn).toISOString(),
});

describe('displayState', () => {
  it('shows an in-progress snapshot as live only while its run holds an unexpired lease', () => {
    assert.equal(displayState(snap(), lease('runA', 60_000), T0), 'in-progress');
    assert.equal(displayState(snap(), lease('runA', -1), T0), 'in-progress (stale)');
    assert.equal(displayState(snap(), lease('runB', 60_000), T0), 'in-progress (stale)');
    assert.equal(displayState(snap(), null, T0), 'in-progress (stale)');
  });
  it('passes finished states through', () => {
    for (const state of ['complete', 'failed', 'interrupted'] as const)
      assert.equal(displayState(snap({ state }), null, T0), state);
  });
});

describe('summarizeLine', () => {
  it('sums records and sizes of the files each snapshot includes', async () => {
    const f = await buildLine();
    const s = summarizeLine(f.gen2, null, T0);
    assert.equal(s.backup_id, 'line1');
    assert.equal(s.generation, 2);
    assert.deepEqual(
      s.snapshots.map((x) => [x.id, x.state, x.records, x.files]),
      [
        ['s1', 'complete', 13, 2],
        ['s2', 'complete', 24, 4],
      ],
    );
    const { p0a, p1a } = f.files;
    assert.equal(s.snapshots[0]!.stored_bytes, p0a.size + p1a.size);
    assert.equal(s.snapshots[0]!.raw_bytes, p0a.raw_bytes + p1a.raw_bytes);
    assert.equal(s.snapshots[0]!.created, new Date(T0).toISOString());
    assert.equal(s.snapshots[0]!.finished, new Date(T0 + 1000).toISOString());
  });
});

describe('describeSnapshot', () => {
  it('describes topics and partitions of a snapshot', async () => {
    const f = await buildLine();
    const d = describeSnapshot(f.gen2, f.gen2.snapshots[1]!, null, T0);
    assert.equal(d.snapshot.id, 's2');
    assert.deepEqual(d.totals.records, 24);
    const t = d.topics[0]!;
    assert.equal(t.name, TOPIC);
    assert.equal(t.topic_id, TOPIC_ID);
    assert.equal(t.partition_count, 2);
    assert.equal(t.replication_factor, 1);
    assert.deepEqual(t.configs, { 'retention.ms': '86400000' });
    assert.equal(t.timestamp_type, 'CreateTime');
    const p0 = t.partitions[0]!;
    assert.equal(p0.start_offset, 0);
    assert.equal(p0.end_offset, 30);
    assert.equal(p0.covered_to, 30);
    assert.equal(p0.records, 21);
    assert.equal(p0.files, 3);
    assert.equal(p0.min_timestamp, T0);
    assert.equal(p0.max_timestamp, T0 + 29);
    assert.deepEqual(p0.skipped, { control: 2 });
    assert.deepEqual(
      p0.gaps.map((g) => [g.start, g.end, g.cause]),
      [
        [10, 15, 'retention'],
        [25, 27, 'unknown'],
      ],
    );
    assert.equal(p0.records_exact, true);
    assert.equal(p0.stored_bytes, f.files.p0a.size + f.files.p0b.size + f.files.p0c.size);
    assert.equal(t.partitions[1]!.records, 3);
  });

  it('counts only files below the snapshot end; older snapshots see less', async () => {
    const f = await buildLine();
    const d = describeSnapshot(f.gen2, f.gen2.snapshots[0]!, null, T0);
    const p0 = d.topics[0]!.partitions[0]!;
    assert.equal(p0.end_offset, 10);
    assert.equal(p0.records, 10);
    assert.equal(p0.files, 1);
    assert.deepEqual(p0.gaps, []);
    assert.equal(p0.max_timestamp, T0 + 9);
  });

  it('flags a file that straddles the end and clips gaps to it', async () => {
    const f = await buildLine();
    const ps = f.gen2.topics[TOPIC]!.partitions['0']!;
    const p = describePartition(0, ps, 20);
    assert.equal(p.records_exact, false);
    assert.deepEqual(p.straddling_files, [f.files.p0b.key]);
    assert.equal(p.records, 18);
    assert.deepEqual(p.gaps, [{ start: 10, end: 15, cause: 'retention' }]);
    const q = describePartition(0, ps, 12);
    assert.deepEqual(q.gaps, [{ start: 10, end: 12, cause: 'retention' }]);
  });

  it('shows how far an unfinished snapshot got', async () => {
    const f = await buildLine();
    const ps = f.gen1.topics[TOPIC]!.partitions['0']!;
    const p = describePartition(0, ps, 50);
    assert.equal(p.covered_to, 10);
    assert.equal(p.end_offset, 50);
  });
});

describe('topicOf', () => {
  it('older snapshots of a re-created topic see the retired incarnation', async () => {
    const f = await buildLine();
    const m = structuredClone(f.gen2);
    const old = m.topics[TOPIC]!;
    m.retired_topics.push({
      name: TOPIC,
      topic_id: TOPIC_ID,
      retired_at: new Date(T0 + 5000).toISOString(),
      reason: 're-created',
      state: old,
    });
    m.topics[TOPIC] = { ...old, topic_id: 'NEW', partitions: {} };
    m.snapshots.push(snap({ id: 's3', state: 'complete', started_at: new Date(T0 + 5000).toISOString() }));
    assert.equal(topicOf(m, TOPIC, m.snapshots[1]!)?.topic_id, TOPIC_ID);
    assert.equal(topicOf(m, TOPIC, m.snapshots[2]!)?.topic_id, 'NEW');
    assert.equal(describeSnapshot(m, m.snapshots[1]!, null, T0).totals.records, 24);
  });
});

describe('pickSnapshot', () => {
  it('defaults to the newest complete snapshot', async () => {
    const f = await buildLine();
    const m = structuredClone(f.gen2);
    m.snapshots.push(snap({ id: 's3' }));
    assert.equal(pickSnapshot(m, undefined).snapshot?.id, 's2');
    assert.equal(pickSnapshot(m, 's3').snapshot?.id, 's3');
  });
  it('lists the snapshots that exist for an unknown id', async () => {
    const f = await buildLine();
    const r = pickSnapshot(f.gen2, 'nope');
    assert.equal(r.snapshot, null);
    assert.ok(!r.snapshot);
    assert.match(r.message, /no snapshot 'nope'/);
    assert.match(r.hint, /s1 \(complete\), s2 \(complete\)/);
  });
  it('says so when no snapshot is complete', async () => {
    const f = await buildLine();
    const m = structuredClone(f.gen2);
    m.snapshots = [snap({ id: 'x', state: 'failed' })];
    const r = pickSnapshot(m, undefined);
    assert.ok(!r.snapshot);
    assert.match(r.message, /no complete snapshot/);
    assert.match(r.hint, /x \(failed\)/);
  });
});
