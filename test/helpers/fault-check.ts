/**
 * The fault suite's checker, in the manner of Jepsen's: what the producer got acknowledgements
 * for (Kafka's Java producer, acks=all, idempotent: `produceAcked`) and what the source holds
 * (Kafka's Java consumer, read_committed) are compared with what a restore wrote (the same
 * consumer on the target). Every record carries a unique key, so each one is followed by name:
 *
 *   lost        acknowledged (or in the source) but not in the restore
 *   duplicated  in the restore more than once
 *   altered     in the restore under its key, but with another value, timestamp, headers or partition
 *   unexpected  in the restore but never produced (or not in the source)
 *   reordered   a partition's records in another order than in the source
 *
 * The report names the first few of each, so a failure says what happened.
 */
import assert from 'node:assert/strict';
import { type DumpedRecord, produceSpec, type SpecLine, type SpecRecord, text } from './peers.ts';

export interface AckedRecord {
  key: string;
  value: string;
  partition: number;
  offset: number;
  timestamp: number;
}

/**
 * Produces `count` records `<prefix>-<i>` (round robin over `partitions`) with the Java producer
 * (acks=all, idempotent, one batch per `batch` records) and returns the acknowledged ones with
 * their offsets. A failed call acknowledged nothing: it rejects, and its records are only maybe
 * written (callers that inject faults while producing keep them as `maybe`).
 */
export async function produceAcked(
  topic: string,
  prefix: string,
  count: number,
  options: { partitions?: number[]; batch?: number; bootstrap: string; valueBytes?: number },
): Promise<AckedRecord[]> {
  const partitions = options.partitions ?? [0];
  const pad = 'x'.repeat(options.valueBytes ?? 0);
  const spec: SpecLine[] = [];
  const records: SpecRecord[] = [];
  for (let i = 0; i < count; i++) {
    const r: SpecRecord = {
      partition: partitions[i % partitions.length]!,
      key: `${prefix}-${i}`,
      value: `value-${prefix}-${i}${pad}`,
      headers: [['i', String(i)]],
    };
    records.push(r);
    spec.push(r);
    if ((i + 1) % (options.batch ?? 100) === 0) spec.push({ flush: true });
  }
  const produced = await produceSpec(topic, spec, { bootstrap: options.bootstrap, timeoutMs: 300_000 });
  assert.equal(produced.length, count, 'the producer reports every record');
  return produced.map((p) => ({
    key: records[p.index]!.key as string,
    value: records[p.index]!.value as string,
    partition: p.partition,
    offset: p.offset,
    timestamp: p.timestamp,
  }));
}

const content = (r: DumpedRecord) => `${r.partition}|${r.timestamp}|${r.value}|${JSON.stringify(r.headers)}`;

export interface Differences {
  lost: string[];
  duplicated: string[];
  altered: string[];
  unexpected: string[];
  reordered: string[];
}

/** Compares a restored topic with its source, record by record (keys must be unique in the source). */
export function diffRestore(source: DumpedRecord[], restored: DumpedRecord[]): Differences {
  const d: Differences = { lost: [], duplicated: [], altered: [], unexpected: [], reordered: [] };
  const want = new Map<string, DumpedRecord>();
  for (const r of source) {
    const k = text(r.key) ?? '(null)';
    assert.ok(!want.has(k), `the checker needs unique keys; ${k} is twice in the source`);
    want.set(k, r);
  }
  const seen = new Map<string, number>();
  for (const r of restored) {
    const k = text(r.key) ?? '(null)';
    seen.set(k, (seen.get(k) ?? 0) + 1);
    const s = want.get(k);
    if (!s) d.unexpected.push(k);
    else if (content(s) !== content(r)) d.altered.push(k);
  }
  for (const [k, n] of seen) if (n > 1) d.duplicated.push(`${k} x${n}`);
  for (const k of want.keys()) if (!seen.has(k)) d.lost.push(k);
  // per partition, the restored records come in the source's order
  const order = (rs: DumpedRecord[], p: number) =>
    rs.filter((r) => r.partition === p).map((r) => text(r.key) ?? '(null)');
  for (const p of new Set(source.map((r) => r.partition))) {
    const a = order(source, p).filter((k) => seen.has(k));
    const b = order(restored, p).filter((k) => want.has(k));
    const dedup = b.filter((k, i) => b.indexOf(k) === i);
    const i = a.findIndex((k, j) => dedup[j] !== k);
    if (i >= 0) d.reordered.push(`partition ${p} from ${a[i]}`);
  }
  return d;
}

function describe(d: Differences): string {
  return (Object.entries(d) as [string, string[]][])
    .filter(([, v]) => v.length)
    .map(([k, v]) => `${v.length} ${k} (${v.slice(0, 5).join(', ')}${v.length > 5 ? ', ...' : ''})`)
    .join('; ');
}

/**
 * Asserts the restore holds exactly the source's records (nothing lost, duplicated, altered,
 * unexpected or reordered) and every acknowledged record exactly once, with its value.
 */
export function assertRestoredExactly(
  source: DumpedRecord[],
  restored: DumpedRecord[],
  acked: AckedRecord[] = [],
  what = 'restore',
): void {
  const d = diffRestore(source, restored);
  const bySourceKey = new Map(source.map((r) => [text(r.key), r]));
  const lostAcks: string[] = [];
  for (const a of acked) {
    const s = bySourceKey.get(a.key);
    if (!s || text(s.value) !== a.value || s.partition !== a.partition || s.offset !== a.offset) lostAcks.push(a.key);
  }
  const problems = describe(d);
  assert.ok(
    problems === '' && lostAcks.length === 0,
    `${what}: ${problems}${lostAcks.length ? `; ${lostAcks.length} acknowledged records are not in the source where the producer was told (${lostAcks.slice(0, 5).join(', ')})` : ''} ` +
      `(source ${source.length} records, restored ${restored.length}, acknowledged ${acked.length})`,
  );
}
