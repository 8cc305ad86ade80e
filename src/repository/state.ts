/**
 * The state of a backup line in memory (the `Manifest` view every reader uses), and the pure
 * steps between it and format version 2: applying a commit to a view, and computing the commit
 * that takes the last committed state to a writer's current one. No I/O here.
 */
import type { Commit, PartitionChange, Replacement, SnapshotChange, TopicMeta } from '../format/line-v2.ts';
import type { FileEntry, Gap, Manifest, PartitionState, Snapshot, TopicState } from '../format/manifest.ts';
import { MANIFEST_FORMAT, MANIFEST_VERSION } from '../format/manifest.ts';

/** Which part of a line a reader needs. */
export interface LoadScope {
  /** Topics to load (current and retired, by name); all when absent. */
  topics?: (name: string) => boolean;
  /** Whether to load the file and gap lists (false: offsets and metadata only, for the writer). */
  files?: boolean;
  /** Partitions whose file lists to load (all of the topics in scope when absent); others keep their offsets only. */
  partitions?: (topic: string, partition: number) => boolean;
}

/** Whether the file lists of this partition are wanted. */
export const wantsFiles = (scope: LoadScope, topic: string, partition: number) =>
  scope.files !== false && (!scope.partitions || scope.partitions(topic, partition));

export const wants = (scope: LoadScope, topic: string) => !scope.topics || scope.topics(topic);

export function emptyView(backupId: string): Manifest {
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    backup_id: backupId,
    generation: 0,
    created_at: new Date(0).toISOString(),
    writer: { run_id: '', host: '', pid: 0, tool_version: '' },
    source: { cluster_id: '', bootstrap_servers: [] },
    topics: {},
    snapshots: [],
    retired_topics: [],
  };
}

export function metaOf(t: TopicState): TopicMeta {
  const { partitions: _partitions, ...meta } = t;
  return meta;
}

/** Files and gaps a writer added since its last commit, per topic and partition. */
export type Additions = Map<string, Map<number, { files: FileEntry[]; gaps: Gap[] }>>;

/** Applies one commit to a view (in place). Changes to topics outside the scope are dropped. */
export function applyCommit(view: Manifest, c: Commit, scope: LoadScope): void {
  view.generation = c.seq;
  view.created_at = c.created_at;
  view.writer = c.writer;
  if (c.source) view.source = c.source;
  for (const r of c.retire ?? []) {
    const current = view.topics[r.name];
    if (!wants(scope, r.name)) continue;
    view.retired_topics.push({ ...r, ...(current ? { state: current } : {}) });
    delete view.topics[r.name];
  }
  for (const [name, meta] of Object.entries(c.topics ?? {})) {
    if (!wants(scope, name)) continue;
    const partitions = view.topics[name]?.partitions ?? {};
    view.topics[name] = { ...structuredClone(meta), partitions };
  }
  for (const [name, parts] of Object.entries(c.partitions ?? {})) {
    const t = view.topics[name];
    if (!t) continue;
    for (const [p, ch] of Object.entries(parts)) applyPartition(t, p, ch, wantsFiles(scope, name, Number(p)));
  }
  for (const s of c.snapshots ?? []) applySnapshot(view, s, scope);
  applyMaintenance(view, c, scope);
}

/**
 * The members of forget, prune and retention (docs/format.md, "Maintenance commits"), applied
 * after the others: replacements, then drops, then forgotten snapshots.
 */
function applyMaintenance(view: Manifest, c: Commit, scope: LoadScope): void {
  for (const [name, parts] of Object.entries(c.replace ?? {})) {
    const t = view.topics[name];
    if (!t) continue;
    for (const [p, rs] of Object.entries(parts)) {
      const ps = t.partitions[p];
      if (!ps || !wantsFiles(scope, name, Number(p))) continue;
      for (const r of rs) ps.files = replaceFiles(ps.files, r, `${name}-${p}`);
    }
  }
  for (const [name, parts] of Object.entries(c.drop ?? {})) {
    const t = view.topics[name];
    if (!t) continue;
    for (const [p, d] of Object.entries(parts)) {
      const ps = t.partitions[p];
      if (!ps || !wantsFiles(scope, name, Number(p))) continue;
      Object.assign(ps, dropBelow(ps.start_offset, ps.files, ps.gaps, d.below, `${name}-${p}`));
    }
  }
  if (c.forget?.length) {
    const gone = new Set(c.forget);
    view.snapshots = view.snapshots.filter((s) => !gone.has(s.id));
  }
}

/** A commit's maintenance members do not fit the state they are applied to (a damaged or foreign commit). */
export class MaintenanceConflict extends Error {}

/**
 * The files and gaps of a partition once everything below `below` is dropped: the files and gaps
 * ending at or below it leave, and one `retention-policy` gap [start, below) stands for them
 * (it absorbs an earlier drop's gap), so coverage still tiles [start, next).
 */
export function dropBelow(
  start: number,
  files: FileEntry[],
  gaps: Gap[],
  below: number,
  where = 'partition',
): { files: FileEntry[]; gaps: Gap[] } {
  if (below <= start) return { files, gaps };
  const straddles = [
    ...files.filter((f) => f.first_offset < below && f.last_offset + 1 > below),
    ...gaps.filter((g) => g.start < below && g.end > below),
  ];
  if (straddles.length)
    throw new MaintenanceConflict(`${where}: cannot drop below ${below}, which is inside a file or gap`);
  return {
    files: files.filter((f) => f.first_offset >= below),
    gaps: [{ start, end: below, cause: 'retention-policy' }, ...gaps.filter((g) => g.start >= below)],
  };
}

/** The files of a partition with `r.remove` (consecutive files) replaced by `r.add`, which covers exactly their offsets. */
export function replaceFiles(files: FileEntry[], r: Replacement, where = 'partition'): FileEntry[] {
  const at = files.findIndex((f) => f.key === r.remove[0]);
  const run = at < 0 ? [] : files.slice(at, at + r.remove.length);
  if (run.length !== r.remove.length || run.some((f, i) => f.key !== r.remove[i]))
    throw new MaintenanceConflict(
      `${where}: the files a replacement removes (${r.remove.join(', ')}) are not listed in order`,
    );
  if (run[0]!.first_offset !== r.add.first_offset || run.at(-1)!.last_offset !== r.add.last_offset)
    throw new MaintenanceConflict(
      `${where}: replacement ${r.add.key} covers ${r.add.first_offset}..${r.add.last_offset}, the files it replaces ${run[0]!.first_offset}..${run.at(-1)!.last_offset}`,
    );
  for (let i = 1; i < run.length; i++)
    if (run[i]!.first_offset !== run[i - 1]!.last_offset + 1)
      throw new MaintenanceConflict(`${where}: the files a replacement removes are not contiguous`);
  return [...files.slice(0, at), r.add, ...files.slice(at + run.length)];
}

function applyPartition(t: TopicState, p: string, ch: PartitionChange, files: boolean): void {
  const ps: PartitionState = (t.partitions[p] ??= {
    start_offset: ch.start_offset ?? ch.next_offset,
    next_offset: ch.start_offset ?? ch.next_offset,
    files: [],
    gaps: [],
  });
  if (ch.start_offset !== undefined) ps.start_offset = ch.start_offset;
  ps.next_offset = ch.next_offset;
  if (ch.leader_epoch !== undefined) ps.leader_epoch = ch.leader_epoch;
  if (files) {
    if (ch.files) ps.files.push(...ch.files);
    if (ch.gaps) ps.gaps.push(...ch.gaps);
  }
}

function applySnapshot(view: Manifest, s: SnapshotChange, scope: LoadScope): void {
  let target = view.snapshots.find((x) => x.id === s.id);
  const { end_offsets, ...rest } = s;
  if (!target) {
    target = { ...structuredClone(rest), end_offsets: {} };
    view.snapshots.push(target);
  } else {
    for (const k of Object.keys(target) as (keyof Snapshot)[]) if (k !== 'end_offsets') delete target[k];
    Object.assign(target, structuredClone(rest));
  }
  for (const [topic, ends] of Object.entries(end_offsets ?? {})) {
    if (!wants(scope, topic)) continue;
    Object.assign((target.end_offsets[topic] ??= {}), ends);
  }
}

/**
 * What a writer has committed so far, kept as small comparable pieces, so the next commit
 * carries only what changed: topic metadata, partition offsets, snapshots and their end offsets.
 */
export class CommittedState {
  private readonly meta = new Map<string, string>();
  private readonly offsets = new Map<string, { start: number; next: number; epoch?: number | undefined }>();
  private readonly snapshots = new Map<string, string>();
  private readonly ends = new Map<string, number>();
  private retired = 0;
  private source = '';

  constructor(view?: Manifest) {
    if (view) this.record(view);
  }

  /** The commit body (without seq, writer and times) from the last committed state to `view`. */
  diff(view: Manifest, added: Additions): Pick<Commit, 'source' | 'retire' | 'topics' | 'partitions' | 'snapshots'> {
    const out: Pick<Commit, 'source' | 'retire' | 'topics' | 'partitions' | 'snapshots'> = {};
    if (JSON.stringify(view.source) !== this.source) out.source = view.source;
    const retired = view.retired_topics.slice(this.retired);
    if (retired.length)
      out.retire = retired.map(({ name, topic_id, retired_at, reason }) => ({ name, topic_id, retired_at, reason }));
    const renamed = new Set(retired.map((r) => r.name));
    for (const [name, t] of Object.entries(view.topics)) {
      const meta = metaOf(t);
      // a retired name starts over: its new topic's metadata and partitions are all new
      if (renamed.has(name) || JSON.stringify(meta) !== this.meta.get(name)) (out.topics ??= {})[name] = meta;
      for (const [p, ps] of Object.entries(t.partitions)) {
        const was = renamed.has(name) ? undefined : this.offsets.get(`${name}\0${p}`);
        const add = added.get(name)?.get(Number(p));
        if (
          was &&
          was.next === ps.next_offset &&
          was.start === ps.start_offset &&
          was.epoch === ps.leader_epoch &&
          !add?.files.length &&
          !add?.gaps.length
        )
          continue;
        const ch: PartitionChange = { next_offset: ps.next_offset };
        if (!was || was.start !== ps.start_offset) ch.start_offset = ps.start_offset;
        if (ps.leader_epoch !== undefined && was?.epoch !== ps.leader_epoch) ch.leader_epoch = ps.leader_epoch;
        if (add?.files.length) ch.files = add.files;
        if (add?.gaps.length) ch.gaps = add.gaps;
        ((out.partitions ??= {})[name] ??= {})[p] = ch;
      }
    }
    for (const s of view.snapshots) {
      const { end_offsets, ...rest } = s;
      const changedEnds: Snapshot['end_offsets'] = {};
      let anyEnd = false;
      for (const [topic, ends] of Object.entries(end_offsets))
        for (const [p, end] of Object.entries(ends))
          if (this.ends.get(`${s.id}\0${topic}\0${p}`) !== end || renamed.has(topic)) {
            (changedEnds[topic] ??= {})[p] = end;
            anyEnd = true;
          }
      if (anyEnd || JSON.stringify(rest) !== this.snapshots.get(s.id))
        (out.snapshots ??= []).push({ ...structuredClone(rest), end_offsets: changedEnds });
    }
    return out;
  }

  /** Takes `view` as committed. */
  record(view: Manifest): void {
    this.source = JSON.stringify(view.source);
    this.retired = view.retired_topics.length;
    this.meta.clear();
    this.offsets.clear();
    for (const [name, t] of Object.entries(view.topics)) {
      this.meta.set(name, JSON.stringify(metaOf(t)));
      for (const [p, ps] of Object.entries(t.partitions))
        this.offsets.set(`${name}\0${p}`, { start: ps.start_offset, next: ps.next_offset, epoch: ps.leader_epoch });
    }
    for (const s of view.snapshots) {
      const { end_offsets, ...rest } = s;
      this.snapshots.set(s.id, JSON.stringify(rest));
      for (const [topic, ends] of Object.entries(end_offsets))
        for (const [p, end] of Object.entries(ends)) this.ends.set(`${s.id}\0${topic}\0${p}`, end);
    }
  }
}

/** Whether a commit body changes anything. */
export function isEmptyChange(c: Pick<Commit, 'source' | 'retire' | 'topics' | 'partitions' | 'snapshots'>): boolean {
  return !c.source && !c.retire && !c.topics && !c.partitions && !c.snapshots;
}
