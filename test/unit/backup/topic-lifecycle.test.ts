/**
 * The pure parts of topic lifecycle and KIP-320 handling: what changed about a followed topic, the
 * snapshot that succeeds one ended by a re-created topic, which incarnation a snapshot refers to
 * (with topic ids, and by time for lines written before they were recorded), what a diverging
 * epoch means for the offsets read, the diverging-epoch field of a Fetch v17 response, and the
 * partition's leader_epoch kept in the line's state.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Reader, Writer } from '@platformatic/kafka';
import { divergenceOf } from '../../../src/backup/divergence.ts';
import { snapshotId, successorSnapshot } from '../../../src/backup/snapshots.ts';
import { topicChange } from '../../../src/backup/topic-changes.ts';
import type { Manifest, Snapshot, TopicState } from '../../../src/format/manifest.ts';
import { topicOf } from '../../../src/inspect/summary.ts';
import type { TopicDescription } from '../../../src/kafka/admin-helpers.ts';
import { parseRawFetchResponse } from '../../../src/kafka/fetch-raw-v17.ts';
import { BackupLine } from '../../../src/repository/line.ts';
import { MemoryStorage } from '../inspect/fixtures.ts';

const desc = (topicId: string, partitions: number): TopicDescription => ({
  name: 't',
  topicId,
  partitions: Array.from({ length: partitions }, (_, partition) => ({
    partition,
    leader: 1,
    leaderEpoch: 0,
    replicas: [1],
  })),
  replicationFactor: 1,
});

describe('topicChange', () => {
  it('tells deletion, re-creation (a new id) and added partitions apart', () => {
    assert.deepEqual(topicChange(desc('A', 2), undefined), { kind: 'deleted' });
    assert.deepEqual(topicChange(desc('A', 2), desc('B', 2)), { kind: 'recreated', topicId: 'B' });
    assert.deepEqual(topicChange(desc('A', 2), desc('B', 5)), { kind: 'recreated', topicId: 'B' });
    assert.deepEqual(topicChange(desc('A', 2), desc('A', 4)), { kind: 'grown', added: [2, 3] });
    assert.deepEqual(topicChange(desc('A', 2), desc('A', 2)), { kind: 'same' });
  });
});

const snapshot = (over: Partial<Snapshot>): Snapshot => ({
  id: 's1',
  run_id: 'run123456',
  mode: 'continuous',
  state: 'in-progress',
  started_at: '2026-01-01T00:00:00.000Z',
  end_offsets: {},
  ...over,
});

describe('successorSnapshot', () => {
  it('ends the running snapshot and starts one without the re-created topic’s old offsets', () => {
    const current = snapshot({
      end_offsets: { t: { '0': 10 }, other: { '0': 5 } },
      topic_ids: { t: 'A', other: 'O' },
      pending: { oldest_read_at: '2026-01-01T00:00:01.000Z', offsets: { other: 1 } },
      tags: ['x'],
    });
    const at = new Date('2026-01-01T00:01:00.000Z');
    const next = successorSnapshot(current, 't', 'B', at, [current]);
    assert.equal(current.state, 'complete');
    assert.equal(current.finished_at, at.toISOString());
    assert.equal(current.pending, undefined);
    assert.deepEqual(
      current.end_offsets,
      { t: { '0': 10 }, other: { '0': 5 } },
      'the ended snapshot keeps the old ends',
    );
    assert.equal(next.state, 'in-progress');
    assert.equal(next.run_id, current.run_id);
    assert.deepEqual(next.end_offsets, { other: { '0': 5 } });
    assert.deepEqual(next.topic_ids, { t: 'B', other: 'O' });
    assert.deepEqual(next.tags, ['x']);
    assert.notEqual(next.id, current.id);
  });

  it('snapshot ids of the same second get a suffix', () => {
    const at = new Date('2026-01-01T00:01:00.000Z');
    const first = snapshotId(at, 'run123456', []);
    assert.equal(first, '20260101T000100Z-123456');
    const taken = [snapshot({ id: first }), snapshot({ id: `${first}-2` })];
    assert.equal(snapshotId(at, 'run123456', taken), `${first}-3`);
  });
});

const topicState = (topic_id: string, next: number): TopicState => ({
  topic_id,
  partition_count: 1,
  replication_factor: 1,
  configs: {},
  timestamp_type: 'CreateTime',
  partitions: { '0': { start_offset: 0, next_offset: next, files: [], gaps: [] } },
});

const line = (): Manifest => ({
  format: 'kafka-backup/manifest',
  version: 1,
  backup_id: 'b',
  generation: 3,
  created_at: '2026-01-01T00:00:00.000Z',
  writer: { run_id: 'r', host: 'h', pid: 1, tool_version: 'v' },
  source: { cluster_id: 'c', bootstrap_servers: [] },
  topics: { t: topicState('NEW', 4) },
  snapshots: [],
  retired_topics: [
    {
      name: 't',
      topic_id: 'OLD',
      retired_at: '2026-01-01T00:05:00.000Z',
      reason: 're-created',
      state: topicState('OLD', 30),
    },
  ],
});

describe('topicOf (which incarnation a snapshot restores)', () => {
  it('goes by the snapshot’s topic id, whenever the snapshot started', () => {
    const m = line();
    // started after the retirement, yet recorded with the old id (a run that ended before it)
    const s = snapshot({ started_at: '2026-01-01T00:06:00.000Z', topic_ids: { t: 'OLD' } });
    assert.equal(topicOf(m, 't', s)?.topic_id, 'OLD');
    assert.equal(topicOf(m, 't', snapshot({ topic_ids: { t: 'NEW' } }))?.topic_id, 'NEW');
    assert.equal(topicOf(m, 't', snapshot({ topic_ids: { t: 'GONE' } })), undefined, 'an incarnation the line lost');
  });

  it('snapshots without topic ids (older lines, v1 fixtures) go by time', () => {
    const m = line();
    assert.equal(topicOf(m, 't', snapshot({ started_at: '2026-01-01T00:01:00.000Z' }))?.topic_id, 'OLD');
    assert.equal(topicOf(m, 't', snapshot({ started_at: '2026-01-01T00:06:00.000Z' }))?.topic_id, 'NEW');
  });
});

describe('divergenceOf (KIP-320)', () => {
  it('a leader that still holds everything read: go on with its epoch', () => {
    assert.deepEqual(divergenceOf(100, { epoch: 4, endOffset: 100n }), { lost: false, epoch: 4 });
    assert.deepEqual(divergenceOf(100, { epoch: 4, endOffset: 150n }), { lost: false, epoch: 4 });
  });
  it('a log truncated below the position: the offsets read from the lost history', () => {
    assert.deepEqual(divergenceOf(100, { epoch: 3, endOffset: 60n }), { lost: true, from: 60, to: 100 });
  });
});

describe('Fetch v17 response: tagged fields of a partition', () => {
  it('reads diverging_epoch (tag 0) and current_leader (tag 1), each with its own tagged fields', () => {
    const w = Writer.create()
      .appendInt32(0) // throttle
      .appendInt16(0) // error
      .appendInt32(0) // session
      .appendUnsignedVarInt(2) // one topic
      .appendUUID('00000000-0000-0000-0000-000000000001')
      .appendUnsignedVarInt(2) // one partition
      .appendInt32(0)
      .appendInt16(0)
      .appendInt64(5n)
      .appendInt64(5n)
      .appendInt64(0n)
      .appendUnsignedVarInt(0) // aborted transactions: null
      .appendInt32(-1) // preferred read replica
      .appendUnsignedVarInt(0) // records: null
      .appendUnsignedVarInt(2) // two tagged fields
      .appendUnsignedVarInt(0)
      .appendUnsignedVarInt(13)
      .appendInt32(3)
      .appendInt64(60n)
      .appendUnsignedVarInt(0)
      .appendUnsignedVarInt(1)
      .appendUnsignedVarInt(9)
      .appendInt32(2)
      .appendInt32(4)
      .appendUnsignedVarInt(0)
      .appendUnsignedVarInt(0) // topic tagged fields
      .appendUnsignedVarInt(0); // response tagged fields
    const res = parseRawFetchResponse(0, 1, 17, Reader.from(w.buffer));
    const p = res.responses[0]!.partitions[0]!;
    assert.deepEqual(p.divergingEpoch, { epoch: 3, endOffset: 60n });
    assert.deepEqual(p.currentLeader, { leaderId: 2, leaderEpoch: 4 });
  });
});

describe('leader_epoch in the line state (KIP-320 across runs)', () => {
  it('travels in commits and checkpoints, and only when it changed', async () => {
    const storage = new MemoryStorage();
    const writer = { run_id: 'r1', host: 'h', pid: 1, tool_version: 't' };
    const lineWriter = new BackupLine(storage, 'b', { commits: 1000, bytes: 1 << 30 });
    await lineWriter.openForWrite(writer);
    const view = line();
    view.retired_topics = [];
    view.generation = 0;
    view.topics['t']!.partitions['0']!.leader_epoch = 2;
    await lineWriter.commit(view);
    const reopened = async () => (await new BackupLine(storage, 'b').open())!.view.topics['t']!.partitions['0']!;
    assert.equal((await reopened()).leader_epoch, 2, 'from a commit');
    view.topics['t']!.partitions['0']!.next_offset = 9;
    await lineWriter.commit(view);
    assert.equal(lineWriter.written.lastCommitBytes > 0, true);
    view.topics['t']!.partitions['0']!.leader_epoch = 5;
    await lineWriter.commit(view);
    assert.equal((await reopened()).leader_epoch, 5);
    await lineWriter.consolidateNow(view);
    const after = await reopened();
    assert.equal(after.leader_epoch, 5, 'from a checkpoint');
    assert.equal(after.next_offset, 9);
    // lines written before it was recorded have none
    const old = line();
    assert.equal(old.topics['t']!.partitions['0']!.leader_epoch, undefined);
  });
});
