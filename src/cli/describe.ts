/**
 * `kafka-backup describe --path P --backup-id ID [--snapshot S] [--format text|json|yaml]`:
 * what one snapshot of a backup holds, per topic and partition: offset and time ranges,
 * records, raw and stored bytes, files, gaps and skipped offsets by cause. Reads the newest
 * line's state only (with --topic, only those topics' part of it). The default snapshot is the
 * newest complete one.
 */
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import {
  describeSnapshot,
  formatBytes,
  formatTime,
  pickSnapshot,
  type SnapshotDescription,
} from '../inspect/summary.ts';
import { openExistingLine } from '../repository/line.ts';
import { type RegistrySummary, registrySummaryLines, summariseCapture } from '../schema-registry/summary.ts';
import { storageFromPath } from './common.ts';
import { emit, parseFormat, table } from './output.ts';

function causes(c: Record<string, number | undefined>): string {
  const parts = Object.entries(c)
    .filter(([, n]) => n)
    .map(([k, n]) => `${k}=${n}`);
  return parts.length ? parts.join(' ') : '-';
}

function renderText(d: SnapshotDescription & { schema_registry?: RegistrySummary }): string {
  const s = d.snapshot;
  const out = [
    `backup ${d.backup_id}  snapshot ${s.id}  (${s.mode}, ${s.state})`,
    `  started ${s.started_at}, finished ${s.finished_at ?? '-'}; manifest generation ${d.generation}; cluster ${d.source_cluster}`,
    `  ${d.totals.records} records, ${formatBytes(d.totals.raw_bytes)} raw, ${formatBytes(d.totals.stored_bytes)} stored, ${d.totals.files} files`,
  ];
  if (s.consumer_offsets) out.push(`  consumer offsets: ${s.consumer_offsets}`);
  if (s.error) out.push(`  error: ${s.error}`);
  if (d.schema_registry) out.push(...registrySummaryLines(d.schema_registry));
  for (const t of d.topics) {
    out.push(
      '',
      `topic ${t.name}  id ${t.topic_id}  partitions ${t.partition_count}  replication ${t.replication_factor}  timestamps ${t.timestamp_type}`,
    );
    const cfg = Object.entries(t.configs);
    out.push(`  configs: ${cfg.length ? cfg.map(([k, v]) => `${k}=${v}`).join(', ') : '(defaults)'}`);
    out.push(
      `  ${t.records} records, ${formatBytes(t.raw_bytes)} raw, ${formatBytes(t.stored_bytes)} stored, ${t.files} files; oldest restorable record ${t.oldest_restorable ?? '-'}`,
    );
    const dropped = t.partitions.flatMap((p) => p.gaps.filter((g) => g.cause === 'retention-policy'));
    if (dropped.length)
      out.push(
        "  retention-policy gaps: offsets dropped by this line's retention (forget --max-age, backup.retention)",
      );
    out.push(
      table(
        ['  PARTITION', 'OFFSETS', 'TIME RANGE', 'RECORDS', 'RAW', 'STORED', 'FILES', 'GAPS', 'SKIPPED'],
        t.partitions.map((p) => [
          `  ${p.partition}`,
          `[${p.start_offset}, ${p.end_offset})${p.covered_to < p.end_offset ? ` stored to ${p.covered_to}` : ''}`,
          p.min_timestamp === null ? '-' : `${formatTime(p.min_timestamp)}..${formatTime(p.max_timestamp)}`,
          `${p.records}${p.records_exact ? '' : '*'}`,
          formatBytes(p.raw_bytes),
          formatBytes(p.stored_bytes),
          p.files,
          p.gaps.length ? p.gaps.map((g) => `[${g.start}, ${g.end}) ${g.cause}`).join(' ') : '-',
          causes(p.skipped),
        ]),
      ),
    );
    if (t.partitions.some((p) => !p.records_exact))
      out.push('  * a file straddles the snapshot end; its records are counted whole');
  }
  return out.join('\n');
}

export function registerDescribeCommand(program: Command): void {
  program
    .command('describe')
    .description('show what a backup snapshot holds, per topic and partition')
    .requiredOption('--path <path>', 'directory or storage URL (s3://bucket/prefix, azure://…, gs://…)')
    .requiredOption('--backup-id <id>', 'the backup line')
    .option('--snapshot <id>', 'the snapshot (default: the newest complete one)')
    .option('--topic <name...>', 'only these topics (reads nothing of the others)')
    .option('--format <format>', 'text|json|yaml', 'text')
    .action(
      async (options: { path: string; backupId: string; snapshot?: string; topic?: string[]; format: string }) => {
        const format = parseFormat(options.format);
        const storage = await storageFromPath(options.path);
        try {
          const only = options.topic ? new Set(options.topic) : null;
          const { line, manifest } = await openExistingLine(
            storage,
            options.backupId,
            only ? { topics: (t) => only.has(t) } : {},
          );
          const picked = pickSnapshot(manifest, options.snapshot);
          if (!picked.snapshot) throw new UsageError(picked.message, { hint: picked.hint, code: 'UNKNOWN_SNAPSHOT' });
          const d = describeSnapshot(manifest, picked.snapshot, await line.readLease());
          const missing = [...(only ?? [])].filter((t) => !d.topics.some((x) => x.name === t));
          if (missing.length)
            throw new UsageError(
              `snapshot ${picked.snapshot.id} of ${options.backupId} has no topic ${missing.join(', ')}`,
              {
                hint: 'run describe without --topic to see the topics it holds',
                code: 'UNKNOWN_TOPIC',
              },
            );
          const registry = picked.snapshot.schema_registry
            ? { schema_registry: await summariseCapture(storage, picked.snapshot.schema_registry) }
            : {};
          const out = { ...d, ...registry };
          emit(format, out, () => renderText(out));
        } finally {
          await storage.close();
        }
      },
    );
}
