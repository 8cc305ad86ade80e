/**
 * Reading a format version 2 line: head → checkpoint → the indexes (and, when files are wanted,
 * the chunks) of the topics in scope → the commits after the checkpoint, probed one by one until
 * the first missing sequence number. The log is never listed, so opening costs a bounded number
 * of reads however old the line is (docs/format.md, "Opening a line").
 */
import { isNotFound } from '../errors.ts';
import {
  type Checkpoint,
  type Chunk,
  type ChunkRef,
  type Commit,
  chunkKey,
  decodeV2,
  digestOfV2,
  seqOfKey,
  type TopicIndex,
  v2keys,
} from '../format/line-v2.ts';
import type { Manifest, PartitionState, TopicState } from '../format/manifest.ts';
import { SignedObjectError } from '../format/signed.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { applyCommit, emptyView, type LoadScope, MaintenanceConflict, wants, wantsFiles } from './state.ts';

/** What a v2 read found: the view, and the pieces a writer continues from. */
/** Commits read at once after the checkpoint. */
const PROBE_BATCH = 16;

export interface V2Read {
  view: Manifest;
  checkpoint: Checkpoint | null;
  /** Topic indexes of the checkpoint that were read, by key. */
  indexes: Map<string, TopicIndex>;
  /** Commits after the checkpoint, in order. */
  tail: Commit[];
  /** Sizes in bytes of those commits (the writer's consolidation policy counts them). */
  tailBytes: number;
  /** Digest of the newest object of the state (last commit, else the checkpoint). */
  digest: string;
  /** Objects read to open the line. */
  objectsRead: number;
  /** Damaged objects skipped on the way (a damaged head or newest checkpoint), with the problem. */
  problems: { key: string; problem: string }[];
}

export class StateObjectCorrupt extends Error {
  readonly key: string;
  constructor(e: SignedObjectError) {
    super(e.message);
    this.key = e.key;
  }
}

async function getOrNull(storage: StorageBackend, key: string): Promise<Buffer | null> {
  try {
    return await storage.get(key);
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

/** Checkpoint sequence numbers in storage, newest first (used only when the head is missing or damaged). */
export async function listCheckpoints(storage: StorageBackend, backupId: string): Promise<number[]> {
  const out: number[] = [];
  for await (const o of storage.list(v2keys.checkpointDir(backupId))) {
    const s = seqOfKey(o.key);
    if (s !== null) out.push(s);
  }
  return out.sort((a, b) => b - a);
}

export async function readV2(storage: StorageBackend, backupId: string, scope: LoadScope): Promise<V2Read> {
  const problems: V2Read['problems'] = [];
  let objectsRead = 0;
  const get = async (key: string) => {
    objectsRead++;
    return getOrNull(storage, key);
  };

  // 1. The checkpoint the head points at; a damaged head or checkpoint falls back to listing.
  const headKey = v2keys.head(backupId);
  const headBytes = await get(headKey);
  let candidates: number[] = [];
  if (headBytes) {
    try {
      candidates = [decodeV2('head', headKey, headBytes, backupId).checkpoint];
    } catch (e) {
      if (!(e instanceof SignedObjectError)) throw e;
      problems.push({ key: headKey, problem: e.message });
    }
  }
  const tryCheckpoints = async (seqs: number[]): Promise<{ checkpoint: Checkpoint; bytes: Buffer } | null> => {
    for (const seq of seqs) {
      const key = v2keys.checkpoint(backupId, seq);
      const bytes = await get(key);
      if (!bytes) {
        problems.push({ key, problem: 'the head points at it but it cannot be found' });
        continue;
      }
      try {
        return { checkpoint: decodeV2('checkpoint', key, bytes, backupId), bytes };
      } catch (e) {
        if (!(e instanceof SignedObjectError)) throw e;
        problems.push({ key, problem: e.message });
      }
    }
    return null;
  };
  // No usable head: the newest readable checkpoint (one listing of checkpoints/, which prune keeps short).
  const found =
    (await tryCheckpoints(candidates)) ??
    (await tryCheckpoints((await listCheckpoints(storage, backupId)).filter((s) => !candidates.includes(s))));
  const checkpoint = found?.checkpoint ?? null;
  const checkpointBytes = found?.bytes ?? null;

  // 2. The view as of the checkpoint, for the topics in scope.
  const view = emptyView(backupId);
  const indexes = new Map<string, TopicIndex>();
  if (checkpoint) {
    view.generation = checkpoint.seq;
    view.created_at = checkpoint.state_at;
    view.writer = checkpoint.writer;
    view.source = checkpoint.source;
    view.snapshots = checkpoint.snapshots.map(({ topics: _topics, ...s }) => ({ ...s, end_offsets: {} }));
    const loadTopic = async (name: string, indexKey: string, meta: Checkpoint['topics'][string]['meta']) => {
      const index = await readObject(storage, 'index', indexKey, backupId, () => objectsRead++);
      indexes.set(indexKey, index);
      const state: TopicState = { ...meta, partitions: {} };
      for (const [p, pi] of Object.entries(index.partitions)) {
        const ps: PartitionState = { start_offset: pi.start_offset, next_offset: pi.next_offset, files: [], gaps: [] };
        if (pi.leader_epoch !== undefined) ps.leader_epoch = pi.leader_epoch;
        if (wantsFiles(scope, name, Number(p)))
          for (const ref of pi.chunks) {
            const key = chunkKey(backupId, name, meta.topic_id, Number(p), ref);
            const chunk: Chunk = await readObject(storage, 'chunk', key, backupId, () => objectsRead++);
            const wrong = chunkMismatch(chunk, ref, name, Number(p));
            if (wrong) throw new StateObjectCorrupt(new SignedObjectError(key, wrong));
            ps.files.push(...chunk.files);
            ps.gaps.push(...chunk.gaps);
          }
        state.partitions[p] = ps;
      }
      for (const [sid, ends] of Object.entries(index.snapshot_ends)) {
        const s = view.snapshots.find((x) => x.id === sid);
        if (s) s.end_offsets[name] = { ...(s.end_offsets[name] ?? {}), ...ends };
      }
      return state;
    };
    for (const r of checkpoint.retired_topics) {
      if (!wants(scope, r.name)) continue;
      const { index, meta, ...retirement } = r;
      view.retired_topics.push({ ...retirement, state: await loadTopic(r.name, index, meta) });
    }
    for (const [name, t] of Object.entries(checkpoint.topics))
      if (wants(scope, name)) view.topics[name] = await loadTopic(name, t.index, t.meta);
  }

  // 3. The commits after it.
  const tail: Commit[] = [];
  let tailBytes = 0;
  let digest =
    checkpointBytes && checkpoint
      ? (digestOfV2(v2keys.checkpoint(backupId, checkpoint.seq), checkpointBytes) ?? '')
      : '';
  // Probed PROBE_BATCH at a time: an object store answers each read in tens of milliseconds.
  let seq = (checkpoint?.seq ?? 0) + 1;
  for (let more = true; more; ) {
    const batch = await Promise.all(
      Array.from({ length: PROBE_BATCH }, (_, i) => get(v2keys.commit(backupId, seq + i))),
    );
    for (const bytes of batch) {
      if (!bytes) {
        more = false;
        break;
      }
      const key = v2keys.commit(backupId, seq);
      let c: Commit;
      try {
        c = decodeV2('commit', key, bytes, backupId);
      } catch (e) {
        if (e instanceof SignedObjectError) throw new StateObjectCorrupt(e);
        throw e;
      }
      if (c.seq !== seq) throw new StateObjectCorrupt(new SignedObjectError(key, `holds commit ${c.seq}`));
      try {
        applyCommit(view, c, scope);
      } catch (e) {
        if (e instanceof MaintenanceConflict) throw new StateObjectCorrupt(new SignedObjectError(key, e.message));
        throw e;
      }
      tail.push(c);
      tailBytes += bytes.length;
      digest = digestOfV2(key, bytes) ?? digest;
      seq++;
    }
  }
  return { view, checkpoint, indexes, tail, tailBytes, digest, objectsRead, problems };
}

/** Why a chunk does not match the reference to it, or null when it does. */
export function chunkMismatch(c: Chunk, ref: ChunkRef, topic: string, partition: number): string | null {
  if (c.topic !== topic || c.partition !== partition)
    return `holds ${c.topic}-${c.partition}, not ${topic}-${partition}`;
  if (c.from !== ref.from || c.to !== ref.to || c.level !== ref.level)
    return `covers [${c.from}, ${c.to}) at level ${c.level}, the index says [${ref.from}, ${ref.to}) at level ${ref.level}`;
  const records = c.files.reduce((n, f) => n + f.records, 0);
  if (c.files.length !== ref.files || records !== ref.records || c.gaps.length !== ref.gaps)
    return `lists ${c.files.length} files, ${records} records, ${c.gaps.length} gaps; the index says ${ref.files}, ${ref.records}, ${ref.gaps}`;
  return null;
}

async function readObject<K extends 'index' | 'chunk'>(
  storage: StorageBackend,
  kind: K,
  key: string,
  backupId: string,
  count: () => void,
) {
  count();
  let bytes: Buffer;
  try {
    bytes = await storage.get(key);
  } catch (e) {
    if (isNotFound(e))
      throw new StateObjectCorrupt(new SignedObjectError(key, 'is referenced by the checkpoint but missing'));
    throw e;
  }
  try {
    return decodeV2(kind, key, bytes, backupId);
  } catch (e) {
    if (e instanceof SignedObjectError) throw new StateObjectCorrupt(e);
    throw e;
  }
}
