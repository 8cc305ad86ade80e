/** `kafka-backup restore -c restore.yaml`: restores a backup snapshot into Kafka. */
import type { Command } from 'commander';
import { requireSections } from '../config/load.ts';
import type { RestoreOptions } from '../restore/options.ts';
import { setLogContext } from '../util/log.ts';
import {
  formatOption,
  globalFlags,
  gracefulSignals,
  loadCommandConfig,
  stateStorageFromUrl,
  storageFromConfig,
} from './common.ts';
import { emit, table } from './output.ts';
import { humanBytes, progressReporter, rate } from './progress.ts';
import { schemaRegistryLines } from './schema-registry.ts';
import { writeRunSummary } from './summary.ts';

export function registerRestoreCommand(program: Command): void {
  program
    .command('restore')
    .description('restore a backup snapshot into a Kafka cluster (exactly once, resumable)')
    .requiredOption('-c, --config <file>', 'YAML config file')
    .option('--dry-run', 'print the plan and write nothing')
    .option('--format <format>', 'result format: text|json|yaml', 'text')
    .action(async (_opts, cmd: Command) => {
      // Loaded here, not at the top: these bring the Kafka client and prom-client, which
      // --help, --version and the other commands must not pay for.
      const [{ runRestore }, { applyGroupsAfterRestore }, { startCommandMetrics }, { remapHook }] = await Promise.all([
        import('../restore/engine.ts'),
        import('../offsets/manager.ts'),
        import('../metrics/command.ts'),
        import('../schema-registry/hooks.ts'),
      ]);
      const format = formatOption(cmd);
      const config = requireSections(
        loadCommandConfig(cmd.opts()['config'], cmd),
        ['target', 'storage', 'backup_id'],
        'restore',
      );
      const r = config.restore;
      const dryRun = Boolean(cmd.opts()['dryRun']) || r.dry_run;
      setLogContext({ command: 'restore', backup_id: config.backup_id });
      const metrics = await startCommandMetrics(config.metrics, { command: 'restore', backupId: config.backup_id });
      const storage = await storageFromConfig(config.storage, {
        breaker: r.circuit_breaker,
        giveUpAfterSecs: r.give_up_after_secs,
        metrics: metrics.storage,
      });
      const stateStorage = r.state_url ? await stateStorageFromUrl(r.state_url, storage) : undefined;
      const { signal, dispose } = gracefulSignals();
      const progress = progressReporter(Boolean(globalFlags(cmd).quiet));
      const started = Date.now();
      const options: RestoreOptions = {
        backupId: config.backup_id,
        snapshot: config.snapshot ?? 'latest',
        storage,
        ...(stateStorage ? { stateStorage } : {}),
        target: config.target,
        topics: r.topics ?? {},
        pointInTime: r.point_in_time,
        timeWindowStart: r.time_window_start,
        timeWindowEnd: r.time_window_end,
        offsetWindow: r.offset_window ?? {},
        topicMapping: r.topic_mapping ?? {},
        partitionMapping: r.partition_mapping ?? {},
        repartitioning: r.repartitioning,
        createTopics: r.create_topics,
        replicationFactor: r.replication_factor,
        topicConfigs: r.topic_configs ?? {},
        includeOriginalOffsetHeader: r.include_original_offset_header,
        compression: r.compression,
        allowEmpty: r.allow_empty,
        allowNonEmpty: r.allow_non_empty,
        allowLogAppendTimeTarget: r.allow_log_append_time_target,
        purgeTopics: r.purge_topics,
        recreateTopics: r.recreate_topics,
        dryRun,
        maxRecordsPerSec: r.max_records_per_sec,
        maxBytesPerSec: r.max_bytes_per_sec,
        maxConcurrentPartitions: r.max_concurrent_partitions,
        restoreId: r.restore_id,
        giveUpAfterSecs: r.give_up_after_secs,
        ...(r.schema_registry ? { schemaIds: remapHook(r.schema_registry, storage) } : {}),
        signal,
        onProduced: (seconds) => metrics.restoreProduced(seconds),
        onProgress: (p) => {
          metrics.restoreProgress(p);
          progress.update(() => {
            const ms = Date.now() - started;
            const rr = rate(p.records, ms);
            const eta =
              rr > 0 && p.recordsTotal > p.records ? ` eta ${Math.ceil((p.recordsTotal - p.records) / rr)}s` : '';
            return `restore ${config.backup_id}: ${p.records}/${p.recordsTotal} records, ${humanBytes(p.bytes)} (${humanBytes(rate(p.bytes, ms))}/s), ${p.partitionsDone}/${p.partitionsTotal} partitions${eta}`;
          });
        },
      };
      try {
        const result = await runRestore(options);
        progress.done();
        if (result.schema_registry && !result.dry_run)
          metrics.restoreSchemaIds({
            rewritten: result.schema_registry.rewritten,
            unknown: result.schema_registry.unknown_total,
          });
        // restore.consumer_groups: plan and apply the groups' offsets onto the restored data
        const groups = r.consumer_groups ?? [];
        const offsets =
          groups.length > 0
            ? await applyGroupsAfterRestore({
                result,
                storage,
                ...(stateStorage ? { stateStorage } : {}),
                target: config.target,
                groups,
                groupMapping: r.group_mapping ?? {},
                ...(r.point_in_time !== undefined || r.time_window_end !== undefined
                  ? { pointInTime: (r.point_in_time ?? r.time_window_end)! }
                  : {}),
                strategy: config.offsets.strategy,
                maxConcurrentGroups: config.offsets.max_concurrent_groups,
              })
            : null;
        if (offsets) {
          const groups = new Set(offsets.changes.map((c) => c.group));
          const failed = new Set(offsets.changes.filter((c) => c.action === 'failed').map((c) => c.group));
          metrics.offsetsApplied({ planned: groups.size, applied: groups.size - failed.size, failed: failed.size });
        }
        const { plan, ...restored } = result;
        const doc = offsets
          ? {
              ...restored,
              consumer_groups: {
                rollback_snapshot: offsets.rollback_snapshot,
                counts: offsets.counts,
                changes: offsets.changes,
              },
            }
          : restored;
        writeRunSummary('restore', { ...restored, rollback_snapshot: offsets?.rollback_snapshot });
        const out = plan
          ? {
              ...doc,
              plan: {
                snapshot: plan.snapshot.id,
                records_estimate: plan.recordsEstimate,
                bytes_estimate: plan.bytesEstimate,
                topics: plan.topics,
                jobs: plan.jobs.map((j) => ({
                  source: j.sourceTopic,
                  target: j.targetTopic,
                  source_partitions: j.ranges.map((x) => ({
                    partition: x.partition,
                    from: x.from,
                    to: x.to,
                    files: x.files.length,
                  })),
                  target_partitions: j.targetPartitions,
                })),
              },
            }
          : doc;
        emit(format, out, () => {
          const head = result.dry_run
            ? `restore plan ${result.restore_id} (dry run: nothing written) from snapshot ${result.snapshot_id}`
            : `restore ${result.restore_id} from snapshot ${result.snapshot_id}: ${result.records} records, ${humanBytes(result.bytes)}, ${(result.duration_ms / 1000).toFixed(1)}s`;
          const rows = result.topics.map((t) => [
            t.source,
            t.source_topic_id ?? '-',
            t.target,
            t.partitions,
            result.dry_run
              ? String(plan?.topics.find((x) => x.target === t.target)?.create ? 'create' : 'exists')
              : t.records,
            Object.keys(t.dropped_configs).join(',') || '-',
          ]);
          return [
            head,
            table(
              ['source', 'topic id', 'target', 'partitions', result.dry_run ? 'topic' : 'records', 'dropped configs'],
              rows,
            ),
            ...(plan ? [`records (estimate): ${plan.recordsEstimate}, bytes: ${humanBytes(plan.bytesEstimate)}`] : []),
            ...(result.schema_registry ? schemaRegistryLines(result.schema_registry, result.dry_run) : []),
            ...result.warnings.map((w) => `warning: ${w}`),
            ...(offsets
              ? [
                  `consumer groups: ${offsets.counts.set} offsets set, ${offsets.counts.unchanged} unchanged, ${offsets.counts.failed} failed; undo with: kafka-backup offsets rollback --snapshot ${offsets.rollback_snapshot}`,
                ]
              : []),
          ].join('\n');
        });
      } finally {
        progress.done();
        dispose();
        await storage.close();
        await stateStorage?.close();
        await metrics.close();
      }
    });
}
