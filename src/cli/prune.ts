/**
 * `kafka-backup prune --path P --backup-id ID [--dry-run] [--grace 1h] [--no-repack]
 * [--repack-size BYTES]`: repacks small data files and deletes what no state references
 * (docs/retention.md). Holds the maintenance lease: a second prune or forget is refused (exit 2).
 */
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { formatBytes } from '../inspect/summary.ts';
import { MaintenanceLease, maintenanceWriter, writeMaintenance } from '../repository/maintenance.ts';
import type { PruneReport } from '../repository/prune.ts';
import { parseDuration } from '../repository/retention-policy.ts';
import { storageFromPath } from './common.ts';
import { emit, parseFormat, table } from './output.ts';

interface PruneFlags {
  path: string;
  backupId: string;
  grace: string;
  repack: boolean;
  repackSize: string;
  dryRun?: boolean;
  format: string;
}

function renderText(r: PruneReport): string {
  const out: string[] = [];
  const would = r.dry_run ? 'would ' : '';
  const groups = r.repack.filter((g) => r.dry_run || g.into);
  if (groups.length) {
    out.push(`${r.dry_run ? 'would repack' : 'repacked'}:`);
    out.push(
      table(
        ['  TOPIC', 'PARTITION', 'OFFSETS', 'FILES', 'SIZE', 'INTO'],
        groups.map((g) => [
          `  ${g.topic}`,
          g.partition,
          `${g.first_offset}..${g.last_offset}`,
          g.files,
          formatBytes(g.bytes),
          g.into ?? '-',
        ]),
      ),
    );
  } else out.push('nothing to repack');
  const byWhy = new Map<string, { n: number; bytes: number }>();
  for (const d of r.deleted) {
    const w = byWhy.get(d.why) ?? { n: 0, bytes: 0 };
    w.n++;
    w.bytes += d.size;
    byWhy.set(d.why, w);
  }
  if (byWhy.size) {
    out.push(`${r.dry_run ? 'would delete' : 'deleted'}:`);
    out.push(
      table(
        ['  WHAT', 'OBJECTS', 'SIZE'],
        [...byWhy].map(([why, w]) => [`  ${why}`, w.n, formatBytes(w.bytes)]),
      ),
    );
  } else out.push('nothing to delete');
  out.push(`${would}free ${formatBytes(r.deleted_bytes)} in ${r.deleted_objects} object(s)`);
  if (r.kept_young) out.push(`${r.kept_young} unreferenced object(s) are younger than the grace period and stay`);
  for (const p of r.problems) out.push(`WARNING: ${p}`);
  return out.join('\n');
}

export function registerPruneCommand(program: Command): void {
  program
    .command('prune')
    .description('repack small data files and delete what no snapshot or state references')
    .requiredOption('--path <path>', 'directory or storage URL (s3://bucket/prefix, azure://…, gs://…)')
    .requiredOption('--backup-id <id>', 'the backup line')
    .option('--grace <duration>', 'leave unreferenced objects younger than this (in-flight uploads)', '1h')
    .option('--no-repack', 'do not merge small data files')
    .option('--repack-size <bytes>', 'largest repacked file, stored bytes', String(128 * 1024 * 1024))
    .option('--dry-run', 'print what would be repacked and deleted, change nothing')
    .option('--format <format>', 'text|json|yaml', 'text')
    .action(async (o: PruneFlags) => {
      const format = parseFormat(o.format);
      let graceMs: number;
      try {
        graceMs = o.grace === '0' ? 0 : parseDuration(o.grace);
      } catch (e) {
        throw new UsageError(`--grace: ${(e as Error).message}`);
      }
      const targetBytes = Number(o.repackSize);
      if (!Number.isInteger(targetBytes) || targetBytes < 1024)
        throw new UsageError(`--repack-size must be a whole number of bytes of at least 1024, found ${o.repackSize}`);
      const storage = await storageFromPath(o.path);
      try {
        const writer = maintenanceWriter('prune');
        const lease = o.dryRun ? null : await MaintenanceLease.acquire(storage, o.backupId, writer.run_id, 'prune');
        try {
          // loaded here: it reads data files, so --help must not pay for the Kafka codecs
          const { prune } = await import('../repository/prune.ts');
          const report = await prune(storage, o.backupId, {
            graceMs,
            repack: o.repack,
            targetBytes,
            dryRun: o.dryRun ?? false,
            writer,
          });
          if (!report.dry_run)
            await writeMaintenance(storage, o.backupId, {
              last_prune: {
                at: new Date().toISOString(),
                run_id: writer.run_id,
                deleted_objects: report.deleted_objects,
                deleted_bytes: report.deleted_bytes,
                repacked_files: report.repacked_files,
                repacked_into: report.repacked_into,
                seq: report.seq,
                ...(report.released ? { released: report.released } : {}),
              },
            });
          emit(format, report, () => renderText(report));
        } finally {
          await lease?.release();
        }
      } finally {
        await storage.close();
      }
    });
}
