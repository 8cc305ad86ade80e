/**
 * The offset manager against the real broker, checked with consumers that are not our code:
 * Kafka's own Java consumer in group mode (read_committed) consumes and commits on the source,
 * we back up, restore into a new topic and move the group with `kafka-backup offsets apply`, and
 * the same Java group consumer must resume on the restored topic at exactly the next record it
 * had not consumed: nothing skipped, nothing repeated (compared by record values, which are
 * unique, against Java dumps of the source and the target).
 *
 * Needs `scripts/services.sh start kafka` and the Java peers (scripts/java-peers.sh).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runBackup } from '../../../src/backup/engine.ts';
import { backupDefaults } from '../../../src/backup/options.ts';
import { type RestoreResult, restoreKeys, runRestore } from '../../../src/restore/engine.ts';
import { type RestoreOptions, restoreDefaults } from '../../../src/restore/options.ts';
import { FilesystemBackend } from '../../../src/storage/filesystem.ts';
import { type CliResult, cli, jsonOut, tempDir } from '../../helpers/cli.ts';
import {
  COMPACTION_CONFIGS,
  createTopic,
  deleteTopics,
  KAFKA_BOOTSTRAP,
  kafkaTool,
  sleep,
  uniqueTopic,
  waitForCompaction,
  withAdmin,
} from '../../helpers/kafka.ts';
import {
  type CommittedOffset,
  consumeAsGroup,
  type DumpedRecord,
  dumpTopic,
  groupOffsets,
  produceSpec,
  type SpecLine,
  text,
} from '../../helpers/peers.ts';

const created: string[] = [];
after(() => deleteTopics(created));

async function topic(prefix: string, partitions = 1, configs: Record<string, string> = {}): Promise<string> {
  const name = await createTopic(uniqueTopic(`offsets-${prefix}`), { partitions, configs });
  created.push(name);
  return name;
}

const uniqueGroup = (p: string) => uniqueTopic(`g-${p}`);

/** Runs `kafka-backup offsets ...` as a user would. */
function offsetsCli(args: string[]): Promise<CliResult> {
  return cli(['--log-level', 'warn', 'offsets', ...args]);
}

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout:\n${r.stdout.slice(-3000)}\nstderr:\n${r.stderr.slice(-3000)}`);
  return r;
}

async function backup(dir: string, backupId: string, topics: string[]): Promise<void> {
  await runBackup({
    ...backupDefaults,
    backupId,
    source: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
    topics: { include: topics },
    storage: new FilesystemBackend({ path: dir }),
    checkpointIntervalSecs: 1,
  });
}

async function restore(
  dir: string,
  backupId: string,
  map: Record<string, string>,
  extra: Partial<RestoreOptions> = {},
): Promise<RestoreResult> {
  for (const t of Object.values(map)) created.push(t);
  return runRestore({
    ...restoreDefaults,
    backupId,
    storage: new FilesystemBackend({ path: dir }),
    target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
    topics: { include: Object.keys(map) },
    topicMapping: map,
    ...extra,
  });
}

/** Committed offsets per partition of `group` on `topic`, as Kafka's Java Admin reports them. */
async function committed(group: string, topic: string): Promise<Map<number, number>> {
  const rows: CommittedOffset[] = await groupOffsets(group);
  return new Map(rows.filter((r) => r.topic === topic && r.offset !== null).map((r) => [r.partition, r.offset!]));
}

const valueText = (r: DumpedRecord) => text(r.value) ?? '';

function byPartition(records: DumpedRecord[]): Map<number, string[]> {
  const m = new Map<number, string[]>();
  for (const r of records) m.set(r.partition, [...(m.get(r.partition) ?? []), valueText(r)]);
  return m;
}

/**
 * What the group must read next on the restored topic: every restored record (Java dump of the
 * target) whose source record (found by its unique value in the Java dump of the source) is at
 * or after the group's committed source offset, in target order.
 */
function expectedNext(
  sourceDump: DumpedRecord[],
  targetDump: DumpedRecord[],
  srcCommitted: Map<number, number>,
): DumpedRecord[] {
  const srcOffset = new Map(sourceDump.map((r) => [valueText(r), r]));
  return targetDump.filter((r) => {
    const s = srcOffset.get(valueText(r));
    assert.ok(s, `restored record ${valueText(r)} is not in the source dump`);
    return s.offset >= (srcCommitted.get(s.partition) ?? 0);
  });
}

/** The group consumes the restored topic with the Java consumer and must get exactly `expected`. */
async function assertResumes(group: string, target: string, expected: DumpedRecord[]): Promise<void> {
  if (expected.length === 0) return;
  const got = await consumeAsGroup(group, target, expected.length, { timeoutMs: 20_000 });
  assert.deepEqual(
    [...byPartition(got)].sort((a, b) => a[0] - b[0]),
    [...byPartition(expected)].sort((a, b) => a[0] - b[0]),
    'the group resumed at a different record (skip or repeat)',
  );
}

const BASE = Date.now() - 3_600_000;

function plainSpec(partitions: number, perPartition: number, prefix: string): SpecLine[] {
  const lines: SpecLine[] = [];
  for (let i = 0; i < perPartition; i++) {
    for (let p = 0; p < partitions; p++)
      lines.push({ partition: p, key: `k${p}-${i}`, value: `${prefix}-${p}-${i}`, timestamp: BASE + i * 1000 });
    if (i % 7 === 6) lines.push({ flush: true });
  }
  return lines;
}

describe('offset manager against the real broker', { timeout: 900_000 }, () => {
  describe('plain topic: plan, apply, idempotence, verify, rollback, bad input', () => {
    const dir = tempDir('offsets-plain');
    const backupId = 'plain';
    let src: string;
    let other: string;
    let dst: string;
    let group: string;
    let otherGroup: string;
    let sourceDump: DumpedRecord[];
    let srcCommitted: Map<number, number>;
    let res: RestoreResult;
    let rollbackSnapshot: string;
    let beforeApply: CommittedOffset[];
    const common = () => ['--path', dir, '--backup-id', backupId, '--bootstrap', KAFKA_BOOTSTRAP];

    before(async () => {
      src = await topic('plain', 3);
      other = await topic('other', 1);
      dst = `${src}-restored`;
      group = uniqueGroup('plain');
      otherGroup = uniqueGroup('other-only');
      await produceSpec(src, plainSpec(3, 40, 'v'));
      await produceSpec(other, plainSpec(1, 10, 'o'));
      await consumeAsGroup(group, src, 50);
      await consumeAsGroup(otherGroup, other, 4);
      srcCommitted = await committed(group, src);
      assert.equal(
        [...srcCommitted.values()].reduce((a, b) => a + b, 0),
        50,
      );
      sourceDump = await dumpTopic(src);
      await backup(dir, backupId, [src, other]);
      res = await restore(dir, backupId, { [src]: dst });
      beforeApply = await groupOffsets(group);
    });

    test('plan shows, per partition, the exact target offset; apply without --execute writes nothing', async () => {
      const plan = jsonOut<{
        entries: {
          partition: number;
          source_offset: number;
          target_offset: number;
          rule: string;
          action: string;
          lag: number;
          strategy: string;
        }[];
        groups: { state: string }[];
      }>(ok(await offsetsCli(['plan', ...common(), '--groups', group, '--format', 'json'])));
      assert.equal(plan.entries.length, srcCommitted.size);
      for (const e of plan.entries) {
        assert.equal(e.source_offset, srcCommitted.get(e.partition));
        // no gaps in this topic and the target was empty: offsets are the same
        assert.equal(e.target_offset, e.source_offset);
        assert.equal(e.strategy, 'exact');
        assert.equal(e.action, 'set');
        assert.equal(e.lag, 40 - e.target_offset);
      }
      const csv = ok(await offsetsCli(['plan', ...common(), '--groups', group, '--format', 'csv'])).stdout;
      assert.match(csv.split('\n')[0]!, /^group,source_group,topic,partition,/);
      assert.equal(csv.trim().split('\n').length, srcCommitted.size + 1);
      ok(await offsetsCli(['apply', ...common(), '--groups', group]));
      assert.equal((await committed(group, dst)).size, 0, 'apply without --execute must not write');
    });

    test('apply --execute moves the group exactly; a second apply changes nothing; verify passes', async () => {
      const r = jsonOut<{ executed: boolean; rollback_snapshot: string; counts: { set: number; unchanged: number } }>(
        ok(await offsetsCli(['apply', ...common(), '--groups', group, '--execute', '--format', 'json'])),
      );
      assert.equal(r.executed, true);
      assert.equal(r.counts.set, srcCommitted.size);
      rollbackSnapshot = r.rollback_snapshot;
      assert.ok(rollbackSnapshot);
      assert.deepEqual(await committed(group, dst), srcCommitted);
      const again = jsonOut<{ counts: { set: number; unchanged: number }; rollback_snapshot: string | null }>(
        ok(await offsetsCli(['apply', ...common(), '--groups', group, '--execute', '--format', 'json'])),
      );
      assert.deepEqual(again.counts, { set: 0, unchanged: srcCommitted.size, failed: 0 });
      assert.equal(again.rollback_snapshot, null);
      ok(await offsetsCli(['verify', ...common()]));
    });

    test('verify fails (exit 3) when the offsets were changed behind its back; rollback restores the snapshot exactly', async () => {
      await kafkaTool('org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', [
        '--bootstrap-server',
        KAFKA_BOOTSTRAP,
        '--group',
        group,
        '--topic',
        dst,
        '--reset-offsets',
        '--to-earliest',
        '--execute',
      ]);
      const v = await offsetsCli(['verify', ...common(), '--format', 'json']);
      assert.equal(v.code, 3, v.stderr);
      assert.ok(jsonOut<{ mismatches: number }>(v).mismatches > 0);
      ok(await offsetsCli(['rollback', ...common(), '--snapshot', rollbackSnapshot]));
      // exactly as before the apply: no offsets on the restored topic, the source ones untouched
      assert.deepEqual(await groupOffsets(group), beforeApply);
      const twice = jsonOut<{ executed: boolean; counts: { set: number; deleted: number } }>(
        ok(await offsetsCli(['rollback', ...common(), '--snapshot', rollbackSnapshot, '--format', 'json'])),
      );
      assert.equal(twice.executed, false);
      assert.equal(twice.counts.set + twice.counts.deleted, 0);
    });

    test('offsets snapshot + rollback put back offsets and metadata exactly', async () => {
      const g = uniqueGroup('snap');
      await consumeAsGroup(g, src, 7);
      const before = await groupOffsets(g);
      const snap = jsonOut<{ id: string }>(
        ok(await offsetsCli(['snapshot', ...common(), '--groups', g, '--format', 'json'])),
      );
      await consumeAsGroup(g, src, 9);
      await consumeAsGroup(g, other, 2);
      assert.notDeepEqual(await groupOffsets(g), before);
      ok(await offsetsCli(['rollback', ...common(), '--snapshot', snap.id]));
      assert.deepEqual(await groupOffsets(g), before);
    });

    test('the group resumes on the restored topic at exactly the next unconsumed record', async () => {
      ok(await offsetsCli(['apply', ...common(), '--groups', group, '--execute']));
      const targetDump = await dumpTopic(dst);
      const expected = expectedNext(sourceDump, targetDump, srcCommitted);
      // nothing was lost either: what the group would still read on the source
      assert.deepEqual(
        expected.map(valueText).sort(),
        sourceDump
          .filter((r) => r.offset >= (srcCommitted.get(r.partition) ?? 0))
          .map(valueText)
          .sort(),
      );
      await assertResumes(group, dst, expected);
    });

    test('group renaming, timestamp strategy and header strategy give the same positions', async () => {
      const renamed = `${group}-ts`;
      ok(
        await offsetsCli([
          'apply',
          ...common(),
          '--groups',
          group,
          '--group-mapping',
          `${group}=${renamed}`,
          '--strategy',
          'timestamp',
          '--execute',
        ]),
      );
      assert.deepEqual(await committed(renamed, dst), srcCommitted);
      // a second restore with the original-offset headers, into another topic
      const dst2 = `${src}-hdr`;
      const r2 = await restore(dir, backupId, { [src]: dst2 }, { includeOriginalOffsetHeader: true });
      const hdr = `${group}-hdr`;
      ok(
        await offsetsCli([
          'apply',
          ...common(),
          '--restore-id',
          r2.restore_id,
          '--groups',
          group,
          '--group-mapping',
          `${group}=${hdr}`,
          '--strategy',
          'header',
          '--execute',
        ]),
      );
      assert.deepEqual(await committed(hdr, dst2), srcCommitted);
      await assertResumes(hdr, dst2, expectedNext(sourceDump, await dumpTopic(dst2), srcCommitted));
    });

    test('show-mapping lists the runs of the restore', async () => {
      const v = jsonOut<{
        restore_id: string;
        partitions: { target_topic: string; records: number; source_gaps: number }[];
      }>(ok(await offsetsCli(['show-mapping', ...common(), '--restore-id', res.restore_id, '--format', 'json'])));
      assert.equal(v.restore_id, res.restore_id);
      assert.deepEqual(
        v.partitions.map((p) => [p.target_topic, p.records, p.source_gaps]),
        [0, 1, 2].map(() => [dst, 40, 0]),
      );
      const csv = ok(
        await offsetsCli(['show-mapping', ...common(), '--restore-id', res.restore_id, '--format', 'csv']),
      ).stdout;
      assert.match(csv, /^target_topic,target_partition,source_topic,source_partition,/);
    });

    test('bad input: clear errors, exit 2, nothing written', async () => {
      const before = await groupOffsets(group);
      const unknown = await offsetsCli([
        'apply',
        ...common(),
        '--restore-id',
        res.restore_id,
        '--groups',
        'no-such-group',
        '--execute',
      ]);
      assert.equal(unknown.code, 2, unknown.stderr);
      assert.match(unknown.stderr, /unknown consumer group\(s\): no-such-group/);
      const noOffsets = await offsetsCli([
        'apply',
        ...common(),
        '--restore-id',
        res.restore_id,
        '--groups',
        otherGroup,
        '--execute',
      ]);
      assert.equal(noOffsets.code, 2, noOffsets.stderr);
      assert.match(noOffsets.stderr, /no committed offsets on the restored topics/);
      const noSnap = await offsetsCli(['rollback', ...common(), '--snapshot', 'os-nope']);
      assert.equal(noSnap.code, 2, noSnap.stderr);
      assert.match(noSnap.stderr, /no offset snapshot 'os-nope'/);
      const ambiguous = await offsetsCli(['plan', ...common(), '--groups', group]);
      assert.equal(ambiguous.code, 2, ambiguous.stderr);
      assert.match(ambiguous.stderr, /has 2 restores/);
      // a mapping artifact that does not belong to the restore
      const key = join(dir, restoreKeys.mapping(backupId, res.restore_id));
      const original = readFileSync(key);
      try {
        const m = JSON.parse(original.toString('utf8'));
        m.snapshot_id = 'some-other-snapshot';
        writeFileSync(key, JSON.stringify(m));
        const bad = await offsetsCli([
          'apply',
          ...common(),
          '--restore-id',
          res.restore_id,
          '--groups',
          group,
          '--execute',
        ]);
        assert.equal(bad.code, 2, bad.stderr);
        assert.match(bad.stderr, /offset map .* does not belong to this restore/);
        m.snapshot_id = res.snapshot_id;
        m.topics[dst].partitions['0'][0][2] += 1; // same ids, other content: the report's digest catches it
        writeFileSync(key, JSON.stringify(m));
        const edited = await offsetsCli([
          'apply',
          ...common(),
          '--restore-id',
          res.restore_id,
          '--groups',
          group,
          '--execute',
        ]);
        assert.equal(edited.code, 2, edited.stderr);
        assert.match(edited.stderr, /SHA-256/);
      } finally {
        writeFileSync(key, original);
      }
      assert.deepEqual(await groupOffsets(group), before);
    });

    test('a group with active members is refused (exit 1), nothing written', async () => {
      const g = uniqueGroup('active');
      await consumeAsGroup(g, src, 3);
      const before = await groupOffsets(g);
      // a Java consumer that stays in the group while the command runs: 45 s, since on a loaded
      // machine joining, becoming Stable and the command's own start took more than the 15 s it
      // used to stay (the command then found the group empty and exited 0, a CI failure)
      const member = consumeAsGroup(g, src, 1_000_000, { timeoutMs: 45_000 }).catch(() => undefined);
      const deadline = Date.now() + 20_000;
      for (;;) {
        const state = await withAdmin(async (a) => (await a.listGroups()).get(g)?.state);
        if (state === 'Stable') break;
        assert.ok(Date.now() < deadline, `group ${g} did not become Stable (${state})`);
        await sleep(250);
      }
      // positions read live from the source cluster (the group is newer than the backup's capture)
      const r = await offsetsCli([
        'apply',
        ...common(),
        '--restore-id',
        res.restore_id,
        '--groups',
        g,
        '--source-bootstrap',
        KAFKA_BOOTSTRAP,
        '--execute',
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /active members/);
      await member;
      assert.deepEqual(
        (await groupOffsets(g)).filter((o) => o.topic === dst),
        before.filter((o) => o.topic === dst),
      );
    });

    test('a target cluster without the restored topics: exit 1', async () => {
      const dst3 = `${src}-gone`;
      const r3 = await restore(dir, backupId, { [src]: dst3 });
      await deleteTopics([dst3]);
      await sleep(500);
      const r = await offsetsCli(['plan', ...common(), '--restore-id', r3.restore_id, '--groups', group]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /has no topic/);
    });
  });

  test('compacted topic with gaps: the group resumes at the next surviving record', async () => {
    const dir = tempDir('offsets-compact');
    const src = await topic('compact', 1, { ...COMPACTION_CONFIGS });
    const dst = `${src}-restored`;
    // b0..b9 survive, a0..a9 are overwritten later (an interior hole), c0..c9 survive, then a0..a9 again
    const spec: SpecLine[] = [];
    for (const [prefix, round] of [
      ['b', 1],
      ['a', 1],
      ['c', 1],
      ['a', 2],
    ] as const)
      for (let k = 0; k < 10; k++)
        spec.push({ partition: 0, key: `${prefix}${k}`, value: `${prefix}${k}-round-${round}` });
    await produceSpec(src, spec);
    await waitForCompaction(src, { keys: 20 });
    const dump = await dumpTopic(src);
    // stop right before a hole, so the committed offset is an offset compaction removed
    const i = dump.findIndex((r, k) => dump[k + 1] !== undefined && dump[k + 1]!.offset > r.offset + 1);
    assert.ok(i >= 0, `the compacted log has an interior hole: ${dump.map((r) => r.offset).join(',')}`);
    const group = uniqueGroup('compact');
    await consumeAsGroup(group, src, i + 1);
    const srcCommitted = await committed(group, src);
    const sourceDump = await dumpTopic(src);
    await backup(dir, 'compact', [src]);
    await restore(dir, 'compact', { [src]: dst });
    const { plan } = jsonOut<{ plan: { entries: { rule: string }[] } }>(
      ok(
        await offsetsCli([
          'apply',
          '--path',
          dir,
          '--backup-id',
          'compact',
          '--bootstrap',
          KAFKA_BOOTSTRAP,
          '--groups',
          group,
          '--execute',
          '--format',
          'json',
        ]),
      ),
    );
    assert.equal(plan.entries[0]!.rule, 'next-record');
    const targetDump = await dumpTopic(dst);
    const expected = expectedNext(sourceDump, targetDump, srcCommitted);
    assert.ok(expected.length > 0);
    assert.equal((await committed(group, dst)).get(0), expected[0]!.offset);
    await assertResumes(group, dst, expected);
  });

  test('aborted transactions: groups resume at the next committed record', async () => {
    const dir = tempDir('offsets-txn');
    const src = await topic('txn', 1);
    const dst = `${src}-restored`;
    const spec: SpecLine[] = [];
    let n = 0;
    for (const outcome of ['commit', 'abort', 'commit', 'abort', 'commit'] as const) {
      for (let k = 0; k < 5; k++) spec.push({ partition: 0, key: `k${n}`, value: `${outcome}-${n++}`, txn: outcome });
      spec.push({ end: 0 });
    }
    await produceSpec(src, spec);
    const g1 = uniqueGroup('txn-a');
    const g2 = uniqueGroup('txn-b');
    await consumeAsGroup(g1, src, 5);
    await consumeAsGroup(g2, src, 10);
    const c1 = await committed(g1, src);
    const c2 = await committed(g2, src);
    // committed offsets point at transaction markers, before aborted records
    assert.equal(c1.get(0), 5);
    assert.equal(c2.get(0), 17);
    const sourceDump = await dumpTopic(src);
    await backup(dir, 'txn', [src]);
    await restore(dir, 'txn', { [src]: dst });
    ok(
      await offsetsCli([
        'apply',
        '--path',
        dir,
        '--backup-id',
        'txn',
        '--bootstrap',
        KAFKA_BOOTSTRAP,
        '--groups',
        `${g1},${g2}`,
        '--execute',
      ]),
    );
    const targetDump = await dumpTopic(dst);
    assert.equal(targetDump.length, 15);
    assert.equal((await committed(g1, dst)).get(0), 5);
    assert.equal((await committed(g2, dst)).get(0), 10);
    await assertResumes(g1, dst, expectedNext(sourceDump, targetDump, c1));
    await assertResumes(g2, dst, expectedNext(sourceDump, targetDump, c2));
  });

  test('point in time earlier than the group position: the group resumes right after the last restored record', async () => {
    const dir = tempDir('offsets-pit');
    const src = await topic('pit', 1);
    const dst = `${src}-restored`;
    await produceSpec(src, plainSpec(1, 30, 'p'));
    const group = uniqueGroup('pit');
    await consumeAsGroup(group, src, 20);
    await backup(dir, 'pit', [src]);
    const pit = BASE + 10 * 1000;
    await restore(dir, 'pit', { [src]: dst }, { pointInTime: pit });
    const { plan } = jsonOut<{ plan: { entries: { rule: string; target_offset: number }[]; notes: string[] } }>(
      ok(
        await offsetsCli([
          'apply',
          '--path',
          dir,
          '--backup-id',
          'pit',
          '--bootstrap',
          KAFKA_BOOTSTRAP,
          '--groups',
          group,
          '--point-in-time',
          new Date(pit).toISOString(),
          '--execute',
          '--format',
          'json',
        ]),
      ),
    );
    assert.equal(plan.entries[0]!.rule, 'after-last');
    assert.ok(plan.notes.some((n) => /no capture at or before/.test(n)));
    const targetDump = await dumpTopic(dst);
    assert.equal(targetDump.length, 11);
    assert.equal((await committed(group, dst)).get(0), 11);
    // a record written to the restored topic afterwards is the next one the group reads
    await produceSpec(dst, [{ partition: 0, key: 'new', value: 'after-restore' }]);
    const got = await consumeAsGroup(group, dst, 1, { timeoutMs: 20_000 });
    assert.equal(valueText(got[0]!), 'after-restore');
  });
});
