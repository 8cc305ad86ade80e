/**
 * A backup line in a storage location: its state (format version 2: commits and checkpoints;
 * version 1 lines are read, and converted by migrate or by the first write), and its writer lease.
 *
 * Commits are written create-if-absent with consecutive sequence numbers, so two writers can
 * never both commit number N: the loser learns it was fenced and stops. The lease makes a second
 * writer fail fast with a clear message instead of racing; a writer whose lease expired (stalled
 * or dead) is taken over, and its next commit is fenced by the number it no longer owns.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { IntegrityError, isAlreadyExists, isNotFound, UsageError } from '../errors.ts';
import { type Commit, decodeV2, digestOfV2, encodeV2, LINE_V2, type TopicIndex, v2keys } from '../format/line-v2.ts';
import {
  decodeManifest,
  encodeManifest,
  generationOfKey,
  keys,
  type Manifest,
  ManifestCorruptError,
} from '../format/manifest.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { logger } from '../util/log.ts';
import { type ConsolidationBase, consolidate } from './consolidate.ts';
import { ObjectTakenError, putImmutable } from './immutable.ts';
import { encodeMarkerBytes, migrationCommits, type V1Marker, v1Marker } from './migrate.ts';
import { type Additions, applyCommit, CommittedState, isEmptyChange, type LoadScope } from './state.ts';
import { readV2, StateObjectCorrupt, type V2Read } from './v2-read.ts';

const log = logger('repository');

export interface Lease {
  run_id: string;
  host: string;
  pid: number;
  acquired_at: string;
  expires_at: string;
}

export class FencedError extends UsageError {}

/** A maintenance commit lost its number to another commit; plan again from the new state. */
export class MaintenanceRace extends Error {
  readonly seq: number;
  constructor(seq: number) {
    super(`commit number ${seq} was taken by another writer`);
    this.seq = seq;
  }
}

/**
 * A lease held by a process of this host that no longer exists (kill -9, OOM kill) is stale at
 * once: the same command can resume without waiting for the lease to expire. A holder on another
 * host is only known dead when its lease expires.
 */
function holderIsGone(lease: Lease): boolean {
  if (lease.host !== hostname()) return false;
  try {
    process.kill(lease.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** When the writer folds its commits into a checkpoint (whichever comes first). */
export interface ConsolidationPolicy {
  commits: number;
  bytes: number;
}

export const DEFAULT_CONSOLIDATION: ConsolidationPolicy = { commits: 200, bytes: 4 * 1024 * 1024 };

export type LineFormat = { version: 1; generations: number[] } | { version: 2; migratedFrom?: V1Marker } | null;

export interface OpenedLine {
  view: Manifest;
  version: 1 | 2;
  /** Identifies the state read: v1 the SHA-256 of the re-encoded manifest, v2 the newest commit's (or checkpoint's) digest. */
  digest: string;
  /** v2 only: what the read found (a writer continues from it). */
  read?: V2Read;
}

export class BackupLine {
  readonly storage: StorageBackend;
  readonly backupId: string;
  private lease: Lease | null = null;
  private readonly policy: ConsolidationPolicy;
  /** Writer state (v2): set by openForWrite. */
  private committed: CommittedState | null = null;
  private seq = 0;
  private base: ConsolidationBase = { checkpoint: null, indexes: new Map<string, TopicIndex>() };
  private tail: Commit[] = [];
  private tailBytes = 0;
  /** Bytes and objects written by this writer, commits and consolidations (metrics, the benchmark). */
  readonly written = { commits: 0, commitBytes: 0, consolidations: 0, consolidationBytes: 0, lastCommitBytes: 0 };

  constructor(storage: StorageBackend, backupId: string, policy: ConsolidationPolicy = DEFAULT_CONSOLIDATION) {
    this.storage = storage;
    this.backupId = backupId;
    this.policy = policy;
  }

  /** Version 1 generations (manifests/), oldest first. */
  async generations(): Promise<number[]> {
    const out: number[] = [];
    for await (const o of this.storage.list(keys.manifestDir(this.backupId))) {
      const g = generationOfKey(o.key);
      if (g !== null) out.push(g);
    }
    return out.sort((a, b) => a - b);
  }

  /** Which format the line is in, or null when there is no line. */
  async format(): Promise<LineFormat> {
    if (await this.exists(v2keys.head(this.backupId))) return { version: 2 };
    const gens = await this.generations();
    const newest = gens.at(-1);
    if (newest !== undefined) {
      const marker = v1Marker(await this.storage.get(keys.manifest(this.backupId, newest)).catch(() => null));
      return marker ? { version: 2, migratedFrom: marker } : { version: 1, generations: gens };
    }
    if (await this.exists(v2keys.commit(this.backupId, 1))) return { version: 2 };
    return null;
  }

  private async exists(key: string): Promise<boolean> {
    try {
      await this.storage.stat(key);
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /** A version 1 generation. */
  async read(generation: number): Promise<Manifest> {
    const key = keys.manifest(this.backupId, generation);
    const bytes = await this.storage.get(key);
    try {
      return decodeManifest(key, bytes);
    } catch (e) {
      if (e instanceof ManifestCorruptError)
        throw new IntegrityError(e.message, [key], {
          hint: 'the manifest was changed or damaged after it was written; restore it from a copy of the storage, or run validate to see what else is affected',
        });
      throw e;
    }
  }

  /** The line's current state, limited to `scope`; null when the line does not exist. */
  async open(scope: LoadScope = {}): Promise<OpenedLine | null> {
    const format = await this.format();
    if (!format) return null;
    if (format.version === 1) {
      const view = await this.read(format.generations.at(-1)!);
      return { view, version: 1, digest: sha256OfManifest(view) };
    }
    let read: V2Read;
    try {
      read = await readV2(this.storage, this.backupId, scope);
    } catch (e) {
      if (e instanceof StateObjectCorrupt)
        throw new IntegrityError(e.message, [e.key], {
          hint: 'a metadata object of the line was changed or damaged after it was written; run validate to see what is affected, and restore the object from a copy of the storage',
        });
      throw e;
    }
    if (!read.checkpoint && read.tail.length === 0 && format.migratedFrom) {
      // a migration that stopped before its checkpoint: the version 1 state still stands
      const view = await this.read(format.migratedFrom.from_generation);
      log.warn(
        'this backup line was being migrated to format version 2 when that stopped; reading its version 1 state',
        {
          backup_id: this.backupId,
          hint: 'run kafka-backup migrate to finish it',
        },
      );
      return { view, version: 1, digest: sha256OfManifest(view) };
    }
    if (!read.checkpoint && read.tail.length === 0)
      throw new IntegrityError(
        `backup line ${this.backupId} has a head but no readable checkpoint or commit`,
        [v2keys.head(this.backupId)],
        {
          hint: 'run validate --deep to see what is damaged',
        },
      );
    return { view: read.view, version: 2, digest: read.digest, read };
  }

  /** The newest state (all of it), or null when the line has none. A damaged state is an IntegrityError. */
  async latest(): Promise<Manifest | null> {
    return (await this.open())?.view ?? null;
  }

  /**
   * Opens the line for writing: offsets and metadata of every topic, not the file lists. A
   * version 1 line is migrated first (data files are not touched). Null for a new line.
   */
  async openForWrite(writer: Manifest['writer']): Promise<Manifest | null> {
    let opened = await this.open({ files: false });
    if (opened?.version === 1) {
      log.info('converting the backup line to format version 2 (data files stay as they are)', {
        backup_id: this.backupId,
      });
      await this.migrate(writer);
      opened = await this.open({ files: false });
    }
    const read = opened?.read;
    this.seq = opened?.view.generation ?? 0;
    this.base = { checkpoint: read?.checkpoint ?? null, indexes: read?.indexes ?? new Map() };
    this.tail = read?.tail ?? [];
    this.tailBytes = read?.tailBytes ?? 0;
    this.committed = new CommittedState(opened?.view);
    return opened?.view ?? null;
  }

  /**
   * Commits what changed since the last commit: `view` is the writer's current state (offsets
   * and metadata), `added` the files and gaps completed since. Sets view.generation. Fails with
   * FencedError when another writer took the sequence number.
   */
  async commit(view: Manifest, added: Additions = new Map()): Promise<void> {
    if (!this.committed) throw new Error('internal: commit() before openForWrite()');
    const change = this.committed.diff(view, added);
    const seq = this.seq + 1;
    const c: Commit = {
      format: 'kafka-backup/commit',
      version: LINE_V2,
      backup_id: this.backupId,
      seq,
      created_at: new Date().toISOString(),
      writer: view.writer,
      ...change,
    };
    const bytes = encodeV2(c);
    try {
      await putImmutable(this.storage, v2keys.commit(this.backupId, seq), bytes);
    } catch (e) {
      if (!(e instanceof ObjectTakenError || isAlreadyExists(e))) throw e;
      // forget, prune or retention of another process may take a number; another backup may not
      await this.absorbMaintenance(view, seq);
      return this.commit(view, added);
    }
    this.seq = seq;
    view.generation = seq;
    view.created_at = c.created_at;
    this.committed.record(view);
    this.tail.push(c);
    this.tailBytes += bytes.length;
    this.written.commits++;
    this.written.commitBytes += bytes.length;
    this.written.lastCommitBytes = bytes.length;
    if (isEmptyChange(change)) log.debug('commit without changes', { seq });
    if (this.tail.length >= this.policy.commits || this.tailBytes >= this.policy.bytes) await this.consolidateNow(view);
  }

  /**
   * Another process committed `from` (and maybe more) first. Maintenance commits (forget, prune,
   * retention) only forget snapshots, drop prefixes and replace files, which is disjoint from what
   * a writer appends: the writer takes them into its state and retries at the next number. Any
   * other commit means another backup writes the line, and this one is fenced.
   */
  private async absorbMaintenance(view: Manifest, from: number): Promise<void> {
    const fenced = (why: string) =>
      new FencedError(
        `another writer committed number ${from} of backup line ${this.backupId} first (${why}); this run stops without writing`,
        {
          hint: 'only one backup run may write a backup line at a time; check for another running backup with the same backup_id',
        },
      );
    const read = await readV2(this.storage, this.backupId, { files: false });
    const missed: Commit[] = [];
    for (let seq = from; seq <= read.view.generation; seq++) {
      const key = v2keys.commit(this.backupId, seq);
      const bytes = await this.storage.get(key).catch((e) => {
        if (isNotFound(e)) return null;
        throw e;
      });
      // folded into a checkpoint and pruned already: what it did cannot be told any more
      if (!bytes) throw fenced(`commit ${seq} cannot be read`);
      const c = decodeV2('commit', key, bytes, this.backupId);
      if (!c.maintenance) throw fenced(`commit ${seq} was written by run ${c.writer.run_id}`);
      missed.push(c);
    }
    if (missed.length === 0) throw fenced('the commit cannot be read back');
    const writer = view.writer;
    for (const c of missed) applyCommit(view, c, { files: false });
    view.writer = writer;
    this.seq = read.view.generation;
    this.base = { checkpoint: read.checkpoint, indexes: read.indexes };
    this.tail = read.tail;
    this.tailBytes = read.tailBytes;
    this.committed = new CommittedState(read.view);
    log.info('took in maintenance commits written while this run was writing', {
      from,
      to: read.view.generation,
      ops: missed.map((c) => c.maintenance!.op).join(','),
    });
  }

  /**
   * Writes a maintenance commit (forget, prune, retention) after the state `read`, then folds it
   * into a checkpoint so the objects it made unreachable can be pruned. Throws MaintenanceRace
   * when another commit took the number: the caller plans again from the new state.
   */
  async commitMaintenance(
    read: V2Read,
    body: Pick<Commit, 'maintenance' | 'forget' | 'drop' | 'replace'>,
    writer: Manifest['writer'],
  ): Promise<Commit> {
    const seq = read.view.generation + 1;
    const c: Commit = {
      format: 'kafka-backup/commit',
      version: LINE_V2,
      backup_id: this.backupId,
      seq,
      created_at: new Date().toISOString(),
      writer,
      ...body,
    };
    try {
      await putImmutable(this.storage, v2keys.commit(this.backupId, seq), encodeV2(c));
    } catch (e) {
      if (e instanceof ObjectTakenError || isAlreadyExists(e)) throw new MaintenanceRace(seq);
      throw e;
    }
    try {
      await consolidate(
        this.storage,
        this.backupId,
        { checkpoint: read.checkpoint, indexes: read.indexes },
        [...read.tail, c],
        writer,
      );
    } catch (e) {
      // the commit stands; the next writer or maintenance run consolidates
      log.warn('consolidating after the maintenance commit failed; the commit stands', { error: e });
    }
    return c;
  }

  /** Folds the commits since the last checkpoint into a new one. A failure leaves the commits, which stay the truth. */
  async consolidateNow(view: Manifest): Promise<void> {
    if (this.tail.length === 0) return;
    try {
      const r = await consolidate(this.storage, this.backupId, this.base, this.tail, view.writer);
      this.base = { checkpoint: r.checkpoint, indexes: r.indexes };
      this.tail = [];
      this.tailBytes = 0;
      this.written.consolidations++;
      this.written.consolidationBytes += r.bytesWritten;
      log.debug('checkpoint consolidated', { seq: r.checkpoint.seq, objects: r.objectsWritten, bytes: r.bytesWritten });
    } catch (e) {
      log.warn('consolidating the commits into a checkpoint failed; the commits stand and it is tried again later', {
        error: e,
      });
    }
  }

  /**
   * Converts a version 1 line to version 2 without touching data files: a version 1 marker
   * generation first (older tools then refuse the line instead of writing beside it, and a
   * running version 1 writer is fenced), then the checkpoint of the newest version 1 state.
   * Re-running after a crash completes it. Returns the checkpoint's sequence number.
   */
  async migrate(writer: Manifest['writer']): Promise<{ from_generation: number; seq: number; bytes: number }> {
    const format = await this.format();
    if (!format)
      throw new UsageError(`no backup '${this.backupId}' in ${this.storage.location}`, { code: 'UNKNOWN_BACKUP' });
    let from: number;
    if (format.version === 1) {
      from = format.generations.at(-1)!;
      const marker = encodeMarker(this.backupId, from);
      try {
        await putImmutable(this.storage, keys.manifest(this.backupId, from + 1), marker);
      } catch (e) {
        if (e instanceof ObjectTakenError)
          throw new FencedError(
            `a version 1 writer committed generation ${from + 1} of ${this.backupId} while it was being migrated`,
            {
              hint: 'stop the other backup of this line, then run migrate again',
            },
          );
        throw e;
      }
    } else if (format.migratedFrom) from = format.migratedFrom.from_generation;
    else throw new UsageError(`backup line ${this.backupId} is already in format version 2`, { code: 'ALREADY_V2' });
    const v1 = await this.read(from);
    const r = await consolidate(
      this.storage,
      this.backupId,
      { checkpoint: null, indexes: new Map() },
      migrationCommits(v1),
      writer,
      {
        seq: from + 1,
        stateAt: v1.created_at,
        source: v1.source,
      },
    );
    return { from_generation: from, seq: r.checkpoint.seq, bytes: r.bytesWritten };
  }

  /**
   * Whether `digest` identifies a state of this line (OpenedLine.digest): a restore's offset map
   * carries it so that it is never applied to another backup. v2 states are looked up by their
   * number; v1 generations (also those a migrated line keeps) are scanned newest first.
   */
  async knowsDigest(digest: string, seq?: number): Promise<boolean> {
    if (seq !== undefined)
      for (const key of [v2keys.commit(this.backupId, seq), v2keys.checkpoint(this.backupId, seq)]) {
        const bytes = await this.storage.get(key).catch((e) => {
          if (isNotFound(e)) return null;
          throw e;
        });
        if (bytes && digestOfV2(key, bytes) === digest) return true;
      }
    for (const g of (await this.generations()).reverse()) {
      try {
        if (sha256OfManifest(await this.read(g)) === digest) return true;
      } catch {
        // an unreadable generation (or the migration marker) cannot be the one a restore read
      }
    }
    return false;
  }

  async readLease(): Promise<Lease | null> {
    try {
      return JSON.parse((await this.storage.get(keys.lease(this.backupId))).toString('utf8')) as Lease;
    } catch (e) {
      if (isNotFound(e)) return null;
      if (e instanceof SyntaxError) return null;
      throw e;
    }
  }

  /** Takes the writer lease, refusing while another live run holds it. */
  async acquireLease(runId: string, ttlMs: number): Promise<void> {
    const current = await this.readLease();
    if (current && current.run_id !== runId && Date.parse(current.expires_at) > Date.now() && !holderIsGone(current)) {
      throw new UsageError(
        `backup line ${this.backupId} is being written by run ${current.run_id} (host ${current.host}, pid ${current.pid}) until ${current.expires_at}`,
        {
          hint: 'wait for that run to finish; if it died, its lease expires at the time shown and this command can then be run again',
          code: 'LEASE_HELD',
        },
      );
    }
    await this.writeLease(runId, ttlMs);
  }

  async renewLease(ttlMs: number): Promise<void> {
    if (this.lease) await this.writeLease(this.lease.run_id, ttlMs);
  }

  private async writeLease(runId: string, ttlMs: number): Promise<void> {
    const now = Date.now();
    this.lease = {
      run_id: runId,
      host: hostname(),
      pid: process.pid,
      acquired_at: this.lease?.acquired_at ?? new Date(now).toISOString(),
      expires_at: new Date(now + ttlMs).toISOString(),
    };
    await this.storage.put(keys.lease(this.backupId), Buffer.from(JSON.stringify(this.lease)));
  }

  async releaseLease(): Promise<void> {
    if (!this.lease) return;
    const current = await this.readLease().catch(() => null);
    if (current?.run_id === this.lease.run_id) await this.storage.delete(keys.lease(this.backupId));
    this.lease = null;
  }
}

/** Backup lines in a location: every prefix that holds manifest generations. */
export async function listLines(storage: StorageBackend): Promise<string[]> {
  const ids = new Set<string>();
  for await (const o of storage.list('')) {
    const m = /^([^/]+)\/(?:manifests\/\d{10}\.json|head\.json|log\/\d{10}\.json\.zst)$/.exec(o.key);
    if (m) ids.add(m[1]!);
  }
  return [...ids].sort();
}

/** Opens an existing line for reading (limited to `scope`), or fails listing the lines that exist. */
export async function openExistingLine(
  storage: StorageBackend,
  backupId: string,
  scope: LoadScope = {},
): Promise<{ line: BackupLine; manifest: Manifest; opened: OpenedLine }> {
  const line = new BackupLine(storage, backupId);
  const opened = await line.open(scope);
  if (!opened) {
    const lines = await listLines(storage);
    throw new UsageError(`no backup '${backupId}' in ${storage.location}`, {
      hint: lines.length
        ? `backups there: ${lines.join(', ')}`
        : 'that location holds no backup yet; check the path or URL',
      code: 'UNKNOWN_BACKUP',
    });
  }
  return { line, manifest: opened.view, opened };
}

function sha256OfManifest(m: Manifest): string {
  return createHash('sha256').update(encodeManifest(m)).digest('hex');
}

function encodeMarker(backupId: string, from: number): Buffer {
  const marker: V1Marker = {
    format: 'kafka-backup/manifest',
    version: 2,
    backup_id: backupId,
    generation: from + 1,
    from_generation: from,
    created_at: new Date().toISOString(),
    note: 'this line is in format version 2 (head.json, log/, checkpoints/); read it with a kafka-backup release that knows format version 2',
  };
  return encodeMarkerBytes(marker);
}
