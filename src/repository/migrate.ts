/**
 * Converting a version 1 line (whole-state manifest generations) to version 2: the pieces that
 * need no I/O. BackupLine.migrate writes them.
 *
 * The newest version 1 state becomes the first checkpoint, built by the same consolidation a
 * writer uses from commits that are never stored: one per retired topic incarnation (created,
 * then retired, in order) and one for the current topics and the snapshots.
 */
import { type Commit, LINE_V2, type PartitionChange } from '../format/line-v2.ts';
import type { Manifest, Snapshot, TopicState } from '../format/manifest.ts';
import { decodeSigned, encodeSigned } from '../format/signed.ts';
import { topicOf } from '../inspect/summary.ts';
import { metaOf } from './state.ts';

/** The generation a migration adds to manifests/: version 2, so version 1 tools refuse the line. */
export interface V1Marker {
  format: 'kafka-backup/manifest';
  version: 2;
  backup_id: string;
  generation: number;
  from_generation: number;
  created_at: string;
  note: string;
}

export function encodeMarkerBytes(m: V1Marker): Buffer {
  return encodeSigned(m, 1);
}

/** The marker in these bytes, or null when they are something else (a version 1 manifest). */
export function v1Marker(bytes: Buffer | null): V1Marker | null {
  if (!bytes) return null;
  try {
    const m = decodeSigned<Partial<V1Marker>>('marker', bytes);
    return m.format === 'kafka-backup/manifest' && m.version === 2 && typeof m.from_generation === 'number'
      ? (m as V1Marker)
      : null;
  } catch {
    return null;
  }
}

function partitionsOf(t: TopicState): Record<string, PartitionChange> {
  const out: Record<string, PartitionChange> = {};
  for (const [p, ps] of Object.entries(t.partitions))
    out[p] = { start_offset: ps.start_offset, next_offset: ps.next_offset, files: ps.files, gaps: ps.gaps };
  return out;
}

/** Commits that rebuild `v1` from nothing (all with v1's generation + 1; never stored). */
export function migrationCommits(v1: Manifest): Commit[] {
  const seq = v1.generation + 1;
  const base = (): Commit => ({
    format: 'kafka-backup/commit',
    version: LINE_V2,
    backup_id: v1.backup_id,
    seq,
    created_at: v1.created_at,
    writer: v1.writer,
  });
  // Which incarnation each snapshot's end offsets of a topic refer to (the rule `describe` uses).
  const endsFor = (state: TopicState, name: string): Snapshot[] =>
    v1.snapshots
      .filter((s) => s.end_offsets[name] && topicOf(v1, name, s) === state)
      .map((s) => ({ ...s, end_offsets: { [name]: s.end_offsets[name]! } }));
  // the snapshots first, in their order; their end offsets follow with each incarnation
  const commits: Commit[] = [{ ...base(), snapshots: v1.snapshots.map((s) => ({ ...s, end_offsets: {} })) }];
  for (const r of v1.retired_topics ?? []) {
    const { state, ...retirement } = r;
    if (!state) continue;
    commits.push({
      ...base(),
      topics: { [r.name]: metaOf(state) },
      partitions: { [r.name]: partitionsOf(state) },
      snapshots: endsFor(state, r.name),
    });
    commits.push({ ...base(), retire: [retirement] });
  }
  const current: Commit = { ...base(), source: v1.source, topics: {}, partitions: {}, snapshots: [] };
  for (const [name, t] of Object.entries(v1.topics)) {
    current.topics![name] = metaOf(t);
    current.partitions![name] = partitionsOf(t);
  }
  for (const s of v1.snapshots) {
    const end_offsets: Snapshot['end_offsets'] = {};
    for (const [name, ends] of Object.entries(s.end_offsets)) {
      const t = v1.topics[name];
      if (t && topicOf(v1, name, s) === t) end_offsets[name] = ends;
    }
    current.snapshots!.push({ ...s, end_offsets });
  }
  commits.push(current);
  return commits;
}
