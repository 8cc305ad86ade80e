/**
 * The per-subject state a restore applies on the target around the registration of the captured
 * versions, for both strategies:
 *   before: each subject's captured compatibility level, so the target checks the versions under
 *     the rule the source accepted them under (a NONE subject holding incompatible versions would
 *     otherwise be refused under the target's global level);
 *   after: the soft-deletes of versions captured as deleted (include_deleted), referrers before
 *     what they reference (a registry refuses to delete a referenced version), then each subject's
 *     captured mode, last, since a READONLY subject refuses registrations and deletes.
 * The global compatibility and mode of the target are left alone (preserve_ids sets IMPORT for
 * its registrations only and sets the previous mode back before this runs).
 */
import type { RegistryClient } from './client.ts';
import { SchemaRegistryError } from './errors.ts';
import type { RemapStep } from './remap.ts';
import { qualify } from './subjects.ts';
import type { RegistryCapture } from './types.ts';

export async function applyCompatibility(
  target: RegistryClient,
  capture: RegistryCapture,
  context: string,
): Promise<string[]> {
  const applied: string[] = [];
  for (const [subject, s] of Object.entries(capture.subjects))
    if (s.compatibility) {
      await target.setCompatibility(qualify(context, subject), s.compatibility);
      applied.push(subject);
    }
  return applied;
}

export interface AfterRegistration {
  soft_deleted: { subject: string; version: number }[];
  mode_applied: string[];
}

export async function applyAfterRegistration(
  target: RegistryClient,
  capture: RegistryCapture,
  steps: RemapStep[],
  context: string,
  targetVersionOf: (s: RemapStep) => number | null,
): Promise<AfterRegistration> {
  const soft_deleted: AfterRegistration['soft_deleted'] = [];
  const live = new Map<string, Set<number>>();
  const liveVersions = async (ts: string) => {
    let l = live.get(ts);
    if (!l) live.set(ts, (l = new Set(await liveVersionsOf(target, ts))));
    return l;
  };
  const deletedSubjects = new Set(
    Object.entries(capture.subjects)
      .filter(([, s]) => s.versions.length > 0 && s.versions.every((v) => v.deleted))
      .map(([subject]) => subject),
  );
  const deleted = new Set(
    Object.entries(capture.subjects).flatMap(([subject, s]) =>
      s.versions.filter((v) => v.deleted).map((v) => `${subject}\u0000${v.version}`),
    ),
  );
  for (const step of [...steps].reverse()) {
    if (!deleted.has(`${step.subject}\u0000${step.source_version}`)) continue;
    const ts = qualify(context, step.subject);
    const version = targetVersionOf(step);
    const l = await liveVersions(ts);
    if (version === null || !l.has(version)) continue;
    try {
      await target.softDeleteVersion(ts, version);
    } catch (e) {
      if (!(e instanceof SchemaRegistryError)) throw e;
      throw new SchemaRegistryError(
        `the target registry refused to soft-delete ${ts} version ${version} (deleted in the source): ${e.message}`,
        e.status,
        e.errorCode,
        {
          hint: 'a live schema on the target references it, or the subject is READONLY there; see docs/schema-registry.md',
        },
      );
    }
    l.delete(version);
    soft_deleted.push({ subject: step.subject, version });
  }
  // a subject whose every version is deleted is soft-deleted itself, as in the source
  for (const subject of deletedSubjects) {
    const ts = qualify(context, subject);
    if ((await liveVersionsOf(target, ts)).length === 0 && (await subjectListed(target, ts)))
      await target.softDeleteSubject(ts).catch(ignore404);
  }
  const mode_applied: string[] = [];
  for (const [subject, s] of Object.entries(capture.subjects))
    if (s.mode && !deletedSubjects.has(subject)) {
      await target.setMode(qualify(context, subject), s.mode);
      mode_applied.push(subject);
    }
  return { soft_deleted, mode_applied };
}

async function liveVersionsOf(target: RegistryClient, subject: string): Promise<number[]> {
  try {
    // srfake answers null (not []) for a subject without live versions
    return (await target.listVersions(subject)) ?? [];
  } catch (e) {
    return ignore404(e) ?? [];
  }
}

async function subjectListed(target: RegistryClient, subject: string): Promise<boolean> {
  return (await target.listSubjects()).includes(subject);
}

function ignore404(e: unknown): undefined {
  if (e instanceof SchemaRegistryError && e.status === 404) return undefined;
  throw e;
}
