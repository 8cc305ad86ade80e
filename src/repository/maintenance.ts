/**
 * What forget and prune share: their lease (`<id>/prune-lease.json`), the record of their last
 * runs (`<id>/maintenance.json`, read by status, list, describe and metrics), and the identity
 * they commit under.
 *
 * The lease is created create-if-absent, so of two maintenance runs started together exactly one
 * gets it; it does not exclude a backup run, whose commits race with maintenance commits through
 * the commit numbers (BackupLine.commit absorbs a maintenance commit). A lease whose holder died
 * (same host, pid gone) or expired is taken over.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { isAlreadyExists, isNotFound, UsageError } from '../errors.ts';
import type { Manifest } from '../format/manifest.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { VERSION } from '../version.ts';
import type { Lease } from './line.ts';

export const maintenanceKeys = {
  lease: (id: string) => `${id}/prune-lease.json`,
  record: (id: string) => `${id}/maintenance.json`,
};

export const MAINTENANCE_LEASE_TTL_MS = 120_000;

export function maintenanceWriter(op: string): Manifest['writer'] {
  return {
    run_id: `${op}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`,
    host: hostname(),
    pid: process.pid,
    tool_version: VERSION,
  };
}

function holderIsGone(l: Lease): boolean {
  if (Date.parse(l.expires_at) <= Date.now()) return true;
  if (l.host !== hostname()) return false;
  try {
    process.kill(l.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export class MaintenanceLease {
  private timer: NodeJS.Timeout | undefined;
  private readonly storage: StorageBackend;
  private readonly backupId: string;
  private lease: Lease;
  private constructor(storage: StorageBackend, backupId: string, lease: Lease) {
    this.storage = storage;
    this.backupId = backupId;
    this.lease = lease;
  }

  /** Takes the maintenance lease or fails with a UsageError (exit 2) naming the holder. */
  static async acquire(
    storage: StorageBackend,
    backupId: string,
    runId: string,
    what: string,
  ): Promise<MaintenanceLease> {
    const key = maintenanceKeys.lease(backupId);
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = Date.now();
      const lease: Lease = {
        run_id: runId,
        host: hostname(),
        pid: process.pid,
        acquired_at: new Date(now).toISOString(),
        expires_at: new Date(now + MAINTENANCE_LEASE_TTL_MS).toISOString(),
      };
      try {
        await storage.put(key, Buffer.from(JSON.stringify(lease)), { ifAbsent: true });
        const held = new MaintenanceLease(storage, backupId, lease);
        held.timer = setInterval(() => void held.renew().catch(() => undefined), MAINTENANCE_LEASE_TTL_MS / 4);
        held.timer.unref();
        return held;
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
      }
      const current = await readLease(storage, key);
      if (current && !holderIsGone(current))
        throw new UsageError(
          `${what} of backup line ${backupId} refused: run ${current.run_id} (host ${current.host}, pid ${current.pid}) holds the maintenance lease until ${current.expires_at}`,
          {
            hint: 'only one forget or prune may run on a line at a time; wait for it to finish (a dead one is taken over when its lease expires)',
            code: 'LEASE_HELD',
          },
        );
      // dead or expired (or unreadable): take it over
      await storage.delete(key);
    }
    throw new UsageError(`could not take the maintenance lease of ${backupId}: another run keeps taking it`, {
      code: 'LEASE_HELD',
    });
  }

  private async renew(): Promise<void> {
    this.lease = { ...this.lease, expires_at: new Date(Date.now() + MAINTENANCE_LEASE_TTL_MS).toISOString() };
    await this.storage.put(maintenanceKeys.lease(this.backupId), Buffer.from(JSON.stringify(this.lease)));
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    const key = maintenanceKeys.lease(this.backupId);
    const current = await readLease(this.storage, key).catch(() => null);
    if (current?.run_id === this.lease.run_id) await this.storage.delete(key);
  }
}

async function readLease(storage: StorageBackend, key: string): Promise<Lease | null> {
  try {
    return JSON.parse((await storage.get(key)).toString('utf8')) as Lease;
  } catch (e) {
    if (isNotFound(e) || e instanceof SyntaxError) return null;
    throw e;
  }
}

/** The last forget and prune of a line, as status and describe show them. */
export interface MaintenanceRecord {
  last_forget?: { at: string; run_id: string; forgotten: string[]; dropped_bytes: number; seq: number | null };
  last_prune?: {
    at: string;
    run_id: string;
    deleted_objects: number;
    deleted_bytes: number;
    repacked_files: number;
    repacked_into: number;
    seq: number | null;
    /** The state's released data files (index summaries) when it planned: status counts what was released since. */
    released?: { files: number; bytes: number };
  };
}

export async function readMaintenance(storage: StorageBackend, backupId: string): Promise<MaintenanceRecord> {
  try {
    return JSON.parse((await storage.get(maintenanceKeys.record(backupId))).toString('utf8')) as MaintenanceRecord;
  } catch (e) {
    if (isNotFound(e) || e instanceof SyntaxError) return {};
    throw e;
  }
}

/** Merges `update` into the record (informational, overwritten: the commits stay the truth). */
export async function writeMaintenance(
  storage: StorageBackend,
  backupId: string,
  update: MaintenanceRecord,
): Promise<void> {
  const current = await readMaintenance(storage, backupId);
  await storage.put(maintenanceKeys.record(backupId), Buffer.from(JSON.stringify({ ...current, ...update }, null, 2)));
}
