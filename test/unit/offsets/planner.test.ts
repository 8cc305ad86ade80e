/**
 * The offset plan with a fake target cluster: strategies, remapped/merged/repartitioned
 * partitions, group renaming, idempotence ("unchanged"), and the bad-input errors.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KafkaError, UsageError } from '../../../src/errors.ts';
import type { Manifest } from '../../../src/format/manifest.ts';
import { pkey } from '../../../src/kafka/admin-helpers.ts';
import { type Cluster, type GroupState, timeKey } from '../../../src/offsets/cluster.ts';
import type { RestoreContext, SourcePositions } from '../../../src/offsets/context.ts';
import { diffToSnapshot } from '../../../src/offsets/manager.ts';
import type { GroupOffsetsMap, OffsetSnapshotDoc, OffsetStrategy } from '../../../src/offsets/model.ts';
import { buildOffsetPlan, type PlanInput } from '../../../src/offsets/planner.ts';
import type { MappingRun } from '../../../src/restore/offset-map.ts';
import type { StorageBackend } from '../../../src/storage/backend.ts';

class FakeTarget {
  conn = { bootstrap_servers: ['fake:9092'] };
  topics = new Map<string, number>();
  ends = new Map<string, number>();
  starts = new Map<string, number>();
  times = new Map<string, number>();
  states = new Map<string, string>();
  current: GroupOffsetsMap = {};
  async partitionCounts(topics: string[]) {
    return new Map(topics.filter((t) => this.topics.has(t)).map((t) => [t, this.topics.get(t)!]));
  }
  async groupStates(groups: string[]) {
    return new Map<string, GroupState>(
      groups.map((g) => {
        const state = this.states.get(g) ?? 'absent';
        return [g, { state, members: state === 'Stable' ? 1 : 0, active: state === 'Stable' }];
      }),
    );
  }
  async readOffsets(groups: string[]) {
    return Object.fromEntries(groups.map((g) => [g, this.current[g] ?? {}])) as GroupOffsetsMap;
  }
  async offsets(parts: { topic: string; partition: number }[], which: 'earliest' | 'latest') {
    const src = which === 'latest' ? this.ends : this.starts;
    return new Map(parts.map((p) => [pkey(p.topic, p.partition), src.get(`${p.topic}-${p.partition}`) ?? 0]));
  }
  async offsetsForTimes(reqs: { topic: string; partition: number; ts: number }[]) {
    return new Map(
      reqs.map((r) => [timeKey(r.topic, r.partition, r.ts), this.times.get(`${r.topic}-${r.partition}@${r.ts}`) ?? -1]),
    );
  }
  async scanOriginalHeaders(): Promise<never> {
    throw new Error('not used');
  }
}

const manifest = {
  backup_id: 'b',
  topics: { orders: {}, audit: {} },
  snapshots: [{ id: 's1', end_offsets: { orders: {}, audit: {} } }],
} as unknown as Manifest;

function restoreOf(partitions: Record<string, MappingRun[]>, baselines?: Record<string, number>): RestoreContext {
  return {
    restoreId: 'r-1',
    report: {
      restore_id: 'r-1',
      backup_id: 'b',
      snapshot_id: 's1',
      topics: [{ source: 'orders', target: 'orders-dr', partitions: 3, records: 0 }],
    },
    mapping: {
      format: 'kafka-backup/offset-map',
      version: 1,
      restore_id: 'r-1',
      backup_id: 'b',
      snapshot_id: 's1',
      created_at: '',
      manifest_sha256: '',
      topics: { 'orders-dr': { source_topic: 'orders', partitions } },
    },
    mappingKey: 'b/restores/r-1/offset-map.json',
    baselines: baselines ? { 'orders-dr': baselines } : null,
  };
}

function positions(groups: GroupOffsetsMap): SourcePositions {
  return { groups, from: { kind: 'capture', key: 'k', captured_at: '', snapshot_id: 's1' }, notes: [] };
}

const c = (offset: number, metadata: string | null = null) => ({ offset, metadata });

function input(target: FakeTarget, over: Partial<PlanInput>): PlanInput {
  return {
    backupId: 'b',
    manifest,
    storage: {} as StorageBackend,
    snapshotId: 's1',
    restore: null,
    topicMapping: {},
    positions: positions({}),
    target: target as unknown as Cluster,
    groups: [],
    groupMapping: {},
    strategy: 'exact' as OffsetStrategy,
    concurrency: 4,
    ...over,
  };
}

function target3(): FakeTarget {
  const t = new FakeTarget();
  t.topics.set('orders-dr', 3);
  for (const p of [0, 1, 2]) t.ends.set(`orders-dr-${p}`, 50);
  return t;
}

describe('offset plan', () => {
  test('exact: remapped partitions, metadata carried, lag, group renamed', async () => {
    const t = target3();
    const restore = restoreOf({
      '2': [[0, 0, 0, 30]], // source 0 -> target 2
      '0': [
        [1, 10, 0, 5],
        [1, 20, 5, 10],
      ], // source 1 -> target 0, with a gap 15..19
    });
    const { plan } = await buildOffsetPlan(
      input(t, {
        restore,
        positions: positions({ billing: { orders: { '0': c(12, 'meta'), '1': c(17) } } }),
        groups: ['billing'],
        groupMapping: { billing: 'billing-dr' },
      }),
    );
    assert.deepEqual(
      plan.entries.map((e) => [
        e.group,
        e.topic,
        e.partition,
        e.source_partition,
        e.source_offset,
        e.target_offset,
        e.rule,
        e.metadata,
        e.lag,
        e.action,
      ]),
      [
        ['billing-dr', 'orders-dr', 0, 1, 17, 5, 'next-record', null, 45, 'set'],
        ['billing-dr', 'orders-dr', 2, 0, 12, 12, 'record', 'meta', 38, 'set'],
      ],
    );
    assert.deepEqual(plan.groups, [
      { source_group: 'billing', group: 'billing-dr', state: 'absent', members: 0, active: false },
    ]);
  });

  test('merged partitions: the earliest position wins, and the plan says so', async () => {
    const t = target3();
    const restore = restoreOf({
      '0': [
        [0, 0, 0, 10],
        [1, 0, 10, 10],
      ],
    });
    const { plan } = await buildOffsetPlan(
      input(t, { restore, positions: positions({ g: { orders: { '0': c(4), '1': c(6) } } }), groups: ['g'] }),
    );
    assert.equal(plan.entries.length, 1);
    const e = plan.entries[0]!;
    assert.equal(e.target_offset, 4);
    assert.equal(e.source_partition, null);
    assert.deepEqual(e.sources, [
      { partition: 0, offset: 4 },
      { partition: 1, offset: 6 },
    ]);
    assert.match(e.note!, /feed this partition/);
  });

  test('repartitioned topic: the timestamp strategy is used, and the plan says so', async () => {
    const t = target3();
    const restore = restoreOf({ '0': [[0, 0, 0, 1]], '1': [[0, 1, 0, 1]] });
    const { plan } = await buildOffsetPlan(
      input(t, { restore, positions: positions({ g: { orders: { '0': c(1) } } }), groups: ['g'] }),
    );
    assert.ok(plan.entries.every((e) => e.strategy === 'timestamp'));
    assert.ok(plan.notes.some((n) => /repartitioned/.test(n)));
  });

  test('a source partition without restored records goes to where the restore began writing', async () => {
    const t = target3();
    const restore = restoreOf({ '0': [[0, 0, 0, 10]] }, { '0': 0, '1': 7 });
    const { plan } = await buildOffsetPlan(
      input(t, { restore, positions: positions({ g: { orders: { '0': c(3), '1': c(99) } } }), groups: ['g'] }),
    );
    const p1 = plan.entries.find((e) => e.partition === 1)!;
    assert.equal(p1.target_offset, 7);
    assert.equal(p1.rule, 'no-restored-record');
  });

  test('idempotence: offsets already in place are "unchanged"', async () => {
    const t = target3();
    t.current = { g: { 'orders-dr': { '0': c(3, '') } } };
    t.states.set('g', 'Empty');
    const restore = restoreOf({ '0': [[0, 0, 0, 10]] });
    const { plan } = await buildOffsetPlan(
      input(t, { restore, positions: positions({ g: { orders: { '0': c(3) } } }), groups: ['g'] }),
    );
    assert.equal(plan.entries[0]!.action, 'unchanged');
    assert.equal(plan.entries[0]!.current_offset, 3);
  });

  test('active groups are flagged', async () => {
    const t = target3();
    t.states.set('g', 'Stable');
    const { plan } = await buildOffsetPlan(
      input(t, {
        restore: restoreOf({ '0': [[0, 0, 0, 10]] }),
        positions: positions({ g: { orders: { '0': c(3) } } }),
        groups: ['g'],
      }),
    );
    assert.equal(plan.groups[0]!.active, true);
  });

  test('explicit resets: earliest, latest, to-offset (clamped), to-datetime (end when too late)', async () => {
    const t = target3();
    t.starts.set('orders-dr-0', 5);
    t.times.set(`orders-dr-1@1000`, 17);
    const base = {
      positions: positions({ g: { orders: { '0': c(3) } } }),
      groups: ['g'],
      topicMapping: { orders: 'orders-dr' },
    };
    const run = async (strategy: OffsetStrategy, extra: Partial<PlanInput> = {}) =>
      (await buildOffsetPlan(input(t, { ...base, strategy, ...extra }))).plan.entries.map((e) => e.target_offset);
    assert.deepEqual(await run('earliest'), [5, 0, 0]);
    assert.deepEqual(await run('latest'), [50, 50, 50]);
    assert.deepEqual(await run('to-offset', { toOffset: 2 }), [5, 2, 2]);
    assert.deepEqual(await run('to-offset', { toOffset: 70 }), [50, 50, 50]);
    assert.deepEqual(await run('to-datetime', { toDatetime: 1000 }), [50, 17, 50]);
  });

  test('bad input: unknown group, no offsets on the restored topics, no mapping, missing target topic', async () => {
    const t = target3();
    const restore = restoreOf({ '0': [[0, 0, 0, 10]] });
    const pos = positions({ g: { orders: { '0': c(3) } }, a: { audit: { '0': c(1) } } });
    await assert.rejects(
      buildOffsetPlan(input(t, { restore, positions: pos, groups: ['nope'] })),
      (e: unknown) => e instanceof UsageError && e.code === 'UNKNOWN_GROUP',
    );
    await assert.rejects(
      buildOffsetPlan(input(t, { restore, positions: pos, groups: ['a'] })),
      (e: unknown) => e instanceof UsageError && e.code === 'NO_OFFSETS',
    );
    await assert.rejects(
      buildOffsetPlan(input(t, { restore, positions: pos, groups: ['zz*'] })),
      (e: unknown) => e instanceof UsageError && e.code === 'NO_GROUPS',
    );
    await assert.rejects(
      buildOffsetPlan(input(t, { positions: pos, groups: ['g'] })),
      (e: unknown) => e instanceof UsageError && e.code === 'NO_MAPPING',
    );
    await assert.rejects(
      buildOffsetPlan(
        input(t, {
          restore,
          positions: positions({ g: { orders: { '0': c(3) } }, g2: { orders: { '1': c(3) } } }),
          groups: ['g', 'g2'],
          groupMapping: { g: 'x', g2: 'x' },
        }),
      ),
      UsageError,
    );
    const empty = new FakeTarget();
    await assert.rejects(
      buildOffsetPlan(input(empty, { restore, positions: pos, groups: ['g'] })),
      (e: unknown) => e instanceof KafkaError && e.code === 'TARGET_TOPIC_MISSING',
    );
    // a pattern skips groups without offsets on the restored topics instead of failing
    const { plan } = await buildOffsetPlan(input(t, { restore, positions: pos, groups: ['*'] }));
    assert.deepEqual(plan.skipped, [{ group: 'a', reason: 'no offsets on the restored topics' }]);
  });
});

describe('rollback diff', () => {
  test('set, deleted, unchanged and group-deleted rows; null and empty metadata are the same', () => {
    const doc: OffsetSnapshotDoc = {
      format: 'kafka-backup/offset-snapshot',
      version: 1,
      id: 'os-1',
      created_at: '',
      backup_id: 'b',
      reason: 'test',
      target: { bootstrap_servers: [] },
      groups: {
        g: { existed: true, state: 'Empty', offsets: { t: { '0': c(5, null), '1': c(7, 'm') } } },
        h: { existed: false, state: 'absent', offsets: {} },
      },
    };
    const current: GroupOffsetsMap = {
      g: { t: { '0': c(5, ''), '1': c(9, 'm'), '2': c(1) }, u: { '0': c(3) } },
      h: { t: { '0': c(2) } },
    };
    const states = new Map<string, GroupState>([
      ['g', { state: 'Empty', members: 0, active: false }],
      ['h', { state: 'Empty', members: 0, active: false }],
    ]);
    assert.deepEqual(
      diffToSnapshot(doc, current, states).map((r) => [r.group, r.topic, r.partition, r.from, r.to, r.action]),
      [
        ['g', 't', 0, 5, 5, 'unchanged'],
        ['g', 't', 1, 9, 7, 'set'],
        ['g', 't', 2, 1, null, 'deleted'],
        ['g', 'u', 0, 3, null, 'deleted'],
        ['h', 't', 0, 2, null, 'deleted'],
        ['h', '', -1, null, null, 'group-deleted'],
      ],
    );
  });
});
