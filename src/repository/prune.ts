/**
 * prune: repacks small files, then deletes what no state references (src/repository/prune-plan.ts
 * decides). The order makes every moment safe to kill (docs/retention.md, "Crash safety"):
 *
 *   1. write each repacked file (new key; an encrypted line's blocks are sealed again under the
 *      new file's own key), read it back end to end with validate --deep's checks;
 *   2. one maintenance commit replaces the old entries by the new ones, and is consolidated;
 *   3. only then plan the deletions from the state as it now is, and delete: data files first,
 *      then superseded checkpoints, indexes, chunks, commits, captures.
 *
 * A kill before 2 leaves unlisted files, which the next prune deletes; after 2, the old files are
 * unreferenced and the next prune deletes them. Deleting is the only destructive step and the last.
 */

import { blockOpener, type EncryptionStep } from '../crypto/blocks.ts';
import { isNotFound } from '../errors.ts';
import { chunkKey, decodeV2, seqOfKey, v2keys } from '../format/line-v2.ts';
import { type FileEntry, keys } from '../format/manifest.ts';
import { BLOCK_AAD_BYTES, type BlockIndexEntry, type SegmentHeader, SegmentWriter } from '../format/segment.ts';
import { verifyFile } from '../inspect/verify.ts';
import type { IncompleteWrite, ObjectInfo, StorageBackend } from '../storage/backend.ts';
import { logger } from '../util/log.ts';
import { openForMaintenance } from './forget.ts';
import { MaintenanceRace } from './line.ts';
import { releasedOf } from './line-figures.ts';
import {
  type Deletion,
  KEEP_CHECKPOINTS,
  mergedEntry,
  planDeletions,
  planIncomplete,
  planRepack,
  type Reachable,
  type RepackGroup,
} from './prune-plan.ts';
import { stallAt } from './test-hooks.ts';
import type { V2Read } from './v2-read.ts';

const log = logger('prune');

export interface PruneOptions {
  graceMs: number;
  repack: boolean;
  /** Largest repacked file (stored bytes). */
  targetBytes: number;
  dryRun: boolean;
  writer: { run_id: string; host: string; pid: number; tool_version: string };
}

export interface PruneReport {
  backup_id: string;
  location: string;
  dry_run: boolean;
  repack: {
    topic: string;
    partition: number;
    files: number;
    bytes: number;
    first_offset: number;
    last_offset: number;
    into: string | null;
  }[];
  repacked_files: number;
  repacked_into: number;
  seq: number | null;
  deleted: { key: string; size: number; why: Deletion['why'] }[];
  deleted_objects: number;
  deleted_bytes: number;
  /** Unreferenced objects left because they are younger than the grace period. */
  kept_young: number;
  /** Data files the state had released when the deletions were planned (index summaries; null: not known). */
  released: { files: number; bytes: number } | null;
  problems: string[];
}

/** Tests: stops for good at a named step, so a kill -9 lands exactly there (KB_TEST_STALL_AT). */
const stall = (point: string) => stallAt('prune', point);

async function listAll(storage: StorageBackend, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of storage.list(prefix)) out.push(o);
  return out;
}

/** The backend's incomplete writes under `prefix` (none for a backend without such leftovers). */
async function listIncomplete(storage: StorageBackend, prefix: string): Promise<IncompleteWrite[]> {
  const out: IncompleteWrite[] = [];
  if (storage.listIncomplete) for await (const w of storage.listIncomplete(prefix)) out.push(w);
  return out;
}

/** The checkpoints kept (the newest KEEP_CHECKPOINTS and the head's) and every index and chunk they reach. */
async function reachable(
  storage: StorageBackend,
  backupId: string,
  read: V2Read,
  listing: ObjectInfo[],
): Promise<Reachable> {
  const seqs = listing
    .map((o) => (o.key.startsWith(v2keys.checkpointDir(backupId)) ? seqOfKey(o.key) : null))
    .filter((s): s is number => s !== null)
    .sort((a, b) => b - a);
  const kept = new Set(seqs.slice(0, KEEP_CHECKPOINTS));
  if (read.checkpoint) kept.add(read.checkpoint.seq);
  const head = await storage.get(v2keys.head(backupId)).catch(() => null);
  if (head)
    try {
      kept.add(decodeV2('head', v2keys.head(backupId), head, backupId).checkpoint);
    } catch {
      // a damaged head: readers list checkpoints/, which keeps the newest
    }
  const reached = new Set<string>();
  for (const seq of kept) {
    const key = v2keys.checkpoint(backupId, seq);
    let bytes: Buffer;
    try {
      bytes = await storage.get(key);
    } catch (e) {
      if (isNotFound(e)) continue;
      throw e;
    }
    const cp = decodeV2('checkpoint', key, bytes, backupId);
    const indexes = [
      ...Object.entries(cp.topics).map(([name, t]) => ({ name, index: t.index, topicId: t.meta.topic_id })),
      ...cp.retired_topics.map((r) => ({ name: r.name, index: r.index, topicId: r.meta.topic_id })),
    ];
    for (const { name, index, topicId } of indexes) {
      reached.add(index);
      const ix = decodeV2('index', index, await storage.get(index), backupId);
      for (const [p, pi] of Object.entries(ix.partitions))
        for (const ref of pi.chunks) reached.add(chunkKey(backupId, name, topicId, Number(p), ref));
    }
  }
  return { checkpoints: kept, keys: reached, newestCheckpoint: Math.max(0, ...kept) };
}

/** Reads a data file's stored blocks (verified by the caller first) and its header. */
function storedBlocks(bytes: Buffer): { header: SegmentHeader; blocks: (BlockIndexEntry & { stored: Buffer })[] } {
  const hlen = bytes.readUInt32BE(8);
  const header = JSON.parse(bytes.subarray(12, 12 + hlen).toString('utf8')) as SegmentHeader;
  const footerPos = Number(bytes.readBigUInt64BE(bytes.length - 16));
  const flen = bytes.readUInt32BE(footerPos + 4);
  const footer = JSON.parse(bytes.subarray(footerPos + 8, footerPos + 8 + flen).toString('utf8')) as {
    blocks: BlockIndexEntry[];
  };
  return {
    header,
    blocks: footer.blocks.map((b) => ({
      ...b,
      stored: bytes.subarray(b.position + 64, b.position + 64 + b.storedLength),
    })),
  };
}

async function* once(b: Buffer): AsyncIterable<Buffer> {
  yield b;
}

/** The compression steps of a codec chain: what two files must share to be merged. */
function compressionOf(h: SegmentHeader): SegmentHeader['codec_chain'] {
  return h.codec_chain.filter((s) => s.type !== 'encryption');
}

/**
 * Writes one repacked file for a group: the compressed blocks of its files copied as they are (no
 * recompression), in order; then reads it back and verifies it. Returns the entries it replaces
 * and its own, or null when the group cannot be merged (files of different codecs, or a source
 * file that fails verification: that one is for validate to report, not for prune to hide).
 *
 * Encrypted files: a sealed block is bound to its file's key and position, so each block is
 * opened with its source file's key and sealed again by the new file's writer, under a key of its
 * own (a fresh salt: no key and nonce is ever used twice) and at its new position. The master key
 * is the line's active one. The compressed bytes stay as they were.
 */
async function repackGroup(
  storage: StorageBackend,
  backupId: string,
  g: RepackGroup,
  o: PruneOptions,
  n: number,
  problems: string[],
): Promise<FileEntry | null> {
  const ctx = { backup_id: backupId, topic: g.topic, topic_id: g.topic_id, partition: g.partition };
  const first = g.files[0]!;
  const key = keys.dataFile(backupId, g.topic, g.partition, first.first_offset, o.writer.run_id, n);
  let writer: SegmentWriter | null = null;
  let chain = '';
  try {
    for (const f of g.files) {
      const bytes = await storage.get(f.key);
      const bad = await verifyFile(f, ctx, once(bytes));
      if (bad.length) {
        problems.push(`${f.key}: not repacked, it fails verification (${bad[0]})`);
        await writer?.abort();
        return null;
      }
      const { header, blocks } = storedBlocks(bytes);
      const encryption = header.codec_chain.find((s): s is EncryptionStep => s.type === 'encryption');
      const c = JSON.stringify(compressionOf(header));
      if (!writer) {
        chain = c;
        writer = new SegmentWriter(
          await storage.openWriter(key),
          key,
          {
            ...header,
            codec_chain: compressionOf(header),
            run_id: o.writer.run_id,
            created_at: new Date().toISOString(),
          },
          first.sha256 ? 'sha256' : 'crc32c',
        );
      } else if (c !== chain) {
        log.info('files of different codecs are not repacked together', { first: first.key, other: f.key });
        await writer.abort();
        return null;
      }
      if (encryption && !writer.encrypted) {
        // never write what was sealed in clear: the storage did not hand over the line's key
        problems.push(`${f.key}: not repacked, it is encrypted and the storage gives no key to seal the new file`);
        await writer.abort();
        return null;
      }
      const opener = encryption ? blockOpener(f.key, encryption) : null;
      for (const [i, b] of blocks.entries()) {
        const compressed = opener
          ? opener.open(i, b.stored, bytes.subarray(b.position, b.position + BLOCK_AAD_BYTES))
          : b.stored;
        await writer.appendCompressed(compressed, b.rawLength, b);
        await stall('repack-writing');
      }
    }
    const s = await writer!.finish();
    const entry: FileEntry = {
      key,
      size: s.size,
      [s.checksum.kind]: s.checksum.value,
      run_id: o.writer.run_id,
      ...mergedEntry(g.files),
      created_at: new Date().toISOString(),
    } as FileEntry;
    await stall('repacked');
    const bad = await verifyFile(entry, ctx, await storage.load(key));
    if (bad.length) {
      problems.push(`${key}: the repacked file fails verification (${bad.join('; ')}); the old files stay`);
      await storage.delete(key);
      return null;
    }
    return entry;
  } catch (e) {
    await writer?.abort().catch(() => undefined);
    throw e;
  }
}

export async function prune(storage: StorageBackend, backupId: string, o: PruneOptions): Promise<PruneReport> {
  const report: PruneReport = {
    backup_id: backupId,
    location: storage.location,
    dry_run: o.dryRun,
    repack: [],
    repacked_files: 0,
    repacked_into: 0,
    seq: null,
    deleted: [],
    deleted_objects: 0,
    deleted_bytes: 0,
    kept_young: 0,
    released: null,
    problems: [],
  };
  await stall('started');

  // 1-2. Repack and commit the replacement; a commit that loses its number plans again.
  if (o.repack)
    for (let attempt = 0; ; attempt++) {
      const { line, view, read } = await openForMaintenance(storage, backupId);
      const groups = planRepack(view, o.targetBytes);
      report.repack = groups.map((g) => ({
        topic: g.topic,
        partition: g.partition,
        files: g.files.length,
        bytes: g.bytes,
        first_offset: g.files[0]!.first_offset,
        last_offset: g.files.at(-1)!.last_offset,
        into: null,
      }));
      if (o.dryRun || groups.length === 0) break;
      const replace: Record<string, Record<string, { remove: string[]; add: FileEntry }[]>> = {};
      const written: string[] = [];
      for (const [i, g] of groups.entries()) {
        const entry = await repackGroup(storage, backupId, g, o, attempt * 100_000 + i, report.problems);
        if (!entry) continue;
        written.push(entry.key);
        report.repack[i]!.into = entry.key;
        ((replace[g.topic] ??= {})[String(g.partition)] ??= []).push({ remove: g.files.map((f) => f.key), add: entry });
      }
      if (written.length === 0) break;
      try {
        const c = await line.commitMaintenance(
          read!,
          { maintenance: { op: 'prune', detail: { repacked: written.length } }, replace },
          o.writer,
        );
        report.seq = c.seq;
        report.repacked_into = written.length;
        report.repacked_files = report.repack.filter((r) => r.into).reduce((n, r) => n + r.files, 0);
        await stall('committed');
        break;
      } catch (e) {
        // our new files are unlisted: drop them and plan again from the new state
        for (const k of written) await storage.delete(k).catch(() => undefined);
        if (!(e instanceof MaintenanceRace) || attempt >= 20) throw e;
      }
    }

  // 3. Deletions, planned from the state after the commit.
  const { view, read } = await openForMaintenance(storage, backupId);
  const listing = await listAll(storage, `${backupId}/`);
  const reach = await reachable(storage, backupId, read!, listing);
  report.released = releasedOf(read!);
  const now = Date.now();
  const { deletions, young } = planDeletions(backupId, view, listing, reach, now, o.graceMs);
  const leftovers = planIncomplete(await listIncomplete(storage, `${backupId}/`), now, o.graceMs);
  deletions.push(...leftovers.deletions);
  if (o.dryRun) {
    // what the repack would make unreferenced is freed too
    for (const g of planRepack(view, o.targetBytes))
      for (const f of g.files) deletions.push({ key: f.key, size: f.size, why: 'unreferenced data file' });
  }
  report.kept_young = young + leftovers.young;
  const order: Deletion['why'][] = [
    'incomplete write',
    'unreferenced data file',
    'superseded checkpoint',
    'unreachable index',
    'unreachable chunk',
    'superseded commit',
    'capture of a forgotten snapshot',
    'superseded capture',
  ];
  deletions.sort((a, b) => order.indexOf(a.why) - order.indexOf(b.why) || (a.key < b.key ? -1 : 1));
  report.deleted = deletions.map((d) => ({ key: d.key, size: d.size, why: d.why }));
  report.deleted_objects = deletions.length;
  report.deleted_bytes = deletions.reduce((n, d) => n + d.size, 0);
  if (o.dryRun) return report;
  for (const [i, d] of deletions.entries()) {
    if (d.write) await storage.abortIncomplete!(d.write);
    else await storage.delete(d.key);
    if (i === 0) await stall('deleting');
    // between the data files and the metadata objects
    if (d.why === 'unreferenced data file' && deletions[i + 1]?.why !== d.why) await stall('deleted-data');
  }
  return report;
}
