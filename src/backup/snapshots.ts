/**
 * Snapshot records a backup run creates (pure). A continuous run normally keeps one snapshot whose
 * end offsets advance; when a followed topic is re-created under its name, the snapshot is ended
 * there (it holds the old incarnation) and a successor holds the new one, so that no snapshot
 * mixes two histories of one topic name.
 */
import type { Snapshot } from '../format/manifest.ts';

/** `20250101T000000Z-<last 6 of the run id>`, with `-2`, `-3`… when a snapshot of that second exists. */
export function snapshotId(at: Date, runId: string, taken: readonly Snapshot[]): string {
  const base = `${at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${runId.slice(-6)}`;
  const ids = new Set(taken.map((s) => s.id));
  let id = base;
  for (let n = 2; ids.has(id); n++) id = `${base}-${n}`;
  return id;
}

/**
 * Ends `current` (complete as of its last committed end offsets) and returns its successor: the
 * same run, mode and tags, the end offsets of every other topic, and none yet of `topic`, whose
 * new incarnation `topicId` starts a new history.
 */
export function successorSnapshot(
  current: Snapshot,
  topic: string,
  topicId: string,
  at: Date,
  taken: readonly Snapshot[],
): Snapshot {
  current.state = 'complete';
  current.finished_at = at.toISOString();
  delete current.pending;
  const end_offsets = structuredClone(current.end_offsets);
  delete end_offsets[topic];
  return {
    id: snapshotId(at, current.run_id, taken),
    run_id: current.run_id,
    mode: current.mode,
    state: 'in-progress',
    started_at: at.toISOString(),
    end_offsets,
    topic_ids: { ...current.topic_ids, [topic]: topicId },
    ...(current.tags ? { tags: [...current.tags] } : {}),
  };
}
