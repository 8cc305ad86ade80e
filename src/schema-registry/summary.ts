/** `describe`: the subjects and schema ids of a snapshot's registry capture. */
import type { StorageBackend } from '../storage/backend.ts';
import { readCapture } from './store.ts';
import type { CaptureRef } from './types.ts';

export interface RegistrySummary {
  key: string;
  captured_at: string;
  context: string;
  global: { compatibility: string | null; mode: string | null };
  subjects: {
    subject: string;
    compatibility: string | null;
    versions: { version: number; id: number; type: string; deleted: boolean }[];
  }[];
}

export async function summariseCapture(storage: StorageBackend, ref: CaptureRef): Promise<RegistrySummary> {
  const c = await readCapture(storage, ref);
  return {
    key: ref.key,
    captured_at: c.captured_at,
    context: c.context,
    global: c.global,
    subjects: Object.entries(c.subjects).map(([subject, s]) => ({
      subject,
      compatibility: s.compatibility,
      versions: s.versions.map((v) => ({ version: v.version, id: v.id, type: v.schema_type, deleted: v.deleted })),
    })),
  };
}

export function registrySummaryLines(r: RegistrySummary): string[] {
  return [
    `  schema registry: ${r.subjects.length} subjects captured at ${r.captured_at}${r.context ? ` (context ${r.context})` : ''}; global compatibility ${r.global.compatibility ?? '-'}, mode ${r.global.mode ?? '-'}`,
    ...r.subjects.map(
      (s) =>
        `    ${s.subject}: ${s.versions.map((v) => `v${v.version} id ${v.id} ${v.type}${v.deleted ? ' (deleted)' : ''}`).join(', ')}${s.compatibility ? `; compatibility ${s.compatibility}` : ''}`,
    ),
  ];
}
