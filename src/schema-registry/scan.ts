/**
 * validate --deep for lines with schema registry captures: reads the records of every topic
 * with registry data and reports keys and values in the wire format whose schema id is not in
 * the capture that covers them. The capture covering offset o of a partition is that of the
 * earliest snapshot with a capture whose end offset is above o (it was taken after o was
 * written, so it must hold every id o uses); offsets above every capture are not checked.
 */
import { isControl, splitBatches } from '../format/batch.ts';
import type { Manifest } from '../format/manifest.ts';
import { readSegment } from '../format/segment.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { forEachKeyAndValue, recordsOf } from './batch-patch.ts';
import { capturedIds } from './capture.ts';
import { readCapture } from './store.ts';
import { ofTopic } from './subjects.ts';
import { schemaIdOf } from './wire.ts';

export interface UnknownIdFinding {
  file: string;
  topic: string;
  partition: number;
  snapshot: string;
  id: number;
  part: 'key' | 'value';
  count: number;
  first_offset: number;
  last_offset: number;
}

export interface ScanResult {
  captures_checked: number;
  records_scanned: number;
  findings: UnknownIdFinding[];
  /** Captures that are missing or do not match their digest: key → problem. */
  bad_captures: { key: string; problem: string }[];
}

export async function scanSchemaIds(storage: StorageBackend, manifest: Manifest): Promise<ScanResult> {
  const result: ScanResult = { captures_checked: 0, records_scanned: 0, findings: [], bad_captures: [] };
  const captures: {
    snapshot: string;
    ends: Manifest['snapshots'][number]['end_offsets'];
    ids: Set<number>;
    subjects: Set<string>;
  }[] = [];
  for (const s of manifest.snapshots) {
    if (!s.schema_registry) continue;
    try {
      const c = await readCapture(storage, s.schema_registry);
      captures.push({
        snapshot: s.id,
        ends: s.end_offsets,
        ids: capturedIds(c),
        subjects: new Set(Object.keys(c.subjects)),
      });
      result.captures_checked++;
    } catch (e) {
      result.bad_captures.push({ key: s.schema_registry.key, problem: (e as Error).message });
    }
  }
  if (captures.length === 0) return result;
  for (const [topic, t] of Object.entries(manifest.topics)) {
    const relevant = captures.filter((c) => [...c.subjects].some((s) => ofTopic(s, topic)));
    if (relevant.length === 0) continue;
    for (const [p, ps] of Object.entries(t.partitions)) {
      const covering = relevant
        .map((c) => ({ c, end: c.ends[topic]?.[p] ?? -1 }))
        .filter((x) => x.end >= 0)
        .sort((a, b) => a.end - b.end);
      if (covering.length === 0) continue;
      const captureFor = (offset: number) => covering.find((x) => offset < x.end)?.c;
      for (const file of ps.files) {
        if (file.first_offset >= covering[covering.length - 1]!.end) continue;
        const found = new Map<string, UnknownIdFinding>();
        const stream = await storage.load(file.key);
        for await (const block of readSegment(file.key, stream, { expected: file })) {
          for (const h of splitBatches(block.raw)) {
            if (isControl(h)) continue;
            const records = recordsOf(block.raw, h);
            const base = Number(h.baseOffset);
            if (captureFor(base)) result.records_scanned += h.recordsCount;
            forEachKeyAndValue(records, h.recordsCount, (at, len, delta, part) => {
              const offset = base + delta;
              const c = captureFor(offset);
              if (!c) return;
              const id = schemaIdOf(records, at, len);
              if (id < 0 || c.ids.has(id)) return;
              const k = `${c.snapshot}/${id}/${part}`;
              const f = found.get(k);
              if (f) {
                f.count++;
                f.last_offset = offset;
              } else
                found.set(k, {
                  file: file.key,
                  topic,
                  partition: Number(p),
                  snapshot: c.snapshot,
                  id,
                  part,
                  count: 1,
                  first_offset: offset,
                  last_offset: offset,
                });
            });
          }
        }
        result.findings.push(...found.values());
      }
    }
  }
  return result;
}
