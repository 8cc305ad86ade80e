/**
 * The cluster side of the offset manager: group states, committed offsets (read and written),
 * partition offsets by time, and the original-offset header scan. Batched: one ListGroups, one
 * FindCoordinator, OffsetFetch for 50 groups per request, one ListOffsets per round of
 * partitions; commits run per group with bounded concurrency.
 *
 * Commits go out as OffsetCommit v9 with generation -1 (the "simple" commit Kafka allows on a
 * group without members), so the committed metadata string is written as given (the Admin's
 * alterConsumerGroupOffsets would drop it).
 */
import { type Admin, FindCoordinatorKeyTypes, offsetCommitV9 } from '@platformatic/kafka';
import { KafkaError } from '../errors.ts';
import { isControl, lastOffsetOf, splitBatches } from '../format/batch.ts';
import { decodeRecords } from '../format/records.ts';
import {
  describeTopics,
  IsolationLevel,
  ListOffsetTimestamp,
  listOffsets,
  type PartitionKey,
  pkey,
} from '../kafka/admin-helpers.ts';
import { createAdmin, type KafkaConnectionOptions, kafkaError } from '../kafka/client.ts';
import { rawFetchV17 } from '../kafka/fetch-raw-v17.ts';
import { ORIGINAL_HEADERS } from '../restore/options.ts';
import type { Commit, GroupOffsetsMap } from './model.ts';
import { parseDecimalHeader, RunCollector } from './translate.ts';

/** States in which a group has no member, so an offset commit from outside is accepted. */
const IDLE_STATES = new Set(['Empty', 'Dead', 'absent']);

const OFFSET_COMMIT_ERRORS: Record<number, string> = {
  16: 'NOT_COORDINATOR',
  14: 'COORDINATOR_LOAD_IN_PROGRESS',
  15: 'COORDINATOR_NOT_AVAILABLE',
  22: 'ILLEGAL_GENERATION (the group has active members)',
  25: 'UNKNOWN_MEMBER_ID (the group has active members)',
  27: 'REBALANCE_IN_PROGRESS (the group has active members)',
  3: 'UNKNOWN_TOPIC_OR_PARTITION',
  29: 'TOPIC_AUTHORIZATION_FAILED',
  30: 'GROUP_AUTHORIZATION_FAILED',
  113: 'STALE_MEMBER_EPOCH (the group has active members)',
  110: 'UNKNOWN_MEMBER_ID',
};

export async function pool<T, R>(
  items: T[],
  concurrency: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return out;
}

export interface GroupState {
  state: string;
  members: number;
  active: boolean;
}

export class Cluster {
  readonly conn: KafkaConnectionOptions;
  readonly admin: Admin;
  readonly role: 'source' | 'target';
  private coordinators = new Map<string, number>();
  /**
   * Extra clients for commits: a broker handles one request per connection at a time, so
   * commits of many groups only run in parallel over several connections.
   */
  private readonly lanes: Admin[] = [];
  private readonly laneCount: number;
  private nextLane = 0;

  constructor(conn: KafkaConnectionOptions, role: 'source' | 'target', commitConnections = 1) {
    this.conn = conn;
    this.role = role;
    this.admin = createAdmin(conn, role);
    this.laneCount = Math.max(1, Math.min(commitConnections, 16));
  }

  private lane(): Admin {
    const i = this.nextLane++ % this.laneCount;
    if (i === 0) return this.admin;
    let a = this.lanes[i - 1];
    if (!a) {
      a = createAdmin(this.conn, this.role);
      this.lanes[i - 1] = a;
    }
    return a;
  }

  async k<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw kafkaError(e, what, this.conn);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.admin, ...this.lanes].map((a) => a.close().catch(() => undefined)));
  }

  /** Every group the cluster knows, with its state. */
  async listGroups(): Promise<Map<string, string>> {
    const groups = await this.k(`listing consumer groups on the ${this.role} cluster`, () => this.admin.listGroups());
    return new Map([...groups.values()].map((g) => [g.id, g.state]));
  }

  /** State and member count of each group; 'absent' for groups that do not exist. */
  async groupStates(groups: string[], known?: Map<string, string>): Promise<Map<string, GroupState>> {
    const all = known ?? (await this.listGroups());
    const out = new Map<string, GroupState>();
    const toDescribe: string[] = [];
    for (const g of groups) {
      const state = all.get(g) ?? 'absent';
      out.set(g, { state, members: 0, active: !IDLE_STATES.has(state) });
      if (!IDLE_STATES.has(state)) toDescribe.push(g);
    }
    for (let i = 0; i < toDescribe.length; i += 50) {
      const batch = toDescribe.slice(i, i + 50);
      const described = await this.admin.describeGroups({ groups: batch }).catch(() => null);
      if (!described) continue;
      for (const [id, d] of described) {
        const s = out.get(id);
        if (!s) continue;
        s.members = d.members.size;
        if (s.state === 'Unknown') {
          s.state = d.state;
          s.active = !IDLE_STATES.has(d.state) && d.members.size > 0;
        }
      }
    }
    return out;
  }

  /** Every committed offset of the groups (all topics), or only on `topics`. */
  async readOffsets(groups: string[], concurrency = 8, topics?: Set<string>): Promise<GroupOffsetsMap> {
    const out: GroupOffsetsMap = {};
    const batches: string[][] = [];
    for (let i = 0; i < groups.length; i += 50) batches.push(groups.slice(i, i + 50));
    await pool(batches, concurrency, async (batch) => {
      const res = await this.k(
        `reading committed offsets of ${batch.length} group(s) on the ${this.role} cluster`,
        () => this.admin.listConsumerGroupOffsets({ groups: batch }),
      );
      for (const g of res) {
        const go = (out[g.groupId] ??= {});
        for (const t of g.topics) {
          if (topics && !topics.has(t.name)) continue;
          for (const p of t.partitions) {
            if (p.committedOffset < 0n) continue;
            (go[t.name] ??= {})[String(p.partitionIndex)] = {
              offset: Number(p.committedOffset),
              metadata: p.metadata ?? null,
            };
          }
        }
      }
    });
    for (const g of groups) out[g] ??= {};
    return out;
  }

  private async coordinatorOf(groups: string[]): Promise<void> {
    const missing = [...new Set(groups)].filter((g) => !this.coordinators.has(g));
    for (let i = 0; i < missing.length; i += 100) {
      const batch = missing.slice(i, i + 100);
      const res = await this.k('finding group coordinators', () =>
        this.admin.findCoordinator({ keyType: FindCoordinatorKeyTypes.GROUP, keys: batch }),
      );
      for (const c of res) this.coordinators.set(c.key, c.nodeId);
    }
  }

  /** Commits offsets (with metadata) for one group that has no active member. */
  async commit(group: string, offsets: { topic: string; partition: number; commit: Commit }[]): Promise<void> {
    if (offsets.length === 0) return;
    const byTopic = new Map<
      string,
      {
        partitionIndex: number;
        committedOffset: bigint;
        committedLeaderEpoch: number;
        committedMetadata: string | null;
      }[]
    >();
    for (const o of offsets) {
      const list = byTopic.get(o.topic) ?? [];
      list.push({
        partitionIndex: o.partition,
        committedOffset: BigInt(o.commit.offset),
        committedLeaderEpoch: -1,
        committedMetadata: o.commit.metadata,
      });
      byTopic.set(o.topic, list);
    }
    const topics = [...byTopic].map(([name, partitions]) => ({ name, partitions }));
    for (let attempt = 0; ; attempt++) {
      await this.coordinatorOf([group]);
      const node = this.coordinators.get(group)!;
      try {
        const client = this.lane();
        const conn = (await client.connectToBrokers([node])).get(node)!;
        await offsetCommitV9.api.async(conn, group, -1, '', null, topics);
        return;
      } catch (e) {
        const codes = protocolCodes(e);
        const retriable = codes.some((c) => c === 14 || c === 15 || c === 16);
        if (retriable && attempt < 5) {
          this.coordinators.delete(group);
          await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
          continue;
        }
        const names = [...new Set(codes)].map((c) => OFFSET_COMMIT_ERRORS[c] ?? `error ${c}`);
        if (names.length)
          throw new KafkaError(`committing offsets of group '${group}' was refused: ${names.join(', ')}`, {
            hint: codes.some((c) => [22, 25, 27, 113].includes(c))
              ? `stop every consumer of group '${group}' and run the command again`
              : 'check the ACLs of this principal (Read on the group and the topics)',
            cause: e,
          });
        throw kafkaError(e, `committing offsets of group '${group}'`, this.conn);
      }
    }
  }

  async deleteOffsets(group: string, topic: string, partitions: number[]): Promise<void> {
    if (partitions.length === 0) return;
    await this.k(`deleting offsets of group '${group}' on ${topic}`, () =>
      this.admin.deleteConsumerGroupOffsets({
        groupId: group,
        topics: [{ name: topic, partitionIndexes: partitions }],
      }),
    );
  }

  async deleteGroup(group: string): Promise<void> {
    await this.k(`deleting group '${group}'`, () => this.admin.deleteGroups({ groups: [group] }));
  }

  /** Partition count of each topic that exists (missing topics are left out). */
  async partitionCounts(topics: string[]): Promise<Map<string, number>> {
    const existing = new Set(
      await this.k(`listing topics on the ${this.role} cluster`, () =>
        this.admin.listTopics({ includeInternals: false }),
      ),
    );
    const present = [...new Set(topics)].filter((t) => existing.has(t));
    const d = await this.k(`describing topics on the ${this.role} cluster`, () =>
      describeTopics(this.admin, present, true),
    );
    return new Map([...d].map(([n, t]) => [n, t.partitions.length]));
  }

  /** earliest / latest (read_committed: the last stable offset) of many partitions, one request. */
  async offsets(
    parts: { topic: string; partition: number }[],
    which: 'earliest' | 'latest',
  ): Promise<Map<PartitionKey, number>> {
    return this.k(`reading ${which} offsets on the ${this.role} cluster`, () =>
      listOffsets(
        this.admin,
        parts,
        which === 'earliest' ? ListOffsetTimestamp.earliest : ListOffsetTimestamp.latest,
        IsolationLevel.readCommitted,
      ),
    );
  }

  /**
   * The first offset whose timestamp is >= ts, per (partition, ts); -1 when no record is that
   * late. One ListOffsets request per round (a partition appears once per request).
   */
  async offsetsForTimes(reqs: { topic: string; partition: number; ts: number }[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    let pending = [...new Map(reqs.map((r) => [timeKey(r.topic, r.partition, r.ts), r])).values()];
    while (pending.length) {
      const round = new Map<PartitionKey, { topic: string; partition: number; ts: number }>();
      const rest: typeof pending = [];
      for (const r of pending) {
        const k = pkey(r.topic, r.partition);
        if (round.has(k)) rest.push(r);
        else round.set(k, r);
      }
      const byTopic = new Map<string, { partitionIndex: number; timestamp: bigint }[]>();
      for (const r of round.values()) {
        const list = byTopic.get(r.topic) ?? [];
        list.push({ partitionIndex: r.partition, timestamp: BigInt(r.ts) });
        byTopic.set(r.topic, list);
      }
      const res = await this.k(`looking up offsets by timestamp on the ${this.role} cluster`, () =>
        this.admin.listOffsets({
          topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })),
          isolationLevel: IsolationLevel.readCommitted,
        }),
      );
      for (const t of res)
        for (const p of t.partitions) {
          const r = round.get(pkey(t.name, p.partitionIndex));
          if (r) out.set(timeKey(r.topic, r.partition, r.ts), Number(p.offset));
        }
      pending = rest;
    }
    return out;
  }

  /**
   * Reads every record of the topic and collects the original-offset headers that name
   * `sourceTopic`: per target partition, runs of (source partition, source offset, target offset).
   */
  async scanOriginalHeaders(topic: string, sourceTopic: string): Promise<{ runs: RunCollector; records: number }> {
    const md = await this.k(`describing ${topic}`, () => describeTopics(this.admin, [topic], true));
    const info = md.get(topic);
    const collector = new RunCollector();
    if (!info) return { runs: collector, records: 0 };
    const parts = info.partitions.map((p) => ({ topic, partition: p.partition }));
    const [starts, ends] = await Promise.all([
      this.k('reading log start offsets', () => listOffsets(this.admin, parts, ListOffsetTimestamp.earliest)),
      this.k('reading end offsets', () =>
        listOffsets(this.admin, parts, ListOffsetTimestamp.latest, IsolationLevel.readUncommitted),
      ),
    ]);
    const hTopic = Buffer.from(ORIGINAL_HEADERS.topic);
    const hPart = Buffer.from(ORIGINAL_HEADERS.partition);
    const hOff = Buffer.from(ORIGINAL_HEADERS.offset);
    const wantTopic = Buffer.from(sourceTopic);
    let records = 0;
    for (const p of info.partitions) {
      let offset = starts.get(pkey(topic, p.partition)) ?? 0;
      const end = ends.get(pkey(topic, p.partition)) ?? 0;
      while (offset < end) {
        const conn = (await this.admin.connectToBrokers([p.leader])).get(p.leader)!;
        const res = await this.k(`reading ${topic}-${p.partition}`, () =>
          rawFetchV17.async(
            conn,
            100,
            1,
            8 << 20,
            IsolationLevel.readUncommitted,
            0,
            -1,
            [
              {
                topicId: info.topicId,
                partitions: [
                  {
                    partition: p.partition,
                    currentLeaderEpoch: -1,
                    fetchOffset: BigInt(offset),
                    lastFetchedEpoch: -1,
                    partitionMaxBytes: 8 << 20,
                  },
                ],
              },
            ],
            [],
            '',
          ),
        );
        const pr = res.responses[0]?.partitions[0];
        if (!pr) break;
        if (pr.errorCode !== 0)
          throw new KafkaError(`reading ${topic}-${p.partition} failed with error code ${pr.errorCode}`, {
            canRetry: true,
            hint: 'run the command again; check the partition leader',
          });
        if (!pr.records) break;
        let next = offset;
        for (const h of splitBatches(pr.records)) {
          next = Math.max(next, Number(lastOffsetOf(h)) + 1);
          if (isControl(h)) continue;
          for (const rec of decodeRecords(pr.records, h)) {
            if (rec.offset < offset) continue;
            let t: Buffer | null = null;
            let sp: number | null = null;
            let so: number | null = null;
            for (const [k, v] of rec.headers) {
              if (k.equals(hTopic)) t = v;
              else if (k.equals(hPart)) sp = parseDecimalHeader(v);
              else if (k.equals(hOff)) so = parseDecimalHeader(v);
            }
            if (t === null || sp === null || so === null || !t.equals(wantTopic)) continue;
            collector.add(p.partition, sp, so, rec.offset);
            records++;
          }
        }
        if (next === offset) break; // nothing complete came back (a batch larger than the fetch size)
        offset = next;
      }
    }
    return { runs: collector, records };
  }
}

export function timeKey(topic: string, partition: number, ts: number): string {
  return `${topic}\u0000${partition}\u0000${ts}`;
}

export function isIdle(state: string): boolean {
  return IDLE_STATES.has(state);
}

function protocolCodes(e: unknown, depth = 0): number[] {
  if (!e || typeof e !== 'object' || depth > 4) return [];
  const out: number[] = [];
  const any = e as { apiCode?: unknown; errorCode?: unknown; errors?: unknown[]; cause?: unknown };
  if (typeof any.apiCode === 'number') out.push(any.apiCode);
  if (Array.isArray(any.errors)) for (const x of any.errors) out.push(...protocolCodes(x, depth + 1));
  if (any.cause) out.push(...protocolCodes(any.cause, depth + 1));
  return out;
}
