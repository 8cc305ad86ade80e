/**
 * `kafka-backup migrate --path P --backup-id ID [--dry-run] [--format …]`: converts a format
 * version 1 line to version 2 (docs/format.md, "Migrating a version 1 line"). Data files are not
 * touched; the version 1 manifests stay (a migrated line is still readable from them by nothing
 * but this tool's migration marker). Holds the writer lease while it runs, so no backup writes
 * the line meanwhile. A backup run on a version 1 line does the same by itself.
 */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { BackupLine } from '../repository/line.ts';
import { probeConditionalWrites } from '../storage/probe.ts';
import { VERSION } from '../version.ts';
import { storageFromPath } from './common.ts';
import { emit, parseFormat } from './output.ts';

const LEASE_TTL_MS = 60_000;

interface MigrateResult {
  backup_id: string;
  location: string;
  dry_run: boolean;
  from_version: 1 | 2;
  from_generation: number | null;
  checkpoint_seq: number | null;
  topics: number;
  files: number;
  snapshots: number;
  bytes_written: number;
}

function renderText(r: MigrateResult): string {
  if (r.from_version === 2 && r.from_generation === null)
    return `backup ${r.backup_id} at ${r.location} is already in format version 2; nothing to do`;
  const what = `${r.topics} topics, ${r.files} data files, ${r.snapshots} snapshots`;
  return r.dry_run
    ? `would convert backup ${r.backup_id} (version 1, generation ${r.from_generation}: ${what}) to format version 2; data files stay as they are`
    : `converted backup ${r.backup_id} (version 1, generation ${r.from_generation}: ${what}) to format version 2: checkpoint ${r.checkpoint_seq}, ${r.bytes_written} bytes of metadata written`;
}

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('convert a backup line to the current format (version 2) without rewriting data files')
    .requiredOption('--path <path>', 'directory or storage URL (s3://bucket/prefix, azure://…, gs://…)')
    .requiredOption('--backup-id <id>', 'the backup line')
    .option('--dry-run', 'show what would be converted, write nothing')
    .option('--format <format>', 'text|json|yaml', 'text')
    .action(async (options: { path: string; backupId: string; dryRun?: boolean; format: string }) => {
      const format = parseFormat(options.format);
      const storage = await storageFromPath(options.path);
      try {
        const line = new BackupLine(storage, options.backupId);
        const opened = await line.open();
        if (!opened)
          throw new UsageError(`no backup '${options.backupId}' in ${storage.location}`, { code: 'UNKNOWN_BACKUP' });
        const v = opened.view;
        const result: MigrateResult = {
          backup_id: options.backupId,
          location: storage.location,
          dry_run: options.dryRun ?? false,
          from_version: opened.version,
          from_generation: opened.version === 1 ? v.generation : null,
          checkpoint_seq: null,
          topics: Object.keys(v.topics).length,
          files: Object.values(v.topics).reduce(
            (n, t) => n + Object.values(t.partitions).reduce((m, p) => m + p.files.length, 0),
            0,
          ),
          snapshots: v.snapshots.length,
          bytes_written: 0,
        };
        if (opened.version === 1 && !options.dryRun) {
          const runId = `migrate-${Date.now().toString(36)}`;
          // the migration marker fences a version 1 writer only where create-if-absent holds
          await probeConditionalWrites(storage, options.backupId);
          await line.acquireLease(runId, LEASE_TTL_MS);
          try {
            const r = await line.migrate({ run_id: runId, host: hostname(), pid: process.pid, tool_version: VERSION });
            result.checkpoint_seq = r.seq;
            result.bytes_written = r.bytes;
          } finally {
            await line.releaseLease().catch(() => undefined);
          }
        }
        emit(format, result, () => renderText(result));
      } finally {
        await storage.close();
      }
    });
}
