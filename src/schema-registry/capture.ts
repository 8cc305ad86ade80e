/**
 * Reads the registry state a snapshot needs: the selected subjects and every subject their
 * schemas reference (transitively), each version with id, type, text and references, and the
 * compatibility and mode settings, global and per subject.
 */
import type { RegistryClient } from './client.ts';
import { qualify, selectSubjects, unqualify } from './subjects.ts';
import type { CapturedSubject, CapturedVersion, RegistryCapture } from './types.ts';

export interface CaptureOptions {
  topics: string[];
  subjects?: string[] | undefined;
  includeDeleted: boolean;
  context: string;
  snapshotId: string;
}

export async function captureRegistry(client: RegistryClient, o: CaptureOptions): Promise<RegistryCapture> {
  const listed = (await client.listSubjects(o.includeDeleted))
    .map((s) => unqualify(o.context, s))
    .filter((s): s is string => s !== null);
  const queue = selectSubjects(listed, o.topics, o.subjects);
  const subjects: Record<string, CapturedSubject> = {};
  const live = new Set(o.includeDeleted ? await client.listSubjects(false) : []);
  while (queue.length > 0) {
    const subject = queue.shift()!;
    if (subjects[subject]) continue;
    const q = qualify(o.context, subject);
    const versions: CapturedVersion[] = [];
    const liveVersions = o.includeDeleted ? new Set(live.has(q) ? await client.listVersions(q, false) : []) : null;
    for (const version of await client.listVersions(q, o.includeDeleted)) {
      const sv = await client.subjectVersion(q, version, o.includeDeleted);
      const references = (sv.references ?? []).map((r) => ({
        ...r,
        subject: unqualify(o.context, r.subject) ?? r.subject,
      }));
      versions.push({
        version: sv.version,
        id: sv.id,
        schema_type: sv.schemaType ?? 'AVRO',
        schema: sv.schema,
        references,
        deleted: liveVersions ? !liveVersions.has(version) : false,
      });
      for (const r of references) if (!subjects[r.subject]) queue.push(r.subject);
    }
    subjects[subject] = { compatibility: await client.compatibility(q), mode: await client.mode(q), versions };
  }
  return {
    format: 'kafka-backup/schema-registry',
    version: 1,
    captured_at: new Date().toISOString(),
    snapshot_id: o.snapshotId,
    context: o.context,
    global: { compatibility: await client.compatibility(), mode: await client.mode() },
    subjects: Object.fromEntries(Object.entries(subjects).sort(([a], [b]) => a.localeCompare(b))),
  };
}

/** Every schema id of the capture. */
export function capturedIds(c: RegistryCapture): Set<number> {
  const ids = new Set<number>();
  for (const s of Object.values(c.subjects)) for (const v of s.versions) ids.add(v.id);
  return ids;
}
