/**
 * `kafka-backup forget --path P --backup-id ID [--keep-… N] [--keep-within D] [--keep-tag T]
 * [--max-age D] [--dry-run]`: removes snapshots by a keep policy (restic's vocabulary) and, with
 * --max-age, drops data older than a record-time horizon. It commits what it decided; the bytes
 * are freed by `prune` (docs/retention.md). Exit 0; 2 for a usage problem or a held lease.
 */
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { formatBytes } from '../inspect/summary.ts';
import type { ForgetReport } from '../repository/forget.ts';
import { MaintenanceLease, maintenanceWriter, writeMaintenance } from '../repository/maintenance.ts';
import { type KeepPolicy, parseDuration } from '../repository/retention-policy.ts';
import { storageFromPath } from './common.ts';
import { emit, parseFormat, table } from './output.ts';

interface ForgetFlags {
  path: string;
  backupId: string;
  keepLast?: string;
  keepHourly?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  keepWithin?: string;
  keepTag?: string[];
  maxAge?: string;
  forgetNewest?: boolean;
  dryRun?: boolean;
  format: string;
}

function count(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a whole number of at least 1, found ${v}`);
  return n;
}

function duration(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  try {
    return parseDuration(v);
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
}

export function policyFromFlags(o: ForgetFlags): KeepPolicy {
  const p: KeepPolicy = {};
  const set = <K extends keyof KeepPolicy>(k: K, v: KeepPolicy[K] | undefined) => {
    if (v !== undefined) p[k] = v;
  };
  set('last', count('--keep-last', o.keepLast));
  set('hourly', count('--keep-hourly', o.keepHourly));
  set('daily', count('--keep-daily', o.keepDaily));
  set('weekly', count('--keep-weekly', o.keepWeekly));
  set('monthly', count('--keep-monthly', o.keepMonthly));
  set('yearly', count('--keep-yearly', o.keepYearly));
  set('withinMs', duration('--keep-within', o.keepWithin));
  if (o.keepTag?.length) p.tags = o.keepTag;
  return p;
}

function renderText(r: ForgetReport): string {
  const out: string[] = [];
  const verb = r.dry_run ? 'would ' : '';
  out.push(
    table(
      ['SNAPSHOT', 'TIME', 'STATE', 'DECISION', 'REASON'],
      r.snapshots.map((s) => [s.id, s.time, s.state, s.keep ? 'keep' : 'remove', s.reasons.join(', ') || '-']),
    ),
  );
  const removed = r.forgotten.length + r.forgotten_by_max_age.length;
  out.push('');
  out.push(
    `${r.dry_run ? 'would keep' : 'kept'} ${r.snapshots.length - removed} snapshot(s), ${verb}${r.dry_run ? 'remove' : 'removed'} ${removed}`,
  );
  if (r.horizon) {
    const files = r.drops.reduce((n, d) => n + d.files, 0);
    out.push(
      files
        ? `${r.dry_run ? 'would drop' : 'dropped'} data older than ${r.horizon}: ${files} file(s), ${r.drops.reduce((n, d) => n + d.records, 0)} records, ${formatBytes(r.dropped_bytes)} in ${r.drops.length} partition(s)`
        : `no data older than ${r.horizon}`,
    );
  }
  if (!r.dry_run && r.seq !== null) out.push(`committed as number ${r.seq}; run prune to free the space`);
  return out.join('\n');
}

export function registerForgetCommand(program: Command): void {
  const collect = (v: string, prev: string[] = []) => [...prev, v];
  program
    .command('forget')
    .description('remove snapshots by a keep policy, and data older than --max-age (prune frees the space)')
    .requiredOption('--path <path>', 'directory or storage URL (s3://bucket/prefix, azure://…, gs://…)')
    .requiredOption('--backup-id <id>', 'the backup line')
    .option('--keep-last <n>', 'keep the n newest snapshots')
    .option('--keep-hourly <n>', 'keep the newest snapshot of each of the n newest hours that have one')
    .option('--keep-daily <n>', 'the same per day (UTC)')
    .option('--keep-weekly <n>', 'the same per ISO week')
    .option('--keep-monthly <n>', 'the same per month')
    .option('--keep-yearly <n>', 'the same per year')
    .option('--keep-within <duration>', 'keep snapshots within this duration of the newest one (e.g. 30d, 12h)')
    .option('--keep-tag <tag>', 'keep snapshots with this tag (repeatable)', collect)
    .option('--max-age <duration>', 'drop data whose records are all older than this (e.g. 30d)')
    .option('--forget-newest', 'allow removing the newest complete snapshot')
    .option('--dry-run', 'print the plan, change nothing')
    .option('--format <format>', 'text|json|yaml', 'text')
    .action(async (o: ForgetFlags) => {
      const format = parseFormat(o.format);
      const policy = policyFromFlags(o);
      const maxAgeMs = duration('--max-age', o.maxAge);
      const storage = await storageFromPath(o.path);
      try {
        const writer = maintenanceWriter('forget');
        const lease = o.dryRun ? null : await MaintenanceLease.acquire(storage, o.backupId, writer.run_id, 'forget');
        try {
          const { forget } = await import('../repository/forget.ts');
          const report = await forget(storage, o.backupId, {
            policy,
            ...(maxAgeMs !== undefined ? { maxAgeMs, maxAgeLabel: o.maxAge! } : {}),
            ...(o.keepWithin ? { withinLabel: o.keepWithin } : {}),
            ...(o.forgetNewest ? { forgetNewest: true } : {}),
            dryRun: o.dryRun ?? false,
            writer,
          });
          if (!report.dry_run && report.seq !== null)
            await writeMaintenance(storage, o.backupId, {
              last_forget: {
                at: new Date().toISOString(),
                run_id: writer.run_id,
                forgotten: [...report.forgotten, ...report.forgotten_by_max_age],
                dropped_bytes: report.dropped_bytes,
                seq: report.seq,
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
