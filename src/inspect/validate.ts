/**
 * `validate`: checks a backup line against what its manifests recorded.
 *
 * Shallow: the newest manifest generation decodes (digest, format, version), every file it
 * lists exists with its recorded size, consumer-offset captures exist, and each partition's
 * files and gaps tile its offsets (coverage). Deep, in addition: every older generation decodes,
 * and every data file is read end to end (verifyFile), `concurrency` files at a time.
 *
 * Every problem is collected, keyed by the storage key it concerns; nothing stops at the first.
 */

import { listSlots } from '../crypto/slots.ts';
import { IntegrityError, isNotFound, UsageError } from '../errors.ts';
import { decodeV2, seqOfKey, v2keys } from '../format/line-v2.ts';
import {
  decodeManifest,
  type FileEntry,
  keys,
  type Manifest,
  ManifestCorruptError,
  type PartitionState,
} from '../format/manifest.ts';
import { SignedObjectError } from '../format/signed.ts';
import { BackupLine, listLines } from '../repository/line.ts';
import { readV2, StateObjectCorrupt, type V2Read } from '../repository/v2-read.ts';
import type { UnknownIdFinding } from '../schema-registry/scan.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { checkCoverage } from './coverage.ts';
import { type FileContext, verifyFile } from './verify.ts';

/**
 * Bytes per read when validate --deep reads a data file from disk. Node's 64 KiB default costs
 * 16 thread-pool round trips per 1 MiB block: 256 KiB made validate 15 % faster (large scenario,
 * 1.33 -> 1.12 s) at the same peak RSS. Restore keeps the default: with 8 files open at once,
 * larger reads added 15-30 MiB to its peak RSS.
 */
const VALIDATE_READ_BYTES = 256 * 1024;

export interface Problem {
  key: string;
  problem: string;
}

export interface ValidationReport {
  backup_id: string;
  location: string;
  deep: boolean;
  ok: boolean;
  /** 1 or 2 (docs/format.md). */
  format_version: 1 | 2;
  /** The generation (v2: commit number) whose files were checked (the newest that decodes). */
  generation: number | null;
  generations: number;
  generations_checked: number;
  files_listed: number;
  files_read: number;
  bytes_read: number;
  consumer_offsets_checked: number;
  /** --deep on a line with schema registry captures: the schema ids check (docs/schema-registry.md). */
  schema_ids?: { captures_checked: number; records_scanned: number; unknown: UnknownIdFinding[] };
  /** Data files in storage that no manifest lists (left by a crashed run); readers ignore them. */
  unlisted_files: string[];
  problems: Problem[];
  /** Every storage key with at least one problem, in order. */
  bad_files: string[];
}

export interface ValidateOptions {
  deep?: boolean;
  concurrency?: number;
  /** Called after each data file is read in deep mode. */
  onFile?: (key: string, ok: boolean) => void;
}

interface ListedFile {
  entry: FileEntry;
  ctx: FileContext;
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      try {
        await fn(items[next++]!);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

async function readManifest(
  storage: StorageBackend,
  backupId: string,
  generation: number,
): Promise<{ manifest: Manifest } | { problem: string }> {
  const key = keys.manifest(backupId, generation);
  let bytes: Buffer;
  try {
    bytes = await storage.get(key);
  } catch (e) {
    if (isNotFound(e)) return { problem: 'listed but cannot be found' };
    throw e;
  }
  try {
    const m = decodeManifest(key, bytes);
    if (m.generation !== generation) return { problem: `holds generation ${m.generation}, its key says ${generation}` };
    if (m.backup_id !== backupId) return { problem: `belongs to backup ${m.backup_id}` };
    return { manifest: m };
  } catch (e) {
    if (e instanceof ManifestCorruptError) return { problem: e.message.replace(/^manifest \S+ is corrupt: /, '') };
    throw e;
  }
}

/** Every partition the manifest lists, current topics and retired ones. */
function partitionsOf(
  m: Manifest,
): { label: string; topic: string; topicId: string; partition: number; ps: PartitionState }[] {
  const out: { label: string; topic: string; topicId: string; partition: number; ps: PartitionState }[] = [];
  for (const [topic, t] of Object.entries(m.topics))
    for (const [p, ps] of Object.entries(t.partitions))
      out.push({ label: `${topic}-${p}`, topic, topicId: t.topic_id, partition: Number(p), ps });
  for (const r of m.retired_topics ?? [])
    for (const [p, ps] of Object.entries(r.state?.partitions ?? {}))
      out.push({
        label: `${r.name}-${p} (retired ${r.topic_id})`,
        topic: r.name,
        topicId: r.topic_id,
        partition: Number(p),
        ps,
      });
  return out;
}

export async function validateLine(
  storage: StorageBackend,
  backupId: string,
  options: ValidateOptions = {},
): Promise<ValidationReport> {
  const deep = options.deep ?? false;
  const problems: Problem[] = [];
  const add = (key: string, problem: string) => problems.push({ key, problem });

  const format = await new BackupLine(storage, backupId).format();
  if (!format) {
    const lines = await listLines(storage);
    throw new UsageError(`no backup '${backupId}' in ${storage.location}`, {
      hint: lines.length
        ? `backups there: ${lines.join(', ')}`
        : 'that location holds no backup yet; check the path or URL',
      code: 'UNKNOWN_BACKUP',
    });
  }
  const state =
    format.version === 1
      ? await validateV1State(storage, backupId, format.generations, deep, add)
      : await validateV2State(storage, backupId, deep, add);
  const manifest = state.manifest;

  const report: ValidationReport = {
    backup_id: backupId,
    location: storage.location,
    deep,
    ok: false,
    format_version: format.version,
    generation: manifest?.generation ?? null,
    generations: state.generations,
    generations_checked: state.checked,
    files_listed: 0,
    files_read: 0,
    bytes_read: 0,
    consumer_offsets_checked: 0,
    unlisted_files: [],
    problems,
    bad_files: [],
  };
  if (!manifest) return finish(report);
  const manifestKey = state.stateKey;

  // Listed files, and coverage of each partition.
  const files: ListedFile[] = [];
  const seen = new Set<string>();
  for (const p of partitionsOf(manifest)) {
    for (const problem of checkCoverage(p.ps)) add(manifestKey, `${p.label}: ${problem}`);
    for (const entry of p.ps.files) {
      if (seen.has(entry.key)) {
        add(entry.key, `listed more than once (${p.label})`);
        continue;
      }
      seen.add(entry.key);
      files.push({ entry, ctx: { backup_id: backupId, topic: p.topic, topic_id: p.topicId, partition: p.partition } });
    }
  }
  report.files_listed = files.length;

  // Existence and size, from one listing of the data prefix.
  const stored = new Map<string, number>();
  for await (const o of storage.list(`${backupId}/data/`)) stored.set(o.key, o.size);
  const readable: ListedFile[] = [];
  for (const f of files) {
    const size = stored.get(f.entry.key);
    if (size === undefined) add(f.entry.key, 'listed in the manifest but missing from storage');
    else if (size !== f.entry.size) add(f.entry.key, `size ${size} differs from the manifest's ${f.entry.size}`);
    else readable.push(f);
  }
  report.unlisted_files = [...stored.keys()].filter((k) => !seen.has(k)).sort();

  // Consumer-offset captures.
  for (const s of manifest.snapshots) {
    if (!s.consumer_offsets) continue;
    report.consumer_offsets_checked++;
    try {
      if (deep) {
        const doc = JSON.parse((await storage.get(s.consumer_offsets)).toString('utf8')) as { format?: string };
        if (doc.format !== 'kafka-backup/consumer-offsets')
          add(s.consumer_offsets, `unknown format ${String(doc.format)}`);
      } else await storage.stat(s.consumer_offsets);
    } catch (e) {
      if (isNotFound(e)) add(s.consumer_offsets, `consumer offsets of snapshot ${s.id} are missing from storage`);
      else if (e instanceof SyntaxError) add(s.consumer_offsets, `not valid JSON (${e.message})`);
      else if (e instanceof IntegrityError) add(s.consumer_offsets, e.message);
      else throw e;
    }
  }

  if (deep) {
    const found = new Map<string, string[]>();
    await pool(readable, options.concurrency ?? 4, async (f) => {
      let bad: string[];
      try {
        bad = await verifyFile(
          f.entry,
          f.ctx,
          await storage.load(f.entry.key, undefined, { readBytes: VALIDATE_READ_BYTES }),
        );
      } catch (e) {
        if (!isNotFound(e)) throw e;
        bad = ['missing from storage'];
      }
      report.files_read++;
      report.bytes_read += f.entry.size;
      found.set(f.entry.key, bad);
      options.onFile?.(f.entry.key, bad.length === 0);
    });
    // in listing order, whatever order the reads finished in
    for (const f of readable) for (const p of found.get(f.entry.key) ?? []) add(f.entry.key, p);
    // schema ids of records against the snapshots' registry captures (docs/schema-registry.md)
    if (manifest.snapshots.some((s) => s.schema_registry)) {
      const { scanSchemaIds } = await import('../schema-registry/scan.ts');
      const sr = await scanSchemaIds(storage, manifest);
      report.schema_ids = {
        captures_checked: sr.captures_checked,
        records_scanned: sr.records_scanned,
        unknown: sr.findings,
      };
      for (const b of sr.bad_captures) add(b.key, b.problem);
      for (const f of sr.findings)
        add(
          f.file,
          `${f.count} record ${f.part}(s) of ${f.topic}-${f.partition} at offsets ${f.first_offset}..${f.last_offset} carry schema id ${f.id}, which the schema registry capture of snapshot ${f.snapshot} does not hold`,
        );
    }
  }
  return finish(report);
}

interface StateCheck {
  manifest: Manifest | null;
  /** The key coverage problems are reported under (the object that records the state). */
  stateKey: string;
  generations: number;
  checked: number;
}

/** Version 1: the newest generation that decodes; deep mode decodes every generation. */
async function validateV1State(
  storage: StorageBackend,
  backupId: string,
  oldestFirst: number[],
  deep: boolean,
  add: (key: string, problem: string) => void,
): Promise<StateCheck> {
  const generations = [...oldestFirst].reverse();
  let manifest: Manifest | null = null;
  let checked = 0;
  for (const g of generations) {
    if (manifest && !deep) break;
    checked++;
    const r = await readManifest(storage, backupId, g);
    if ('problem' in r) add(keys.manifest(backupId, g), r.problem);
    else manifest ??= r.manifest;
  }
  return {
    manifest,
    stateKey: manifest ? keys.manifest(backupId, manifest.generation) : '',
    generations: generations.length,
    checked,
  };
}

/**
 * Version 2: the state as readers open it (head, checkpoint, indexes, chunks checked against
 * their references, the commits after it); deep mode also decodes every metadata object the line
 * holds (every commit since the line began, every checkpoint, index and chunk).
 */
async function validateV2State(
  storage: StorageBackend,
  backupId: string,
  deep: boolean,
  add: (key: string, problem: string) => void,
): Promise<StateCheck> {
  let read: V2Read;
  try {
    read = await readV2(storage, backupId, {});
  } catch (e) {
    if (e instanceof IntegrityError && e.files.length) for (const k of e.files) add(k, e.message);
    else if (e instanceof StateObjectCorrupt) add(e.key, e.message.replace(/^\S+ is corrupt: /, ''));
    else throw e;
    return { manifest: null, stateKey: '', generations: 0, checked: 0 };
  }
  for (const p of read.problems) add(p.key, p.problem.replace(/^\S+ is corrupt: /, ''));
  const seq = read.view.generation;
  let checked = read.tail.length + (read.checkpoint ? 1 : 0);
  if (deep) {
    const kinds: [string, 'commit' | 'checkpoint' | 'index' | 'chunk'][] = [
      [v2keys.logDir(backupId), 'commit'],
      [v2keys.checkpointDir(backupId), 'checkpoint'],
      [`${backupId}/index/`, 'index'],
      [`${backupId}/chunks/`, 'chunk'],
    ];
    // key slots (encrypted lines): signed, so a changed one is found without its key
    for (const d of (await listSlots(storage, backupId)).damaged)
      add(d.key, d.problem.replace(/^\S+ is corrupt: /, ''));
    await checkOtherObjects(storage, backupId, add);
    for (const [prefix, kind] of kinds)
      for await (const o of storage.list(prefix)) {
        if (!o.key.endsWith('.json.zst')) continue;
        checked++;
        try {
          const obj = decodeV2(kind, o.key, await storage.get(o.key), backupId);
          const n = seqOfKey(o.key);
          if ((kind === 'commit' || kind === 'checkpoint') && 'seq' in obj && n !== null && obj.seq !== n)
            add(o.key, `holds number ${obj.seq}, its key says ${n}`);
        } catch (e) {
          if (e instanceof SignedObjectError) add(o.key, e.message.replace(/^\S+ is corrupt: /, ''));
          else if (e instanceof IntegrityError) add(o.key, e.message);
          else if (isNotFound(e)) add(o.key, 'listed but cannot be found');
          else throw e;
        }
      }
  }
  const stateKey = read.tail.length
    ? v2keys.commit(backupId, seq)
    : read.checkpoint
      ? v2keys.checkpoint(backupId, read.checkpoint.seq)
      : v2keys.head(backupId);
  return { manifest: read.view, stateKey, generations: seq, checked };
}

/** Objects validate reads in their own right (state, data, slots) or that are rewritten in place (leases, head). */
const OWN_CHECKS =
  /^[^/]+\/(?:log\/|checkpoints\/|index\/|chunks\/|data\/|keys\/|\.probe\/|head\.json$|lease\.json$|prune-lease\.json$)/;

/**
 * Every other object of the line (consumer-offset captures, maintenance.json, restore and offsets
 * state) is read once: on an encrypted line the storage layer authenticates each one, and a
 * changed one is an IntegrityError naming it.
 */
async function checkOtherObjects(
  storage: StorageBackend,
  backupId: string,
  add: (key: string, problem: string) => void,
): Promise<void> {
  for await (const o of storage.list(`${backupId}/`)) {
    if (OWN_CHECKS.test(o.key)) continue;
    try {
      await storage.get(o.key);
    } catch (e) {
      if (e instanceof IntegrityError) add(o.key, e.message.replace(/^\S+ is corrupt: /, ''));
      else if (!isNotFound(e)) throw e;
    }
  }
}

function finish(r: ValidationReport): ValidationReport {
  r.bad_files = [...new Set(r.problems.map((p) => p.key))];
  r.ok = r.problems.length === 0;
  return r;
}
