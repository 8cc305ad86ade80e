/** The result of a restore (the report written at its end and printed by the CLI), and its warnings. */
import type { SchemaRegistryRestoreReport } from '../schema-registry/restore-ids.ts';
import type { RestoreOptions } from './options.ts';
import type { RestorePlan } from './plan.ts';
import type { TopicReport } from './topics.ts';

export interface RestoreResult {
  restore_id: string;
  backup_id: string;
  snapshot_id: string;
  dry_run: boolean;
  resumed: boolean;
  duration_ms: number;
  records: number;
  bytes: number;
  topics: {
    source: string;
    /** The topic id (incarnation) of the source topic restored. */
    source_topic_id?: string;
    target: string;
    partitions: number;
    records: number;
    created: boolean;
    configs: Record<string, string>;
    dropped_configs: Record<string, string>;
  }[];
  warnings: string[];
  /** The selection's time bounds (epoch ms), so offset translation later picks the right capture. */
  point_in_time?: number;
  time_window_end?: number;
  mapping_key?: string;
  report_key?: string;
  plan?: RestorePlan;
  /** restore.schema_registry: what was registered, which ids changed, ids rewritten and unknown. */
  schema_registry?: SchemaRegistryRestoreReport;
  schema_id_map_key?: string;
}

export function summary(
  plan: RestorePlan,
  o: RestoreOptions,
  started: number,
  records: number,
  bytes: number,
  reports: TopicReport[],
  warnings: string[],
  perTopic = new Map<string, number>(),
): RestoreResult {
  return {
    restore_id: plan.restoreId,
    backup_id: o.backupId,
    snapshot_id: plan.snapshot.id,
    dry_run: o.dryRun,
    resumed: false,
    duration_ms: Date.now() - started,
    records,
    bytes,
    topics: plan.topics.map((t) => {
      const r = reports.find((x) => x.topic === t.target);
      return {
        source: t.source,
        ...(t.sourceTopicId ? { source_topic_id: t.sourceTopicId } : {}),
        target: t.target,
        partitions: t.targetPartitions,
        records: perTopic.get(t.target) ?? 0,
        created: r?.created ?? false,
        configs: r?.configs ?? t.configs,
        dropped_configs: { ...t.droppedConfigs, ...(r?.dropped ?? {}) },
      };
    }),
    warnings,
    ...(o.pointInTime !== undefined ? { point_in_time: o.pointInTime } : {}),
    ...(o.timeWindowEnd !== undefined ? { time_window_end: o.timeWindowEnd } : {}),
  };
}

export function retentionWarnings(plan: RestorePlan): string[] {
  const out: string[] = [];
  const now = Date.now();
  for (const t of plan.topics) {
    const retention = Number(t.configs['retention.ms'] ?? 604_800_000);
    const policy = t.configs['cleanup.policy'] ?? 'delete';
    if (retention < 0 || !policy.includes('delete') || t.minTimestamp < 0) continue;
    if (t.minTimestamp < now - retention)
      out.push(
        `topic ${t.target}: records from ${new Date(t.minTimestamp).toISOString()} are older than its retention.ms (${retention}); the broker may delete them right after the restore. To keep them set restore.topic_configs: { ${t.target}: { retention.ms: "-1" } }`,
      );
  }
  return out;
}
