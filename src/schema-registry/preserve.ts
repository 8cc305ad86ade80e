/**
 * restore.schema_registry strategy preserve_ids: the target registry is put in IMPORT mode and
 * every captured version is registered under its original id and version, references first
 * (their versions are the original ones too); the previous mode is set back afterwards, also
 * when a registration fails. Records then need no rewrite. Before anything is changed, every id
 * is looked up on the target: an id that names another schema there refuses the restore.
 */
import { UsageError } from '../errors.ts';
import type { RegistryClient } from './client.ts';
import { registrationOrder } from './order.ts';
import type { RemapResult, RemapStep } from './remap.ts';
import { qualify } from './subjects.ts';
import type { RegistryCapture } from './types.ts';

export async function preserveIds(
  target: RegistryClient,
  capture: RegistryCapture,
  o: { context: string; dryRun: boolean },
): Promise<RemapResult> {
  const order = registrationOrder(capture);
  const present = new Set<number>();
  const conflicts: string[] = [];
  for (const { subject, v } of order) {
    if (present.has(v.id)) continue;
    const there = await target.schemaByIdOrNull(v.id);
    if (!there) continue;
    if (there.schema === v.schema && (there.schemaType ?? 'AVRO') === v.schema_type) present.add(v.id);
    else conflicts.push(`id ${v.id} (${subject} version ${v.version})`);
  }
  if (conflicts.length)
    throw new UsageError(
      `the target registry already holds other schemas under ids of the backup: ${conflicts.join(', ')}; preserve_ids would break the records that use them`,
      {
        hint: 'restore into an empty registry, or use strategy: remap_ids (the ids are rewritten in the records)',
      },
    );
  const steps: RemapStep[] = [];
  const ids = new Map<number, number>();
  const todo = order.filter(({ v }) => !present.has(v.id));
  for (const { subject, v } of order) {
    ids.set(v.id, v.id);
    const register = !present.has(v.id);
    steps.push({
      subject,
      source_version: v.version,
      source_id: v.id,
      action: register ? 'register' : 'exists',
      target_id: v.id,
      target_version: register ? v.version : null,
    });
  }
  if (o.dryRun || todo.length === 0) return { steps, ids, compatibility_applied: [] };
  const previous = (await target.mode()) ?? 'READWRITE';
  await target.setGlobalMode('IMPORT', true);
  try {
    for (const { subject, v } of todo) {
      const schema = {
        schema: v.schema,
        schemaType: v.schema_type,
        references: v.references.map((r) => ({ ...r, subject: qualify(o.context, r.subject) })),
      };
      await target.registerWithId(qualify(o.context, subject), schema, v.id, v.version);
    }
  } finally {
    await target.setGlobalMode(previous, true);
  }
  const compatibility_applied: string[] = [];
  for (const [subject, s] of Object.entries(capture.subjects))
    if (s.compatibility) {
      await target.setCompatibility(qualify(o.context, subject), s.compatibility);
      compatibility_applied.push(subject);
    }
  return { steps, ids, compatibility_applied };
}
