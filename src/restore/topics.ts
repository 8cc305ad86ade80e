/**
 * Target topic preparation: create missing topics with the backed-up partition count and
 * configs (dropping, and reporting, configs the target refuses), refuse non-empty targets unless
 * allowed, purge with DeleteRecords (never on compacted topics), or re-create when told to.
 */
import type { Admin } from '@platformatic/kafka';
import { KafkaError, UsageError } from '../errors.ts';
import { IsolationLevel, ListOffsetTimestamp, listOffsets, pkey, topicConfigs } from '../kafka/admin-helpers.ts';
import { logger } from '../util/log.ts';
import type { RestoreOptions } from './options.ts';
import type { RestorePlan } from './plan.ts';

const log = logger('restore.topics');

export interface TopicReport {
  topic: string;
  created: boolean;
  configs: Record<string, string>;
  dropped: Record<string, string>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Refuses existing target topics whose message.timestamp.type is LogAppendTime, unless allowed:
 * the broker would replace every restored record's timestamp with its own clock, silently
 * (the produce succeeds). Checked on every run, resumed ones included, since the topic's config
 * may have changed in between; topics about to be re-created are CreateTime afterwards.
 */
export async function checkTimestampTypes(admin: Admin, plan: RestorePlan, o: RestoreOptions): Promise<void> {
  if (o.allowLogAppendTimeTarget) return;
  const existing = plan.topics.filter((t) => t.exists && !o.recreateTopics).map((t) => t.target);
  const configs = await topicConfigs(admin, existing, ['message.timestamp.type']);
  const lat = existing.filter((t) => configs.get(t)?.effective['message.timestamp.type'] === 'LogAppendTime');
  if (lat.length > 0)
    throw new UsageError(
      `target topic${lat.length > 1 ? 's' : ''} ${lat.join(', ')} ha${lat.length > 1 ? 've' : 's'} message.timestamp.type=LogAppendTime: the broker would replace the timestamp of every restored record with the time of the restore`,
      {
        hint: 'restore into a new topic (restore.topic_mapping), set message.timestamp.type=CreateTime on it, or set restore.allow_log_append_time_target: true to accept the new timestamps',
        code: 'LOG_APPEND_TIME_TARGET',
      },
    );
}

export async function prepareTopics(admin: Admin, plan: RestorePlan, o: RestoreOptions): Promise<TopicReport[]> {
  const reports: TopicReport[] = [];
  for (const t of plan.topics) {
    if (t.exists && o.recreateTopics) {
      log.warn('deleting and re-creating target topic (restore.recreate_topics)', { topic: t.target });
      await admin.deleteTopics({ topics: [t.target] });
      for (let i = 0; i < 50; i++) {
        const topics = await admin.listTopics({ includeInternals: false });
        if (!topics.includes(t.target)) break;
        await sleep(200);
      }
      t.exists = false;
      t.create = true;
    }
    if (!t.exists) {
      reports.push(await createTopic(admin, t.target, t.targetPartitions, t.replicationFactor, { ...t.configs }));
      continue;
    }
    const parts = Array.from({ length: t.targetPartitions }, (_, i) => ({ topic: t.target, partition: i }));
    const [starts, ends] = await Promise.all([
      listOffsets(admin, parts, ListOffsetTimestamp.earliest, IsolationLevel.readUncommitted),
      listOffsets(admin, parts, ListOffsetTimestamp.latest, IsolationLevel.readUncommitted),
    ]);
    const nonEmpty = parts.filter(
      (p) => (ends.get(pkey(p.topic, p.partition)) ?? 0) > (starts.get(pkey(p.topic, p.partition)) ?? 0),
    );
    if (nonEmpty.length > 0) {
      if (o.purgeTopics) {
        const policy = (
          await admin.describeConfigs({
            resources: [{ resourceType: 2, resourceName: t.target, configurationKeys: ['cleanup.policy'] }],
          })
        )[0]?.configs.find((c) => c.name === 'cleanup.policy')?.value;
        if (policy?.includes('compact') && !policy.includes('delete'))
          throw new UsageError(
            `cannot purge compacted topic ${t.target}: Kafka refuses DeleteRecords on compacted topics`,
            {
              hint: 'set restore.recreate_topics: true to delete and re-create it (its data is lost), or restore to another topic',
            },
          );
        await admin.deleteRecords({
          topics: [
            {
              name: t.target,
              partitions: nonEmpty.map((p) => ({
                partition: p.partition,
                offset: BigInt(ends.get(pkey(p.topic, p.partition))!),
              })),
            },
          ],
        });
        log.warn('purged target topic with DeleteRecords', { topic: t.target, partitions: nonEmpty.length });
      } else if (!o.allowNonEmpty) {
        throw new UsageError(
          `target topic ${t.target} already holds records (${nonEmpty.length} non-empty partitions)`,
          {
            hint: 'restore into a new topic (restore.topic_mapping), or set restore.allow_non_empty: true to append, or restore.purge_topics: true to empty it first',
          },
        );
      }
    }
    reports.push({ topic: t.target, created: false, configs: {}, dropped: {} });
  }
  return reports;
}

async function createTopic(
  admin: Admin,
  name: string,
  partitions: number,
  replicas: number,
  configs: Record<string, string>,
): Promise<TopicReport> {
  const dropped: Record<string, string> = {};
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      await admin.createTopics({
        topics: [name],
        partitions,
        replicas,
        configs: Object.entries(configs).map(([n, value]) => ({ name: n, value })),
      });
      log.info('created target topic', { topic: name, partitions, replicas, dropped_configs: Object.keys(dropped) });
      await waitForLeaders(admin, name, partitions);
      return { topic: name, created: true, configs, dropped };
    } catch (e) {
      const text = collect(e);
      const bad = Object.keys(configs).find((k) => text.includes(k));
      if (bad && /config|Unknown|invalid/i.test(text)) {
        dropped[bad] = `rejected by the target cluster: ${text.slice(0, 200)}`;
        delete configs[bad];
        continue;
      }
      if (/already exists/i.test(text)) return { topic: name, created: false, configs, dropped };
      throw new KafkaError(`creating topic ${name} failed: ${text}`, {
        hint: 'check that this principal may create topics (Create ACL), or create the topic yourself',
        cause: e,
      });
    }
  }
  throw new KafkaError(`creating topic ${name} failed: too many rejected configs`);
}

async function waitForLeaders(admin: Admin, topic: string, partitions: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const md = await admin.metadata({ topics: [topic], forceUpdate: true });
      const t = md.topics.get(topic);
      if (t && t.partitions.length === partitions && t.partitions.every((p) => p.leader >= 0)) return;
    } catch {
      // not there yet
    }
    await sleep(100);
  }
}

function collect(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const parts = [e.message];
  const anyE = e as Error & { errors?: unknown[]; response?: unknown };
  if (Array.isArray(anyE.errors)) for (const x of anyE.errors) parts.push(collect(x));
  if (anyE.cause) parts.push(collect(anyE.cause));
  if (anyE.response) parts.push(JSON.stringify(anyE.response, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
  return parts.join('; ');
}
