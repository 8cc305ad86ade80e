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
  /**
   * Continuous runs: what an earlier capture of this run read. A subject version never changes
   * once registered, so versions already read are taken from here; the compatibility and mode
   * settings are taken from `settingsFrom` (subjects it holds) instead of being read again.
   */
  versionCache?: Map<string, Omit<CapturedVersion, 'deleted'>>;
  settingsFrom?: RegistryCapture | undefined;
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
      const cacheKey = `${q}\u0000${version}`;
      let v = o.versionCache?.get(cacheKey);
      if (!v) {
        const sv = await client.subjectVersion(q, version, o.includeDeleted);
        v = {
          version: sv.version,
          id: sv.id,
          schema_type: sv.schemaType ?? 'AVRO',
          schema: sv.schema,
          references: (sv.references ?? []).map((r) => ({
            ...r,
            subject: unqualify(o.context, r.subject) ?? r.subject,
          })),
        };
        o.versionCache?.set(cacheKey, v);
      }
      versions.push({ ...v, deleted: liveVersions ? !liveVersions.has(version) : false });
      for (const r of v.references) if (!subjects[r.subject]) queue.push(r.subject);
    }
    const known = o.settingsFrom?.subjects[subject];
    subjects[subject] = known
      ? { compatibility: known.compatibility, mode: known.mode, versions }
      : { compatibility: await client.compatibility(q), mode: await client.mode(q), versions };
  }
  const global = o.settingsFrom
    ? o.settingsFrom.global
    : { compatibility: await client.compatibility(), mode: await client.mode() };
  return {
    format: 'kafka-backup/schema-registry',
    version: 1,
    captured_at: new Date().toISOString(),
    snapshot_id: o.snapshotId,
    context: o.context,
    global,
    subjects: Object.fromEntries(Object.entries(subjects).sort(([a], [b]) => a.localeCompare(b))),
  };
}

/** Every schema id of the capture. */
export function capturedIds(c: RegistryCapture): Set<number> {
  const ids = new Set<number>();
  for (const s of Object.values(c.subjects)) for (const v of s.versions) ids.add(v.id);
  return ids;
}
