/**
 * Admin calls the backup, restore and offset commands share, batched so that thousands of
 * partitions cost a handful of requests (one ListOffsets per call, one DescribeConfigs for all
 * topics).
 */
import type { Admin } from '@platformatic/kafka';

export const ListOffsetTimestamp = { latest: -1n, earliest: -2n } as const;
export const IsolationLevel = { readUncommitted: 0, readCommitted: 1 } as const;

export type PartitionKey = `${string}\u0000${number}`;
export const pkey = (topic: string, partition: number): PartitionKey => `${topic}\u0000${partition}`;

/** Offsets per topic/partition for one timestamp spec (latest, earliest, or epoch ms). */
export async function listOffsets(
  admin: Admin,
  parts: { topic: string; partition: number }[],
  timestamp: bigint,
  isolation: number = IsolationLevel.readCommitted,
): Promise<Map<PartitionKey, number>> {
  const byTopic = new Map<string, number[]>();
  for (const p of parts) {
    const list = byTopic.get(p.topic) ?? [];
    list.push(p.partition);
    byTopic.set(p.topic, list);
  }
  const out = new Map<PartitionKey, number>();
  if (byTopic.size === 0) return out;
  const res = await admin.listOffsets({
    topics: [...byTopic].map(([name, ps]) => ({
      name,
      partitions: ps.map((partitionIndex) => ({ partitionIndex, timestamp })),
    })),
    isolationLevel: isolation as 0 | 1,
  });
  for (const t of res) for (const p of t.partitions) out.set(pkey(t.name, p.partitionIndex), Number(p.offset));
  return out;
}

export interface TopicDescription {
  name: string;
  topicId: string;
  partitions: { partition: number; leader: number; leaderEpoch: number; replicas: number[] }[];
  replicationFactor: number;
}

export async function describeTopics(
  admin: Admin,
  topics: string[],
  forceUpdate = false,
): Promise<Map<string, TopicDescription>> {
  const out = new Map<string, TopicDescription>();
  if (topics.length === 0) return out;
  const md = await admin.metadata({ topics, forceUpdate });
  for (const name of topics) {
    const t = md.topics.get(name);
    if (!t) continue;
    out.set(name, {
      name,
      topicId: t.id,
      partitions: t.partitions.map((p, i) => ({
        partition: i,
        leader: p.leader,
        leaderEpoch: p.leaderEpoch,
        replicas: p.replicas,
      })),
      replicationFactor: t.partitions[0]?.replicas.length ?? 1,
    });
  }
  return out;
}

/** Topic configs set on the topic itself (config source DYNAMIC_TOPIC_CONFIG), plus the effective values of `alsoKeys`. */
export async function topicConfigs(
  admin: Admin,
  topics: string[],
  alsoKeys: string[] = ['cleanup.policy', 'message.timestamp.type', 'compression.type', 'max.message.bytes'],
): Promise<Map<string, { overrides: Record<string, string>; effective: Record<string, string> }>> {
  const out = new Map<string, { overrides: Record<string, string>; effective: Record<string, string> }>();
  if (topics.length === 0) return out;
  const res = await admin.describeConfigs({
    resources: topics.map((resourceName) => ({ resourceType: 2, resourceName })),
  });
  for (const r of res) {
    const overrides: Record<string, string> = {};
    const effective: Record<string, string> = {};
    for (const c of r.configs) {
      if (c.value === null || c.value === undefined) continue;
      if (c.configSource === 1 && !c.isSensitive) overrides[c.name] = c.value;
      if (alsoKeys.includes(c.name)) effective[c.name] = c.value;
    }
    out.set(r.resourceName, { overrides, effective });
  }
  return out;
}
