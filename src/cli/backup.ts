/** `kafka-backup backup -c backup.yaml`: runs a snapshot or continuous backup. */
import type { Command } from 'commander';
import type { BackupOptions } from '../backup/options.ts';
import { requireSections } from '../config/load.ts';
import { KafkaBackupError } from '../errors.ts';
import { parseDuration } from '../repository/retention-policy.ts';
import { setLogContext } from '../util/log.ts';
import { formatOption, globalFlags, gracefulSignals, loadCommandConfig, storageFromConfig } from './common.ts';
import { emit } from './output.ts';
import { humanBytes, progressReporter, rate } from './progress.ts';
import { writeRunSummary } from './summary.ts';

export function registerBackupCommand(program: Command): void {
  program
    .command('backup')
    .description('back up Kafka topics to a storage location (snapshot, or continuous until stopped)')
    .requiredOption('-c, --config <file>', 'YAML config file')
    .option('--format <format>', 'result format: text|json|yaml', 'text')
    .action(async (_opts, cmd: Command) => {
      // First of all: a SIGTERM while the modules load must stop the run cleanly (exit 130,
      // resumable), not kill it before it could say so.
      const { signal, dispose } = gracefulSignals();
      // Loaded here, not at the top: the engine brings the Kafka client and the metrics
      // prom-client, which --help, --version and the other commands must not pay for.
      const [{ runBackup }, { startCommandMetrics }, { captureHooks }] = await Promise.all([
        import('../backup/engine.ts'),
        import('../metrics/command.ts'),
        import('../schema-registry/hooks.ts'),
      ]);
      const format = formatOption(cmd);
      const config = requireSections(
        loadCommandConfig(cmd.opts()['config'], cmd),
        ['source', 'storage', 'backup_id'],
        'backup',
      );
      const b = config.backup ?? ({} as NonNullable<typeof config.backup>);
      setLogContext({ command: 'backup', backup_id: config.backup_id });
      const metrics = await startCommandMetrics(config.metrics, { command: 'backup', backupId: config.backup_id });
      const storage = await storageFromConfig(config.storage, {
        breaker: b.circuit_breaker,
        giveUpAfterSecs: b.give_up_after_secs,
        metrics: metrics.storage,
      });
      const progress = progressReporter(Boolean(globalFlags(cmd).quiet));
      const started = Date.now();
      const options: BackupOptions = {
        backupId: config.backup_id,
        source: config.source,
        topics: config.source.topics ?? {},
        storage,
        mode: b.mode,
        start: b.start,
        codec: b.compression,
        level: b.compression_level,
        fileChecksum: b.file_checksum,
        batchSize: b.batch_size,
        maxBatchBytes: b.max_batch_bytes,
        fetchMaxBytes: b.fetch_max_bytes,
        maxConcurrentPartitions: b.max_concurrent_partitions,
        maxBytesPerSec: b.max_bytes_per_sec,
        allowEmpty: b.allow_empty,
        segmentMaxBytes: b.segment_max_bytes,
        segmentMaxIntervalSecs: b.segment_max_interval_secs,
        checkpointIntervalSecs: b.checkpoint_interval_secs,
        pollIntervalMs: b.poll_interval_ms,
        allowSourceChange: b.allow_source_change,
        captureOffsets: b.capture_offsets,
        giveUpAfterSecs: b.give_up_after_secs,
        circuitBreaker: b.circuit_breaker,
        tags: b.tags,
        ...(b.schema_registry ? captureHooks(b.schema_registry, storage, config.backup_id) : {}),
        ...(b.retention.max_age
          ? {
              retention: {
                maxAgeMs: parseDuration(b.retention.max_age),
                maxAgeLabel: b.retention.max_age,
                apply: b.retention.apply,
                intervalSecs: b.retention.interval_secs,
              },
            }
          : {}),
        signal,
        onError: (kind, cls) => metrics.error(kind, cls),
        onTopicGone: (reason) => metrics.topicGone(reason),
        onProgress: (p) => {
          metrics.backupProgress(p);
          progress.update(() => {
            const ms = Date.now() - started;
            const r = rate(p.records, ms);
            const eta = p.recordsRemaining > 0 && r > 0 ? ` eta ${Math.ceil(p.recordsRemaining / r)}s` : '';
            return `backup ${config.backup_id}: ${p.records} records, ${humanBytes(p.rawBytes)} (${humanBytes(rate(p.rawBytes, ms))}/s), ${p.partitionsDone}/${p.partitionsTotal} partitions done${eta}`;
          });
        },
      };
      try {
        const result = await runBackup(options);
        writeRunSummary('backup', result);
        progress.done();
        emit(format, result, () =>
          [
            `backup ${result.backup_id} snapshot ${result.snapshot_id}: ${result.state}`,
            `  ${result.records} records, ${humanBytes(result.raw_bytes)} read, ${humanBytes(result.stored_bytes)} stored in ${result.files} files, ${(result.duration_ms / 1000).toFixed(1)}s`,
            ...result.topics.map((t) => `  ${t.topic}: ${t.partitions} partitions, ${t.records} records`),
          ].join('\n'),
        );
      } catch (e) {
        progress.done();
        const partial = (e as { result?: unknown }).result;
        if (partial && e instanceof KafkaBackupError && format === 'json')
          emit(format, { ...partial, error: e.message }, () => '');
        throw e;
      } finally {
        dispose();
        await storage.close();
        await metrics.close();
      }
    });
}
