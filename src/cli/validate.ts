/**
 * `kafka-backup validate --path P --backup-id ID [--deep] [--concurrency N] [--format …]`:
 * checks a backup line against its manifests (src/inspect/validate.ts). Prints a report of
 * every problem found; exit 0 when none, 3 (IntegrityError naming every bad file) otherwise.
 */
import type { Command } from 'commander';
import { IntegrityError, UsageError } from '../errors.ts';
import { formatBytes } from '../inspect/summary.ts';
import type { ValidationReport } from '../inspect/validate.ts';
import { storageFromPath } from './common.ts';
import { emit, parseFormat } from './output.ts';

function renderText(r: ValidationReport): string {
  const out = [
    `backup ${r.backup_id} at ${r.location}: ${r.ok ? 'OK' : `${r.bad_files.length} bad file(s)`} (${r.deep ? 'deep' : 'shallow'})`,
    `  manifest generation ${r.generation ?? '-'} of ${r.generations}; ${r.generations_checked} generation(s) decoded`,
    `  ${r.files_listed} data files listed${r.deep ? `, ${r.files_read} read (${formatBytes(r.bytes_read)})` : ', sizes checked'}`,
  ];
  if (r.consumer_offsets_checked) out.push(`  ${r.consumer_offsets_checked} consumer-offset captures checked`);
  if (r.schema_ids)
    out.push(
      `  schema ids: ${r.schema_ids.records_scanned} records checked against ${r.schema_ids.captures_checked} registry capture(s), ${r.schema_ids.unknown.length} unknown id finding(s)`,
    );
  if (r.unlisted_files.length)
    out.push(`  ${r.unlisted_files.length} data file(s) not listed by the manifest (ignored by readers)`);
  if (!r.deep && r.ok) out.push('  run with --deep to read every file and verify its checksums');
  for (const key of r.bad_files) {
    out.push(`BAD ${key}`);
    for (const p of r.problems) if (p.key === key) out.push(`    ${p.problem}`);
  }
  return out.join('\n');
}

export function registerValidateCommand(program: Command): void {
  program
    .command('validate')
    .description('check a backup: manifests, files and sizes; with --deep, every checksum and record count')
    .requiredOption('--path <path>', 'directory or storage URL (s3://bucket/prefix, azure://…, gs://…)')
    .requiredOption('--backup-id <id>', 'the backup line')
    .option('--deep', 'read every data file and every manifest generation')
    .option('--concurrency <n>', 'data files read at a time with --deep', '4')
    .option('--format <format>', 'text|json|yaml', 'text')
    .action(
      async (options: { path: string; backupId: string; deep?: boolean; concurrency: string; format: string }) => {
        // Here, not at the top: reading data files brings the Kafka client's codecs (lz4).
        const { validateLine } = await import('../inspect/validate.ts');
        const format = parseFormat(options.format);
        const concurrency = Number(options.concurrency);
        if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
          throw new UsageError(`--concurrency ${options.concurrency} is not a whole number from 1 to 64`);
        const storage = await storageFromPath(options.path);
        try {
          const report = await validateLine(storage, options.backupId, { deep: options.deep ?? false, concurrency });
          emit(format, report, () => renderText(report));
          if (!report.ok)
            throw new IntegrityError(
              `backup ${report.backup_id} failed validation: ${report.bad_files.length} bad file(s): ${report.bad_files.join(', ')}`,
              report.bad_files,
              {
                hint: 'restore the named objects from a copy of the storage if you have one; data files that cannot be repaired lose the records they hold',
              },
            );
        } finally {
          await storage.close();
        }
      },
    );
}
