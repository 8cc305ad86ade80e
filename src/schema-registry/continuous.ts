/**
 * Registry captures during a continuous run (docs/schema-registry.md "Continuous backups").
 *
 * Correctness: a checkpoint that lists new data files captures after those files were taken
 * from the writers and before the commit. Every record in them was produced, hence its schema
 * registered, before it was read, so the capture holds its id. A checkpoint that lists no new
 * file needs no capture; one every `capture_interval_secs` still refreshes the settings.
 *
 * Cost: versions are immutable once registered, so a capture between full ones asks only
 * `GET /subjects` and `GET /subjects/{s}/versions` per selected subject (twice each with
 * include_deleted), plus the versions not seen before; a full capture (every interval) reads
 * everything again. An unchanged state writes no object: the previous reference is kept, with
 * its coverage moved up.
 *
 * A registry that cannot be read: the data is committed anyway with the previous reference,
 * whose `covers` then stays behind the snapshot's end offsets (the truth: later records may use
 * ids it lacks); a warning is logged and the capture is tried again after the interval.
 */
import type { Snapshot } from '../format/manifest.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { logger } from '../util/log.ts';
import { type CaptureOptions, captureRegistry } from './capture.ts';
import type { RegistryClient } from './client.ts';
import { stateDigest, writeCapture } from './store.ts';
import type { CapturedVersion, CaptureRef, RegistryCapture } from './types.ts';

const log = logger('schema-registry');

export interface CaptureSource {
  client: () => RegistryClient;
  subjects?: string[] | undefined;
  includeDeleted: boolean;
  context: string;
  intervalSecs: number;
}

export interface CapturePoint {
  snapshotId: string;
  topics: string[];
  endOffsets: Snapshot['end_offsets'];
}

export interface CaptureStats {
  captures: number;
  /** Captures whose state differed from the previous one: objects written. */
  written: number;
  failures: number;
}

const copyOffsets = (o: Snapshot['end_offsets']) =>
  Object.fromEntries(Object.entries(o).map(([t, ps]) => [t, { ...ps }]));

export class RegistryCapturer {
  readonly stats: CaptureStats = { captures: 0, written: 0, failures: 0 };
  private readonly versions = new Map<string, Omit<CapturedVersion, 'deleted'>>();
  private last: { capture: RegistryCapture; digest: string; ref: CaptureRef } | null = null;
  private lastFull = 0;
  private lastAttempt = 0;
  private failing = false;
  /** The reference last given to the engine (JSON), to tell whether a capture adds anything. */
  private returned = '';

  private readonly source: CaptureSource;
  private readonly storage: StorageBackend;
  private readonly backupId: string;
  constructor(source: CaptureSource, storage: StorageBackend, backupId: string) {
    this.source = source;
    this.storage = storage;
    this.backupId = backupId;
  }

  /**
   * At a continuous checkpoint, before its commit. `listing`: the commit lists data files not
   * listed before; `committing`: it commits anyway. Returns the reference to record, or
   * undefined to keep the snapshot's (then nothing needs committing on its account).
   */
  async atCheckpoint(
    p: CapturePoint & { listing: boolean; committing: boolean },
  ): Promise<Pick<Snapshot, 'schema_registry'> | undefined> {
    const now = Date.now();
    const interval = this.source.intervalSecs * 1000;
    // after a failure, wait the interval before asking the registry again
    if (this.failing && now - this.lastAttempt < interval) return undefined;
    if (!p.listing && !this.failing && now - this.lastFull < interval) return undefined;
    try {
      const before = this.returned;
      const got = await this.capture(p);
      // a checkpoint with nothing else to commit commits only a capture that says something new
      if (!p.committing && JSON.stringify(got.schema_registry) === before) return undefined;
      return got;
    } catch (e) {
      this.stats.failures++;
      if (!this.failing)
        log.warn('schema registry capture failed; the data is committed with the previous capture, tried again later', {
          error: e,
          retry_in_secs: this.source.intervalSecs,
        });
      this.failing = true;
      return undefined;
    }
  }

  /** The capture before the snapshot's final commit: a failure is the caller's (the run fails). */
  async capture(p: CapturePoint): Promise<Pick<Snapshot, 'schema_registry'>> {
    const now = Date.now();
    this.lastAttempt = now;
    const full = now - this.lastFull >= this.source.intervalSecs * 1000;
    // a full capture re-reads versions too (a hard-deleted subject may be registered anew)
    if (full) this.versions.clear();
    const o: CaptureOptions = {
      topics: p.topics,
      subjects: this.source.subjects,
      includeDeleted: this.source.includeDeleted,
      context: this.source.context,
      snapshotId: p.snapshotId,
      versionCache: this.versions,
      settingsFrom: full || this.last?.capture.snapshot_id !== p.snapshotId ? undefined : this.last.capture,
    };
    const client = this.source.client();
    let capture: RegistryCapture;
    try {
      capture = await captureRegistry(client, o);
    } finally {
      client.close();
    }
    this.stats.captures++;
    if (full) this.lastFull = now;
    if (this.failing) log.info('schema registry capture works again', { failures: this.stats.failures });
    this.failing = false;
    const digest = stateDigest(capture);
    let ref: CaptureRef;
    if (this.last && this.last.digest === digest) ref = this.last.ref;
    else {
      ref = await writeCapture(this.storage, this.backupId, capture);
      this.stats.written++;
      log.info('schema registry captured', { key: ref.key, subjects: ref.subjects, schemas: ref.schemas });
    }
    this.last = { capture, digest, ref };
    const out = { ...ref, covers: copyOffsets(p.endOffsets) };
    this.returned = JSON.stringify(out);
    return { schema_registry: out };
  }
}
