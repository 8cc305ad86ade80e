/**
 * The source → target schema id map applied to one restored topic: which ids change, what an id
 * missing from the captured state does (fail or pass through), and counts for the result.
 */
import { IntegrityError } from '../errors.ts';
import { schemaIdOf, writeSchemaId } from './wire.ts';

export type OnUnknownId = 'fail' | 'pass_through';

export interface RewriteCounts {
  /** Keys and values whose id was changed. */
  rewritten: number;
  /** Keys and values in the wire format whose id was not in the captured state, per id. */
  unknown: Record<string, number>;
}

export class UnknownSchemaIdError extends IntegrityError {}

export const noCounts = (): RewriteCounts => ({ rewritten: 0, unknown: {} });

/** Adds b's counts to a. */
export function addCounts(a: RewriteCounts, b: RewriteCounts): void {
  a.rewritten += b.rewritten;
  for (const [id, n] of Object.entries(b.unknown)) a.unknown[id] = (a.unknown[id] ?? 0) + n;
}

/**
 * One restore job's rewriter (a job runs its records in order, so what `patch` counted since the
 * last `take` belongs to the records patched in between). Counts are of records produced: the
 * engine takes what a batch's patches counted and confirms it when the broker acknowledged the
 * batch, so a batch sent again after a produce failure, or a record patched only to compare it
 * with what a previous run restored, is not counted twice.
 */
export class SchemaIdRewriter {
  /** Confirmed: keys and values of acknowledged batches. */
  readonly counts: RewriteCounts = noCounts();
  private open: RewriteCounts = noCounts();
  /** True when no id changes: with pass_through nothing needs to be looked at. */
  readonly identity: boolean;
  /** Every id of the captured state, mapped to its id on the target. */
  private readonly map: ReadonlyMap<number, number>;
  readonly onUnknown: OnUnknownId;
  constructor(map: ReadonlyMap<number, number>, onUnknown: OnUnknownId) {
    this.map = map;
    this.onUnknown = onUnknown;
    let same = true;
    for (const [s, t] of map) if (s !== t) same = false;
    this.identity = same;
  }

  /** Nothing to do for this topic's batches: the raw batch goes out as stored. */
  get skip(): boolean {
    return this.identity && this.onUnknown === 'pass_through';
  }

  /**
   * Rewrites the id of the key or value at b[at, at+len) in place when it is in the wire format;
   * returns true when a byte changed. `where` names the record for an unknown-id failure.
   */
  patch(b: Uint8Array, at: number, len: number, where: () => string): boolean {
    const id = schemaIdOf(b, at, len);
    if (id < 0) return false;
    const to = this.map.get(id);
    if (to === undefined) {
      this.open.unknown[id] = (this.open.unknown[id] ?? 0) + 1;
      if (this.onUnknown === 'fail')
        throw new UnknownSchemaIdError(
          `${where()} carries schema id ${id}, which the snapshot's schema registry capture does not hold`,
          [],
          {
            hint: "run 'kafka-backup validate --deep' to list every such record; set restore.schema_registry.on_unknown_id: pass_through to restore them unchanged",
          },
        );
      return false;
    }
    if (to === id) return false;
    writeSchemaId(b, at, to);
    this.open.rewritten++;
    return true;
  }

  /** What was patched since the last take (to confirm once those records are produced, or drop). */
  take(): RewriteCounts {
    const t = this.open;
    this.open = noCounts();
    return t;
  }

  /** The records t counted were acknowledged by the broker. */
  confirm(t: RewriteCounts): void {
    addCounts(this.counts, t);
  }
}
