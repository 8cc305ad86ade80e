/**
 * `kafka-backup status --path URL --backup-id ID [--restore-id R] [--state-path URL]
 *  [--watch [--interval S]] [--format text|json]`: the state of a running or finished backup
 * (and restores), read from storage only — no Kafka connection, no lease taken.
 *
 * Backup: newest manifest generation and its age (the age of the last checkpoint), the newest
 * snapshot and its state, the writer lease (holder, expiry: a live lease means a run is active),
 * and per topic the offsets covered against the snapshot's end offsets.
 * Restore: which of plan.json, offset-map.json and report.json exist (planned, finished) and the
 * report's totals; without --restore-id every restore of the backup is listed.
 *
 * --watch prints the status every --interval seconds (default 5) until no run holds the lease
 * (backup) or report.json appears (--restore-id), or until interrupted (exit 0). With --format
 * json, --watch prints one compact JSON document per line; without --watch, one document.
 */
import type { Command } from 'commander';
import { isNotFound, UsageError } from '../errors.ts';
import type { Manifest } from '../format/manifest.ts';
import { formatBytes, retentionOfFigures, type TopicRetention, topicOf } from '../inspect/summary.ts';
import { BackupLine, type Lease, openExistingLine } from '../repository/line.ts';
import { type LineFigures, readLineFigures } from '../repository/line-figures.ts';
import { type MaintenanceRecord, readMaintenance } from '../repository/maintenance.ts';
import { referencedFiles } from '../repository/prune-plan.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { stateStorageFromUrl, storageFromPath } from './common.ts';
import { emit, parseFormat, table } from './output.ts';

/** Restore state keys (the same layout src/restore/engine.ts writes, without loading the engine). */
const restoreDir = (backupId: string, restoreId: string) => `${backupId}/restores/${restoreId}/`;

export interface TopicStatus {
  topic: string;
  partitions: number;
  /** Offsets of this snapshot already covered by listed files or gaps. */
  offsets_done: number;
  /** Offsets this snapshot covers: from the previous snapshot's end (or the line's start) to its end. */
  offsets_total: number;
  offsets_remaining: number;
  percent: number;
  files: number;
  records: number;
  stored_bytes: number;
}

export interface RestoreStatus {
  restore_id: string;
  plan: boolean;
  offset_map: boolean;
  report: boolean;
  state: 'planned' | 'finished';
  planned_at?: string | undefined;
  snapshot_id?: string | undefined;
  records?: number | undefined;
  duration_ms?: number | undefined;
}

export interface BackupStatus {
  backup_id: string;
  location: string;
  checked_at: string;
  /** A run holds a live lease. */
  running: boolean;
  manifest: {
    generation: number;
    created_at: string;
    /** Seconds since the newest generation was written: the age of the last checkpoint. */
    checkpoint_age_secs: number;
    writer: Manifest['writer'];
  };
  snapshot: {
    id: string;
    mode: string;
    state: string;
    started_at: string;
    finished_at?: string | undefined;
    error?: string | undefined;
  } | null;
  lease: (Lease & { expired: boolean; expires_in_secs: number }) | null;
  progress: {
    offsets_done: number;
    offsets_total: number;
    offsets_remaining: number;
    percent: number;
    /**
     * Continuous mode, while a run is writing: seconds since the oldest record it had read but not
     * yet listed (as of the newest generation) was read; 0 when none. Those offsets count as remaining.
     */
    oldest_pending_age_secs: number;
  };
  topics: TopicStatus[];
  restores: RestoreStatus[];
  retention: {
    topics: TopicRetention[];
    /** Bytes of data files the state no longer lists (released since the last prune, docs/retention.md "Status"): what prune frees. */
    reclaimable_bytes: number;
    reclaimable_files: number;
    last_prune: MaintenanceRecord['last_prune'] | null;
    last_forget: MaintenanceRecord['last_forget'] | null;
  };
}

function pct(done: number, total: number): number {
  return total > 0 ? Math.round((done / total) * 1000) / 10 : 100;
}

async function readJson(storage: StorageBackend, key: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse((await storage.get(key)).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    if (isNotFound(e)) return null;
    if (e instanceof SyntaxError) return {};
    throw e;
  }
}

async function restoreStatus(storage: StorageBackend, backupId: string, restoreId: string): Promise<RestoreStatus> {
  const dir = restoreDir(backupId, restoreId);
  const present = new Set<string>();
  for await (const o of storage.list(dir)) present.add(o.key.slice(dir.length));
  const plan = present.has('plan.json') ? await readJson(storage, `${dir}plan.json`) : null;
  const report = present.has('report.json') ? await readJson(storage, `${dir}report.json`) : null;
  return {
    restore_id: restoreId,
    plan: present.has('plan.json'),
    offset_map: present.has('offset-map.json'),
    report: present.has('report.json'),
    state: report ? 'finished' : 'planned',
    planned_at: typeof plan?.['created_at'] === 'string' ? plan['created_at'] : undefined,
    snapshot_id: typeof plan?.['snapshot_id'] === 'string' ? plan['snapshot_id'] : undefined,
    records: typeof report?.['records'] === 'number' ? report['records'] : undefined,
    duration_ms: typeof report?.['duration_ms'] === 'number' ? report['duration_ms'] : undefined,
  };
}

/** Fails as opening a line that is not there does (naming the lines that are). */
async function unknownLine(storage: StorageBackend, backupId: string): Promise<never> {
  await openExistingLine(storage, backupId);
  throw new UsageError(`no backup '${backupId}' in ${storage.location}`, { code: 'UNKNOWN_BACKUP' });
}

async function listRestoreIds(storage: StorageBackend, backupId: string): Promise<string[]> {
  const prefix = `${backupId}/restores/`;
  const ids = new Set<string>();
  for await (const o of storage.list(prefix)) {
    const id = o.key.slice(prefix.length).split('/')[0];
    if (id) ids.add(id);
  }
  return [...ids].sort();
}

export async function backupStatus(
  storage: StorageBackend,
  backupId: string,
  options: { restoreId?: string | undefined; stateStorage?: StorageBackend | undefined; now?: number } = {},
): Promise<BackupStatus> {
  const now = options.now ?? Date.now();
  // figures from the index summaries (no file lists) when the line has them
  const line = new BackupLine(storage, backupId);
  const figures = (await readLineFigures(line)) ?? (await unknownLine(storage, backupId));
  const m = figures.opened.view;
  const lease = await line.readLease();
  const snap = m.snapshots[m.snapshots.length - 1];
  const prev = snap ? [...m.snapshots].reverse().find((s) => s !== snap && s.state === 'complete') : undefined;
  const topics: TopicStatus[] = [];
  // a continuous snapshot's end offsets follow what is listed; what the run read beyond them is
  // recorded as pending (only meaningful while that run is in progress)
  const pending = snap?.state === 'in-progress' ? snap.pending : undefined;
  for (const [topic, ends] of Object.entries(snap?.end_offsets ?? {})) {
    // the incarnation the snapshot holds (a topic re-created since is another history)
    const ts = topicOf(m, topic, snap!);
    const t: TopicStatus = {
      topic,
      partitions: 0,
      offsets_done: 0,
      offsets_total: 0,
      offsets_remaining: 0,
      percent: 0,
      files: 0,
      records: 0,
      stored_bytes: 0,
    };
    for (const [p, end] of Object.entries(ends)) {
      const ps = ts?.partitions[p];
      t.partitions++;
      if (!ps) {
        t.offsets_remaining += end;
        continue;
      }
      const base = Math.min(end, Math.max(ps.start_offset, prev?.end_offsets[topic]?.[p] ?? ps.start_offset));
      const reached = Math.min(end, Math.max(base, ps.next_offset));
      t.offsets_total += end - base;
      t.offsets_done += reached - base;
      t.offsets_remaining += end - reached;
    }
    // the files of this snapshot after the previous complete one: the difference of their sums
    // (snapshots cut files at their ends), when the previous one holds the same incarnation
    const mine = figures.snapshotTotals.get(snap!.id)?.get(topic);
    const samePrev =
      prev && topicOf(m, topic, prev) === ts ? figures.snapshotTotals.get(prev.id)?.get(topic) : undefined;
    t.files = Math.max(0, (mine?.files ?? 0) - (samePrev?.files ?? 0));
    t.records = Math.max(0, (mine?.records ?? 0) - (samePrev?.records ?? 0));
    t.stored_bytes = Math.max(0, (mine?.stored_bytes ?? 0) - (samePrev?.stored_bytes ?? 0));
    const waiting = pending?.offsets[topic] ?? 0;
    t.offsets_total += waiting;
    t.offsets_remaining += waiting;
    t.percent = pct(t.offsets_done, t.offsets_total);
    topics.push(t);
  }
  topics.sort((a, b) => a.topic.localeCompare(b.topic));
  const done = topics.reduce((n, t) => n + t.offsets_done, 0);
  const total = topics.reduce((n, t) => n + t.offsets_total, 0);
  const expiresAt = lease ? Date.parse(lease.expires_at) : 0;
  const state = options.stateStorage ?? storage;
  let restores: RestoreStatus[] = [];
  if (options.restoreId) {
    const r = await restoreStatus(state, backupId, options.restoreId);
    if (!r.plan && !r.report) {
      const known = await listRestoreIds(state, backupId);
      throw new UsageError(`no restore '${options.restoreId}' of backup '${backupId}' in ${state.location}`, {
        hint: known.length
          ? `restores there: ${known.join(', ')}`
          : 'no restore of this backup has started yet (or its state is elsewhere: --state-path)',
        code: 'UNKNOWN_RESTORE',
      });
    }
    restores = [r];
  } else {
    for (const id of await listRestoreIds(state, backupId)) restores.push(await restoreStatus(state, backupId, id));
  }
  return {
    backup_id: backupId,
    location: storage.location,
    checked_at: new Date(now).toISOString(),
    running: lease !== null && expiresAt > now,
    manifest: {
      generation: m.generation,
      created_at: m.created_at,
      checkpoint_age_secs: Math.max(0, Math.round((now - Date.parse(m.created_at)) / 100) / 10),
      writer: m.writer,
    },
    snapshot: snap
      ? {
          id: snap.id,
          mode: snap.mode,
          state: snap.state,
          started_at: snap.started_at,
          finished_at: snap.finished_at,
          error: snap.error,
        }
      : null,
    lease: lease
      ? { ...lease, expired: expiresAt <= now, expires_in_secs: Math.round((expiresAt - now) / 1000) }
      : null,
    progress: {
      offsets_done: done,
      offsets_total: total,
      offsets_remaining: total - done,
      percent: pct(done, total),
      oldest_pending_age_secs: pending
        ? Math.max(0, Math.round((now - Date.parse(pending.oldest_read_at)) / 100) / 10)
        : 0,
    },
    topics,
    restores,
    retention: await retentionStatus(storage, backupId, figures!),
  };
}

/**
 * Reclaimable: with index summaries, the data files the state released (retention drops,
 * repacks) since the last prune planned; otherwise (older lines, or a last prune that did not
 * record the figure) one listing of the line's data files against the state.
 */
async function retentionStatus(
  storage: StorageBackend,
  backupId: string,
  figures: LineFigures,
): Promise<BackupStatus['retention']> {
  const rec = await readMaintenance(storage, backupId);
  const since = rec.last_prune ? rec.last_prune.released : { files: 0, bytes: 0 };
  let bytes = 0;
  let files = 0;
  if (figures.released && since) {
    files = Math.max(0, figures.released.files - since.files);
    bytes = Math.max(0, figures.released.bytes - since.bytes);
  } else {
    const view =
      figures.source === 'files' ? figures.opened.view : (await openExistingLine(storage, backupId)).manifest;
    const listed = referencedFiles(view);
    for await (const o of storage.list(`${backupId}/data/`))
      if (!listed.has(o.key)) {
        bytes += o.size;
        files++;
      }
  }
  return {
    topics: retentionOfFigures(figures),
    reclaimable_bytes: bytes,
    reclaimable_files: files,
    last_prune: rec.last_prune ?? null,
    last_forget: rec.last_forget ?? null,
  };
}

export function renderStatus(s: BackupStatus): string {
  const out: string[] = [];
  const who = s.lease
    ? `run ${s.lease.run_id} on ${s.lease.host} pid ${s.lease.pid}, lease ${s.lease.expired ? `expired ${-s.lease.expires_in_secs}s ago` : `expires in ${s.lease.expires_in_secs}s`}`
    : 'no lease';
  out.push(`backup ${s.backup_id} in ${s.location}: ${s.running ? 'RUNNING' : 'not running'} (${who})`);
  out.push(
    `  manifest generation ${s.manifest.generation} written ${s.manifest.created_at} (last checkpoint ${s.manifest.checkpoint_age_secs}s ago) by run ${s.manifest.writer.run_id}`,
  );
  if (s.snapshot) {
    const sn = s.snapshot;
    out.push(
      `  snapshot ${sn.id} (${sn.mode}, ${sn.state}) started ${sn.started_at}${sn.finished_at ? `, finished ${sn.finished_at}` : ''}`,
    );
    if (sn.error) out.push(`  error: ${sn.error}`);
    out.push(
      `  progress: ${s.progress.offsets_done}/${s.progress.offsets_total} offsets (${s.progress.percent}%), ${s.progress.offsets_remaining} remaining`,
    );
    if (s.progress.oldest_pending_age_secs > 0)
      out.push(`  oldest record read but not yet listed: read ${s.progress.oldest_pending_age_secs}s ago`);
  } else out.push('  no snapshot yet');
  if (s.topics.length) {
    out.push(
      table(
        ['  TOPIC', 'PARTITIONS', 'DONE', 'TOTAL', 'REMAINING', '%', 'FILES', 'RECORDS', 'STORED'],
        s.topics.map((t) => [
          `  ${t.topic}`,
          t.partitions,
          t.offsets_done,
          t.offsets_total,
          t.offsets_remaining,
          t.percent,
          t.files,
          t.records,
          formatBytes(t.stored_bytes),
        ]),
      ),
    );
  }
  const rt = s.retention;
  for (const t of rt.topics)
    out.push(
      `  ${t.topic}: oldest restorable record ${t.oldest_restorable ?? '-'}${t.dropped_offsets ? `, ${t.dropped_offsets} offsets dropped by retention` : ''}`,
    );
  out.push(
    `  reclaimable by prune: ${formatBytes(rt.reclaimable_bytes)} in ${rt.reclaimable_files} data file(s) the state no longer lists; last prune ${rt.last_prune ? `${rt.last_prune.at} (${rt.last_prune.deleted_objects} objects, ${formatBytes(rt.last_prune.deleted_bytes)} freed)` : 'never'}`,
  );
  for (const r of s.restores) {
    const files = `plan.json ${r.plan ? 'present' : 'absent'}, report.json ${r.report ? 'present' : 'absent'}, offset-map.json ${r.offset_map ? 'present' : 'absent'}`;
    const detail =
      r.state === 'finished'
        ? `finished: ${r.records ?? '?'} records in ${((r.duration_ms ?? 0) / 1000).toFixed(1)}s`
        : 'planned, not finished (running, or interrupted: run the same restore again to resume)';
    out.push(`restore ${r.restore_id}${r.snapshot_id ? ` of snapshot ${r.snapshot_id}` : ''}: ${detail}`, `  ${files}`);
  }
  return out.join('\n');
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('show the state of a running or finished backup (and its restores), from storage only')
    .requiredOption('--path <url>', 'backup location: directory or storage URL (s3://…, azure://…, gs://…)')
    .requiredOption('--backup-id <id>', 'the backup line')
    .option('--restore-id <id>', 'show this restore (plan.json, report.json)')
    .option('--state-path <url>', 'where restore state lives (restore.state_url), if not --path')
    .option('--watch', 'refresh until the run ends (or Ctrl-C)')
    .option('--interval <secs>', 'seconds between refreshes with --watch', '5')
    .option('--format <format>', 'text|json', 'text')
    .action(async (_opts, cmd: Command) => {
      const o = cmd.opts() as {
        path: string;
        backupId: string;
        restoreId?: string;
        statePath?: string;
        watch?: boolean;
        interval: string;
        format: string;
      };
      const format = parseFormat(o.format, ['text', 'json']);
      const interval = Number(o.interval);
      if (!Number.isFinite(interval) || interval <= 0)
        throw new UsageError(`--interval ${o.interval} is not a positive number of seconds`, {
          hint: 'e.g. --interval 2',
        });
      const storage = await storageFromPath(o.path);
      const stateStorage = o.statePath ? await stateStorageFromUrl(o.statePath, storage) : undefined;
      const read = () => backupStatus(storage, o.backupId, { restoreId: o.restoreId, stateStorage });
      try {
        if (!o.watch) {
          const s = await read();
          emit(format, s, () => renderStatus(s));
          return;
        }
        let stop = false;
        let wake: (() => void) | undefined;
        const onSignal = () => {
          stop = true;
          wake?.();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        try {
          const tty = Boolean(process.stdout.isTTY);
          while (!stop) {
            const s = await read();
            if (format === 'json') process.stdout.write(`${JSON.stringify(s)}\n`);
            else process.stdout.write(`${tty ? '\x1b[2J\x1b[H' : ''}${renderStatus(s)}\n${tty ? '' : '\n'}`);
            const finished = o.restoreId ? s.restores[0]?.state === 'finished' : !s.running;
            if (finished) break;
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, interval * 1000);
              wake = () => {
                clearTimeout(t);
                resolve();
              };
            });
          }
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      } finally {
        await storage.close();
        await stateStorage?.close();
      }
    });
}
