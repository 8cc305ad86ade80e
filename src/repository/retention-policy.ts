/**
 * Which snapshots `forget` keeps, and which offsets a record-time horizon drops: pure decisions,
 * no I/O (docs/retention.md). The keep rules follow restic's `forget` (snapshot_policy.go):
 * snapshots are visited newest first; a bucket rule (hourly, daily, …) keeps the newest snapshot
 * of each of its N most recent non-empty buckets; keep-last treats every snapshot as its own
 * bucket; keep-within keeps what is within the duration of the newest snapshot (not of now, so a
 * line that stopped being written keeps its last snapshots however long ago they were taken);
 * keep-tag keeps every snapshot carrying one of the tags. A snapshot is kept when any rule keeps
 * it. Buckets are in UTC, so the decision does not depend on where forget runs.
 */
import type { FileEntry, Manifest, Snapshot } from '../format/manifest.ts';

export interface KeepPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  /** Keep snapshots taken within this many ms of the newest snapshot. */
  withinMs?: number;
  tags?: string[];
}

export interface PolicySnapshot {
  id: string;
  /** Epoch ms the snapshot stands for. */
  time: number;
  tags?: string[];
}

export interface Decision {
  id: string;
  keep: boolean;
  /** Every rule that keeps it (empty for a removed snapshot). */
  reasons: string[];
}

export const isEmptyPolicy = (p: KeepPolicy) =>
  !p.last && !p.hourly && !p.daily && !p.weekly && !p.monthly && !p.yearly && !p.withinMs && !p.tags?.length;

/** ISO 8601 week-numbering year and week, as restic's weekly bucket (YYYY*100 + week). */
function isoWeek(t: number): number {
  const d = new Date(t);
  const day = (d.getUTCDay() + 6) % 7; // Monday 0
  const thursday = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day + 3);
  const year = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - Date.UTC(year, 0, 1)) / (7 * 86_400_000)) + 1;
  return year * 100 + week;
}

const BUCKETS: { rule: keyof KeepPolicy; reason: string; bucket: (t: number, i: number) => number }[] = [
  { rule: 'last', reason: 'last snapshot', bucket: (_t, i) => i },
  {
    rule: 'hourly',
    reason: 'hourly snapshot',
    bucket: (t) => {
      const d = new Date(t);
      return ((d.getUTCFullYear() * 100 + d.getUTCMonth() + 1) * 100 + d.getUTCDate()) * 100 + d.getUTCHours();
    },
  },
  {
    rule: 'daily',
    reason: 'daily snapshot',
    bucket: (t) => {
      const d = new Date(t);
      return (d.getUTCFullYear() * 100 + d.getUTCMonth() + 1) * 100 + d.getUTCDate();
    },
  },
  { rule: 'weekly', reason: 'weekly snapshot', bucket: (t) => isoWeek(t) },
  {
    rule: 'monthly',
    reason: 'monthly snapshot',
    bucket: (t) => new Date(t).getUTCFullYear() * 100 + new Date(t).getUTCMonth() + 1,
  },
  { rule: 'yearly', reason: 'yearly snapshot', bucket: (t) => new Date(t).getUTCFullYear() },
];

/** Applies a keep policy to snapshots (any order); returns a decision per snapshot, newest first. */
export function applyPolicy(snapshots: PolicySnapshot[], policy: KeepPolicy, withinLabel = ''): Decision[] {
  const list = [...snapshots].sort((a, b) => b.time - a.time || (a.id < b.id ? 1 : -1));
  const newest = list[0]?.time ?? 0;
  const counts = new Map<keyof KeepPolicy, number>();
  const lastBucket = new Map<keyof KeepPolicy, number>();
  for (const b of BUCKETS) counts.set(b.rule, (policy[b.rule] as number | undefined) ?? 0);
  const tags = new Set(policy.tags ?? []);
  return list.map((s, i) => {
    const reasons: string[] = [];
    const tag = s.tags?.find((t) => tags.has(t));
    if (tag !== undefined) reasons.push(`tag ${tag}`);
    if (policy.withinMs !== undefined && policy.withinMs > 0 && s.time > newest - policy.withinMs)
      reasons.push(`within ${withinLabel || `${policy.withinMs} ms`}`);
    for (const b of BUCKETS) {
      const left = counts.get(b.rule)!;
      if (left <= 0) continue;
      const v = b.bucket(s.time, i);
      if (v !== lastBucket.get(b.rule)) {
        reasons.push(b.reason);
        lastBucket.set(b.rule, v);
        counts.set(b.rule, left - 1);
      }
    }
    return { id: s.id, keep: reasons.length > 0, reasons };
  });
}

const UNITS: Record<string, number> = {
  y: 365 * 86_400_000,
  w: 7 * 86_400_000,
  d: 86_400_000,
  h: 3_600_000,
  min: 60_000,
  s: 1000,
};

/**
 * A duration such as `30d`, `12h`, `1y`, `2w3d`, `90min`, `45s` in ms. A year is 365 days; `m`
 * is refused because restic reads it as months and others as minutes.
 */
export function parseDuration(text: string): number {
  const s = text.trim();
  const re = /(\d+)(y|w|d|h|min|s)/gy;
  let total = 0;
  let at = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    at = re.lastIndex;
  }
  if (s.length === 0 || at !== s.length || total <= 0)
    throw new RangeError(
      `"${text}" is not a duration: use a number with y, w, d, h, min or s, e.g. 30d, 12h, 1w3d, 90min`,
    );
  return total;
}

/** The time a snapshot stands for: a snapshot-mode run holds the partitions as of its start, a continuous run as of its end. */
export function snapshotTime(s: Snapshot): number {
  return Date.parse(s.mode === 'continuous' ? (s.finished_at ?? s.started_at) : s.started_at);
}

export interface ForgetPlanEntry {
  id: string;
  state: Snapshot['state'];
  time: string;
  keep: boolean;
  reasons: string[];
}

/**
 * The forget plan over a line's snapshots: complete snapshots go through the policy; others are
 * kept (a failed or interrupted snapshot is evidence of a problem, and an in-progress one may be
 * written right now). The newest complete snapshot is kept unless `forgetNewest`.
 */
export function planForget(
  snapshots: Snapshot[],
  policy: KeepPolicy,
  options: { forgetNewest?: boolean; withinLabel?: string } = {},
): ForgetPlanEntry[] {
  const complete = snapshots.filter((s) => s.state === 'complete');
  const decisions = new Map(
    applyPolicy(
      complete.map((s) => ({ id: s.id, time: snapshotTime(s), ...(s.tags ? { tags: s.tags } : {}) })),
      policy,
      options.withinLabel,
    ).map((d) => [d.id, d]),
  );
  const newest = [...complete].sort((a, b) => snapshotTime(b) - snapshotTime(a))[0];
  return [...snapshots]
    .sort((a, b) => snapshotTime(b) - snapshotTime(a))
    .map((s) => {
      const d = decisions.get(s.id);
      const reasons = d ? [...d.reasons] : [`${s.state} (only complete snapshots are forgotten)`];
      if (d && s === newest && !options.forgetNewest && reasons.length === 0)
        reasons.push('newest complete snapshot (--forget-newest removes it)');
      return {
        id: s.id,
        state: s.state,
        time: new Date(snapshotTime(s)).toISOString(),
        keep: reasons.length > 0,
        reasons,
      };
    });
}

export interface PartitionDrop {
  topic: string;
  partition: number;
  below: number;
  files: FileEntry[];
  bytes: number;
  records: number;
}

/**
 * What a record-time horizon drops: per partition, the files from the start whose newest record
 * is older than `horizon` (epoch ms), stopping at the first file that is still young, so what
 * stays is one contiguous range. Files without records (only skipped offsets) and gaps between
 * old files go with them. Nothing is dropped in a partition where no file would be.
 */
export function planDrop(view: Manifest, horizon: number): PartitionDrop[] {
  const out: PartitionDrop[] = [];
  for (const [topic, t] of Object.entries(view.topics))
    for (const [p, ps] of Object.entries(t.partitions)) {
      const files = [...ps.files].sort((a, b) => a.first_offset - b.first_offset);
      const old: FileEntry[] = [];
      let below = ps.next_offset;
      for (const f of files) {
        if (f.max_timestamp >= horizon) {
          below = f.first_offset;
          break;
        }
        old.push(f);
      }
      if (old.length === 0) continue;
      out.push({
        topic,
        partition: Number(p),
        below,
        files: old,
        bytes: old.reduce((n, f) => n + f.size, 0),
        records: old.reduce((n, f) => n + f.records, 0),
      });
    }
  return out;
}

/** Snapshots none of whose partitions holds an offset at or above its dropped boundary any more. */
export function snapshotsEntirelyDropped(
  view: Manifest,
  drops: PartitionDrop[],
  isLive: (s: Snapshot) => boolean,
): string[] {
  const boundary = new Map<string, number>();
  for (const [topic, t] of Object.entries(view.topics))
    for (const [p, ps] of Object.entries(t.partitions)) {
      const kept = ps.gaps.find((g) => g.cause === 'retention-policy' && g.start === ps.start_offset);
      boundary.set(`${topic}\0${p}`, kept?.end ?? ps.start_offset);
    }
  for (const d of drops) boundary.set(`${d.topic}\0${d.partition}`, d.below);
  const touched = new Set(drops.map((d) => d.topic));
  return view.snapshots
    .filter((s) => !isLive(s))
    .filter((s) => Object.keys(s.end_offsets).some((t) => touched.has(t)))
    .filter((s) =>
      Object.entries(s.end_offsets).every(([topic, ends]) =>
        Object.entries(ends).every(([p, end]) => {
          const b = boundary.get(`${topic}\0${p}`);
          // a retired topic is never dropped, so a snapshot holding one keeps data
          return b !== undefined && end <= b;
        }),
      ),
    )
    .map((s) => s.id);
}

/**
 * Per topic, the epoch ms of the oldest record a restore brings back once `drops` are applied:
 * the smallest min_timestamp of the first kept file holding records, over the partitions; -1
 * when no kept file holds one. (inspect/summary.ts retentionOf says the same of a stored view.)
 */
export function oldestRestorableAfter(view: Manifest, drops: PartitionDrop[]): Record<string, number> {
  const below = new Map(drops.map((d) => [`${d.topic}\0${d.partition}`, d.below]));
  const out: Record<string, number> = {};
  for (const [topic, t] of Object.entries(view.topics)) {
    let oldest = -1;
    for (const [p, ps] of Object.entries(t.partitions)) {
      const from = below.get(`${topic}\0${p}`) ?? Number.NEGATIVE_INFINITY;
      const first = ps.files
        .filter((f) => f.first_offset >= from && f.records > 0 && f.min_timestamp >= 0)
        .sort((a, b) => a.first_offset - b.first_offset)[0];
      if (first && (oldest < 0 || first.min_timestamp < oldest)) oldest = first.min_timestamp;
    }
    out[topic] = oldest;
  }
  return out;
}
