/**
 * A backup line in a storage location: its manifest generations and its writer lease.
 *
 * Generations are written create-if-absent and never overwritten, so two writers can never
 * both commit generation N: the loser learns it was fenced and stops. The lease makes a second
 * writer fail fast with a clear message instead of racing; a writer whose lease expired (stalled
 * or dead) is taken over, and its next commit is fenced by the generation it no longer owns.
 */
import { hostname } from 'node:os';
import { IntegrityError, isAlreadyExists, isNotFound, UsageError } from '../errors.ts';
import {
  decodeManifest,
  encodeManifest,
  generationOfKey,
  keys,
  type Manifest,
  ManifestCorruptError,
} from '../format/manifest.ts';
import type { StorageBackend } from '../storage/backend.ts';

export interface Lease {
  run_id: string;
  host: string;
  pid: number;
  acquired_at: string;
  expires_at: string;
}

export class FencedError extends UsageError {}

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

export class BackupLine {
  readonly storage: StorageBackend;
  readonly backupId: string;
  private lease: Lease | null = null;

  constructor(storage: StorageBackend, backupId: string) {
    this.storage = storage;
    this.backupId = backupId;
  }

  async generations(): Promise<number[]> {
    const out: number[] = [];
    for await (const o of this.storage.list(keys.manifestDir(this.backupId))) {
      const g = generationOfKey(o.key);
      if (g !== null) out.push(g);
    }
    return out.sort((a, b) => a - b);
  }

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

  /** The newest generation, or null when the line has none. A corrupt newest generation is an error. */
  async latest(): Promise<Manifest | null> {
    const gens = await this.generations();
    const g = gens[gens.length - 1];
    return g === undefined ? null : this.read(g);
  }

  /** Writes `m` as generation m.generation; fails with FencedError if another writer took it. */
  async commit(m: Manifest): Promise<void> {
    const key = keys.manifest(this.backupId, m.generation);
    try {
      await this.storage.put(key, encodeManifest(m), { ifAbsent: true });
    } catch (e) {
      if (isAlreadyExists(e))
        throw new FencedError(
          `another writer committed generation ${m.generation} of backup line ${this.backupId} first; this run stops without writing`,
          {
            hint: 'only one backup run may write a backup line at a time; check for another running backup with the same backup_id',
          },
        );
      throw e;
    }
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
    const m = /^([^/]+)\/manifests\/\d{10}\.json$/.exec(o.key);
    if (m) ids.add(m[1]!);
  }
  return [...ids].sort();
}

/** Opens an existing line for reading, or fails listing the lines that exist. */
export async function openExistingLine(
  storage: StorageBackend,
  backupId: string,
): Promise<{ line: BackupLine; manifest: Manifest }> {
  const line = new BackupLine(storage, backupId);
  const manifest = await line.latest();
  if (!manifest) {
    const lines = await listLines(storage);
    throw new UsageError(`no backup '${backupId}' in ${storage.location}`, {
      hint: lines.length
        ? `backups there: ${lines.join(', ')}`
        : 'that location holds no backup yet; check the path or URL',
      code: 'UNKNOWN_BACKUP',
    });
  }
  return { line, manifest };
}
