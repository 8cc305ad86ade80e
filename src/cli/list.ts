/**
 * `kafka-backup list --path P [--format text|json|yaml]`: the backup lines at a storage
 * location, each with its snapshots (state, records, size). Reads manifests only.
 * Exit 0; 3 when a line's newest manifest is unreadable (an older generation is shown instead).
 */
import type { Command } from 'commander';
import { KEY_HINT } from '../crypto/unlock.ts';
import { IntegrityError, KeyError } from '../errors.ts';
import type { FileTotals } from '../format/line-v2.ts';
import { decodeManifest, keys, type Manifest, ManifestCorruptError } from '../format/manifest.ts';
import {
  formatBytes,
  type LineSummary,
  retentionOfFigures,
  summarizeLine,
  type TopicRetention,
  type Totals,
} from '../inspect/summary.ts';
import { BackupLine, type Lease, listLines } from '../repository/line.ts';
import { figuresFromFiles, type LineFigures, readLineFigures } from '../repository/line-figures.ts';
import { storageFromPath } from './common.ts';
import { emit, parseFormat, table } from './output.ts';

/**
 * The line's state and the damaged metadata objects found on the way. Version 1: the newest
 * generation that decodes, and the error of every newer one. Version 2: the state readers open
 * (a damaged head or checkpoint is skipped and reported; a damaged commit, index or chunk makes
 * the state unreadable).
 */
export async function newestReadable(line: BackupLine): Promise<{
  manifest: Manifest | null;
  figures: LineFigures | null;
  errors: { key: string; message: string }[];
}> {
  const errors: { key: string; message: string }[] = [];
  const format = await line.format();
  if (format?.version === 2)
    try {
      // without file lists when the indexes carry their summaries
      const figures = await readLineFigures(line);
      for (const p of figures?.opened.read?.problems ?? []) errors.push({ key: p.key, message: p.problem });
      return { manifest: figures?.opened.view ?? null, figures, errors };
    } catch (e) {
      if (!(e instanceof IntegrityError)) throw e;
      return { manifest: null, figures: null, errors: e.files.map((key) => ({ key, message: e.message })) };
    }
  const gens = (await line.generations()).reverse();
  for (const g of gens) {
    const key = keys.manifest(line.backupId, g);
    try {
      const manifest = decodeManifest(key, await line.storage.get(key));
      return { manifest, figures: figuresFromFiles({ view: manifest, version: 1, digest: '' }), errors };
    } catch (e) {
      if (!(e instanceof ManifestCorruptError)) throw e;
      errors.push({ key, message: e.message });
    }
  }
  return { manifest: null, figures: null, errors };
}

/** A snapshot's sums over its topics, as list shows them. */
function plainTotals(perTopic: Map<string, FileTotals> | undefined): Totals {
  const t: Totals = { records: 0, raw_bytes: 0, stored_bytes: 0, files: 0 };
  for (const x of perTopic?.values() ?? []) {
    t.records += x.records;
    t.raw_bytes += x.raw_bytes;
    t.stored_bytes += x.stored_bytes;
    t.files += x.files;
  }
  return t;
}

/** What list shows of one line. */
export function lineSummaryOf(
  manifest: Manifest,
  figures: LineFigures,
  lease: Lease | null,
): LineSummary & { retention: TopicRetention[] } {
  return {
    ...summarizeLine(manifest, lease, Date.now(), (s) => plainTotals(figures.snapshotTotals.get(s.id))),
    retention: retentionOfFigures(figures),
  };
}

function renderText(location: string, lines: LineSummary[]): string {
  if (lines.length === 0) return `no readable backups at ${location}`;
  const out: string[] = [];
  for (const l of lines) {
    out.push(
      `backup ${l.backup_id}  (generation ${l.generation}, updated ${l.updated_at}, cluster ${l.source_cluster})`,
    );
    if (l.manifest_error) out.push(`  WARNING: ${l.manifest_error}`);
    for (const t of (l as LineSummary & { retention?: TopicRetention[] }).retention ?? [])
      if (t.dropped_offsets)
        out.push(`  ${t.topic}: oldest restorable record ${t.oldest_restorable ?? '-'} (retention)`);
    if (l.snapshots.length === 0) out.push('  no snapshots');
    else
      out.push(
        table(
          ['  SNAPSHOT', 'CREATED', 'FINISHED', 'MODE', 'STATE', 'RECORDS', 'SIZE'],
          l.snapshots.map((s) => [
            `  ${s.id}`,
            s.created,
            s.finished ?? '-',
            s.mode,
            s.state,
            s.records,
            formatBytes(s.stored_bytes),
          ]),
        ),
      );
    out.push('');
  }
  return out.join('\n').trimEnd();
}

export function registerListCommand(program: Command): void {
  program
    .command('list')
    .description('list the backups at a storage location and their snapshots')
    .requiredOption('--path <path>', 'directory or storage URL (s3://bucket/prefix, azure://…, gs://…)')
    .option('--format <format>', 'text|json|yaml', 'text')
    .action(async (options: { path: string; format: string }) => {
      const format = parseFormat(options.format);
      const storage = await storageFromPath(options.path);
      try {
        const lines: LineSummary[] = [];
        const bad: string[] = [];
        const unreadable: { backup_id: string; errors: string[] }[] = [];
        // encrypted lines whose key was not given: shown, and the command ends with their KeyError
        const locked: { backup_id: string; error: string }[] = [];
        for (const id of await listLines(storage)) {
          const line = new BackupLine(storage, id);
          let read: Awaited<ReturnType<typeof newestReadable>>;
          try {
            read = await newestReadable(line);
          } catch (e) {
            if (!(e instanceof KeyError)) throw e;
            locked.push({ backup_id: id, error: e.message });
            continue;
          }
          const { manifest, figures, errors } = read;
          if (!manifest || !figures) {
            bad.push(...errors.map((e) => e.key));
            unreadable.push({ backup_id: id, errors: errors.map((e) => e.message) });
            continue;
          }
          const summary = lineSummaryOf(manifest, figures, await line.readLease());
          if (errors.length) {
            bad.push(...errors.map((e) => e.key));
            summary.manifest_error = `${errors.map((e) => e.message).join('; ')}; showing generation ${manifest.generation}`;
          }
          lines.push(summary);
        }
        emit(format, { location: storage.location, backups: lines, unreadable, locked }, () =>
          [
            renderText(storage.location, lines),
            ...unreadable.map((u) => `backup ${u.backup_id}: UNREADABLE (${u.errors.join('; ')})`),
            ...locked.map((u) => `backup ${u.backup_id}: ENCRYPTED, key needed`),
          ].join('\n'),
        );
        if (bad.length)
          throw new IntegrityError(`${bad.length} metadata object(s) at ${storage.location} are unreadable`, bad, {
            hint: `run validate --deep on the affected backup; unreadable: ${bad.join(', ')}`,
          });
        if (locked.length === 1) throw new KeyError(locked[0]!.error, { hint: KEY_HINT, code: 'KEY_LOCKED' });
        if (locked.length)
          throw new KeyError(
            `${locked.length} encrypted backup lines could not be unlocked: ${locked.map((l) => `${l.error}`).join('; ')}`,
            {
              hint: KEY_HINT,
              code: 'KEY_LOCKED',
            },
          );
      } finally {
        await storage.close();
      }
    });
}
