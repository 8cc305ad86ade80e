/**
 * Offset translation (pure): where a committed source offset lands in the restored data.
 *
 * The exact rule, per source partition: the target offset of the first restored record whose
 * source offset is >= the committed offset O; when no restored record is at or after O, the last
 * restored target offset + 1; when O is before every restored record, the first restored
 * target offset (a special case of the first rule). A committed offset is "the next record to
 * read", so the group resumes at exactly the first restored record it had not consumed: nothing
 * skipped, nothing repeated, whatever gaps (compaction, aborted transactions, control markers,
 * retention, windows) lie between.
 *
 * Input are the runs of the offset mapping artifact (src/restore/offset-map.ts), or runs built
 * from the original-offset headers of the target records (same shape).
 */
import { compilePattern } from '../backup/topic-patterns.ts';
import { UsageError } from '../errors.ts';
import type { MappingRun } from '../restore/offset-map.ts';

/** How a translated offset was found. */
export type ExactRule =
  /** O is the source offset of a restored record. */
  | 'record'
  /** O falls in a gap (compaction, aborted transaction, marker, window): the next restored record. */
  | 'next-record'
  /** O is before every restored record of the partition: the first restored record. */
  | 'before-first'
  /** Every restored record is before O: right after the last restored record. */
  | 'after-last';

export interface LaneTranslation {
  offset: number;
  rule: ExactRule;
}

/** The runs of one source partition on one target partition, in source offset order. */
export interface Lane {
  sourcePartition: number;
  targetPartition: number;
  runs: MappingRun[];
  /** Last restored target offset + 1. */
  end: number;
  records: number;
}

/** Exact translation within one lane (runs sorted by source offset, not overlapping). Binary search. */
export function translateInLane(lane: Lane, committed: number): LaneTranslation {
  const runs = lane.runs;
  let lo = 0;
  let hi = runs.length;
  // first run whose last source offset is >= committed
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const [, s, , n] = runs[mid]!;
    if (s + n - 1 < committed) lo = mid + 1;
    else hi = mid;
  }
  const run = runs[lo];
  if (!run) return { offset: lane.end, rule: 'after-last' };
  const [, s, t] = run;
  if (committed > s) return { offset: t + (committed - s), rule: 'record' };
  if (committed === s) return { offset: t, rule: 'record' };
  return { offset: t, rule: lo === 0 ? 'before-first' : 'next-record' };
}

/**
 * The runs of one target topic (mapping artifact `partitions`: target partition -> runs), indexed
 * by source partition.
 */
export class TopicRunIndex {
  private readonly lanesBySource = new Map<number, Lane[]>();
  private readonly sourcesByTarget = new Map<number, Set<number>>();

  constructor(partitions: Record<string, MappingRun[]>) {
    const lanes = new Map<string, Lane>();
    for (const [tpKey, runs] of Object.entries(partitions)) {
      const tp = Number(tpKey);
      for (const run of runs) {
        if (run[3] <= 0) continue;
        const key = `${run[0]}:${tp}`;
        let lane = lanes.get(key);
        if (!lane) {
          lane = { sourcePartition: run[0], targetPartition: tp, runs: [], end: 0, records: 0 };
          lanes.set(key, lane);
        }
        lane.runs.push(run);
      }
    }
    for (const lane of lanes.values()) {
      lane.runs.sort((a, b) => a[1] - b[1]);
      lane.end = lane.runs.reduce((m, r) => Math.max(m, r[2] + r[3]), 0);
      lane.records = lane.runs.reduce((s, r) => s + r[3], 0);
      const list = this.lanesBySource.get(lane.sourcePartition) ?? [];
      list.push(lane);
      this.lanesBySource.set(lane.sourcePartition, list);
      const srcs = this.sourcesByTarget.get(lane.targetPartition) ?? new Set<number>();
      srcs.add(lane.sourcePartition);
      this.sourcesByTarget.set(lane.targetPartition, srcs);
    }
  }

  lanesOf(sourcePartition: number): Lane[] {
    return this.lanesBySource.get(sourcePartition) ?? [];
  }

  sourcesOf(targetPartition: number): number[] {
    return [...(this.sourcesByTarget.get(targetPartition) ?? [])].sort((a, b) => a - b);
  }

  targetPartitions(): number[] {
    return [...this.sourcesByTarget.keys()].sort((a, b) => a - b);
  }

  /** Records of one source partition were spread over several target partitions (restore.repartitioning). */
  get repartitioned(): boolean {
    for (const lanes of this.lanesBySource.values()) if (lanes.length > 1) return true;
    return false;
  }

  /**
   * Exact translation of a committed offset on a source partition, or null when no record of
   * that partition was restored (or it was spread over several target partitions).
   */
  translate(sourcePartition: number, committed: number): (LaneTranslation & { partition: number }) | null {
    const lanes = this.lanesOf(sourcePartition);
    if (lanes.length !== 1) return null;
    const lane = lanes[0]!;
    return { ...translateInLane(lane, committed), partition: lane.targetPartition };
  }
}

/** One committed position of a source partition, translated onto its target partition. */
export interface Candidate {
  sourcePartition: number;
  sourceOffset: number;
  offset: number;
  rule: string;
}

/**
 * Several source partitions can feed one target partition (restore.partition_mapping merging
 * partitions). A target partition has one committed offset, so the earliest candidate wins: no
 * record of any of them is skipped; records of the later ones may be read again.
 */
export function mergeCandidates(cands: Candidate[]): { offset: number; chosen: Candidate; merged: boolean } {
  let chosen = cands[0]!;
  for (const c of cands) if (c.offset < chosen.offset) chosen = c;
  return { offset: chosen.offset, chosen, merged: cands.length > 1 };
}

/** Builds runs from (source partition, source offset, target offset) triples in target order (header scan). */
export class RunCollector {
  private readonly byTarget = new Map<number, MappingRun[]>();

  add(targetPartition: number, sourcePartition: number, sourceOffset: number, targetOffset: number): void {
    let runs = this.byTarget.get(targetPartition);
    if (!runs) {
      runs = [];
      this.byTarget.set(targetPartition, runs);
    }
    const last = runs[runs.length - 1];
    if (
      last &&
      last[0] === sourcePartition &&
      last[1] + last[3] === sourceOffset &&
      last[2] + last[3] === targetOffset
    ) {
      last[3]++;
      return;
    }
    runs.push([sourcePartition, sourceOffset, targetOffset, 1]);
  }

  partitions(): Record<string, MappingRun[]> {
    return Object.fromEntries([...this.byTarget].map(([p, r]) => [String(p), r]));
  }
}

/** Parses a decimal header value (UTF-8), or null when it is not a non-negative integer. */
export function parseDecimalHeader(value: Buffer | null | undefined): number | null {
  if (!value || value.length === 0 || value.length > 19) return null;
  const s = value.toString('utf8');
  if (!/^\d+$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

// ---------------------------------------------------------------------------------------------
// groups: selection by names and patterns, renaming

export function isPattern(p: string): boolean {
  return p.startsWith('~') || /[*?]/.test(p);
}

export interface GroupSelection {
  /** Source groups selected, sorted. */
  selected: string[];
  /** Named groups (not patterns) that do not exist. */
  unknown: string[];
  /** Patterns that matched no group. */
  unmatched: string[];
}

/** Groups by names and patterns (globs `*` `?`, or `~regex`), same rules as topic patterns. */
export function selectGroups(all: Iterable<string>, patterns: string[]): GroupSelection {
  const names = [...new Set(all)].sort();
  const pats = patterns.length ? patterns : ['*'];
  const selected = new Set<string>();
  const unknown: string[] = [];
  const unmatched: string[] = [];
  for (const p of pats) {
    if (!isPattern(p)) {
      if (names.includes(p)) selected.add(p);
      else unknown.push(p);
      continue;
    }
    let re: RegExp;
    try {
      re = compilePattern(p);
    } catch (e) {
      throw new UsageError(`group pattern ${p} is not a valid regular expression: ${(e as Error).message}`, {
        hint: 'regex patterns start with ~ and use JavaScript syntax, e.g. "~^billing-.*"',
      });
    }
    const hits = names.filter((n) => re.test(n));
    if (hits.length === 0) unmatched.push(p);
    for (const h of hits) selected.add(h);
  }
  return { selected: [...selected].sort(), unknown, unmatched };
}

/** Target group names; fails when two selected source groups would end up as one target group. */
export function mapGroups(selected: string[], mapping: Record<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  const seen = new Map<string, string>();
  for (const g of selected) {
    const target = mapping[g] ?? g;
    const other = seen.get(target);
    if (other !== undefined)
      throw new UsageError(`source groups '${other}' and '${g}' would both be moved to target group '${target}'`, {
        hint: 'map each source group to its own target group in restore.group_mapping (or --group-mapping), or select only one of them',
      });
    seen.set(target, g);
    out.set(g, target);
  }
  return out;
}

/** Parses `a=b,c=d` (CLI group mapping). */
export function parseMappingList(text: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0 || i === part.length - 1)
      throw new UsageError(`${what}: '${part}' is not of the form source=target`, { hint: 'e.g. billing=billing-dr' });
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// captures: which one a restore uses

export interface CaptureRef {
  key: string;
  snapshotId: string;
  /** Epoch ms. */
  capturedAt: number;
}

/** Parses a capture key `<backup>/consumer-offsets/<snapshot>/<YYYY-MM-DDTHHMMSSmmmZ>.json`. */
export function parseCaptureKey(key: string): CaptureRef | null {
  const m = /\/consumer-offsets\/([^/]+)\/(\d{4}-\d{2}-\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z\.json$/.exec(key);
  if (!m) return null;
  const at = Date.parse(`${m[2]}T${m[3]}:${m[4]}:${m[5]}.${m[6]}Z`);
  if (Number.isNaN(at)) return null;
  return { key, snapshotId: m[1]!, capturedAt: at };
}

export interface CaptureChoice {
  capture: CaptureRef;
  note?: string;
}

/**
 * The capture a restore uses: the newest one taken at or before `cutoff` (the point in time or
 * the time-window end) among the captures of the restored snapshot and the snapshots before it;
 * without a cutoff, the snapshot's own capture (its newest). When every eligible capture is after
 * the cutoff, the earliest one after it: groups positioned past the restored data then resume
 * right after the last restored record. Null when there is none at all.
 */
export function chooseCapture(
  captures: CaptureRef[],
  snapshotOrder: string[],
  snapshotId: string,
  cutoff: number | undefined,
  snapshotOwnKey?: string,
): CaptureChoice | null {
  const idx = snapshotOrder.indexOf(snapshotId);
  const eligible = captures
    .filter((c) => {
      const i = snapshotOrder.indexOf(c.snapshotId);
      return i >= 0 && idx >= 0 && i <= idx;
    })
    .sort((a, b) => a.capturedAt - b.capturedAt || a.key.localeCompare(b.key));
  if (cutoff === undefined) {
    const own = eligible.filter((c) => c.snapshotId === snapshotId);
    const pick =
      (snapshotOwnKey ? own.find((c) => c.key === snapshotOwnKey) : undefined) ?? own[own.length - 1] ?? undefined;
    if (pick) return { capture: pick };
    const older = eligible[eligible.length - 1];
    if (!older) return null;
    return {
      capture: older,
      note: `snapshot ${snapshotId} has no captured offsets; using the capture of snapshot ${older.snapshotId} (${new Date(older.capturedAt).toISOString()})`,
    };
  }
  const before = eligible.filter((c) => c.capturedAt <= cutoff);
  const pick = before[before.length - 1];
  if (pick) return { capture: pick };
  const after = eligible[0];
  if (!after) return null;
  return {
    capture: after,
    note: `no capture at or before ${new Date(cutoff).toISOString()}; using the capture of ${new Date(after.capturedAt).toISOString()}: groups positioned after the restored data resume right after the last restored record`,
  };
}
