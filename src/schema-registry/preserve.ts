/**
 * restore.schema_registry strategy preserve_ids: the target registry is put in IMPORT mode and
 * every captured version is registered under its original id and version, references first
 * (their versions are the original ones too); the previous mode is set back afterwards, also
 * when a registration fails. Records then need no rewrite. Before anything is changed, every id
 * is looked up on the target: an id that names another schema there refuses the restore.
 */
import { UsageError } from '../errors.ts';
import type { RegistryClient } from './client.ts';
import { type OrderedSchema, registrationOrder } from './order.ts';
import type { RemapResult, RemapStep } from './remap.ts';
import { applyAfterRegistration, applyCompatibility } from './settings.ts';
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
  if (o.dryRun) return { steps, ids, compatibility_applied: [], mode_applied: [], soft_deleted: [] };
  // per-subject state after the registrations (IMPORT mode checks no compatibility), even when
  // every id was present already: a re-run completes what an interrupted one left out
  if (todo.length > 0) await importVersions(target, todo, o.context);
  const compatibility_applied = await applyCompatibility(target, capture, o.context);
  const after = await applyAfterRegistration(target, capture, steps, o.context, (s) => s.source_version);
  return { steps, ids, compatibility_applied, ...after };
}

/** Registers the versions under their ids with the target in IMPORT mode, then sets the mode back. */
async function importVersions(target: RegistryClient, todo: OrderedSchema[], context: string): Promise<void> {
  const previous = (await target.mode()) ?? 'READWRITE';
  await target.setGlobalMode('IMPORT', true);
  try {
    for (const { subject, v } of todo) {
      const schema = {
        schema: v.schema,
        schemaType: v.schema_type,
        references: v.references.map((r) => ({ ...r, subject: qualify(context, r.subject) })),
      };
      await target.registerWithId(qualify(context, subject), schema, v.id, v.version);
    }
  } finally {
    await target.setGlobalMode(previous, true);
  }
}
