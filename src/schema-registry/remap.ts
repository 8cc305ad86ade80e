/**
 * restore.schema_registry strategy remap_ids: registers the captured schemas in the target
 * registry in dependency order (references first, with their versions rewritten to the ones the
 * target gave them), reusing identical schemas already there (lookup), and builds the id map
 * source → target. With dryRun it only looks up: what exists is reported with its target id,
 * the rest as "register" (its id is known only once registered).
 */

import type { NewSchema, RegistryClient } from './client.ts';
import { SchemaRegistryError } from './errors.ts';
import { registrationOrder, versionKey } from './order.ts';
import { applyAfterRegistration, applyCompatibility } from './settings.ts';
import { qualify } from './subjects.ts';
import type { RegistryCapture } from './types.ts';

export interface RemapStep {
  subject: string;
  source_version: number;
  source_id: number;
  /** exists: an identical schema is already under the subject; register: newly registered (or would be). */
  action: 'exists' | 'register';
  /** Null in a dry run for schemas that would be registered. */
  target_id: number | null;
  target_version: number | null;
}

export interface RemapResult {
  steps: RemapStep[];
  /** Source id → target id, for every id whose target id is known. */
  ids: Map<number, number>;
  /** Per-subject compatibility levels applied to the target before registration. */
  compatibility_applied: string[];
  /** Per-subject modes applied to the target after registration (settings.ts). */
  mode_applied: string[];
  /** Versions soft-deleted on the target because they were captured as deleted. */
  soft_deleted: { subject: string; version: number }[];
}

export async function remapIds(
  target: RegistryClient,
  capture: RegistryCapture,
  o: { context: string; dryRun: boolean },
): Promise<RemapResult> {
  const steps: RemapStep[] = [];
  const ids = new Map<number, number>();
  const targetVersions = new Map<string, number | null>();
  const compatibility_applied = o.dryRun ? [] : await applyCompatibility(target, capture, o.context);
  for (const { subject, v } of registrationOrder(capture)) {
    const ts = qualify(o.context, subject);
    const refsKnown = v.references.every((r) => targetVersions.get(versionKey(r.subject, r.version)) != null);
    const schema: NewSchema = {
      schema: v.schema,
      schemaType: v.schema_type,
      references: v.references.map((r) => ({
        name: r.name,
        subject: qualify(o.context, r.subject),
        version: targetVersions.get(versionKey(r.subject, r.version)) ?? r.version,
      })),
    };
    let found = refsKnown ? await target.lookup(ts, schema, v.deleted) : null;
    let action: RemapStep['action'] = 'exists';
    if (!found && !o.dryRun) {
      action = 'register';
      try {
        await target.register(ts, schema);
      } catch (e) {
        if (e instanceof SchemaRegistryError && (e.status === 409 || e.status === 422))
          throw new SchemaRegistryError(
            `the target registry refused ${subject} version ${v.version} (source id ${v.id}): ${e.message}`,
            e.status,
            e.errorCode,
            {
              hint: `the target subject ${ts} holds other schemas it checks compatibility against: restore into an empty registry or context (restore.schema_registry.context), or relax the subject's compatibility on the target`,
            },
          );
        throw e;
      }
      found = await target.lookup(ts, schema, v.deleted);
      if (!found)
        throw new SchemaRegistryError(`the target registry registered ${ts} but does not find it by lookup`, 0, 0, {
          hint: 'check the target registry (a second writer, or a registry in READONLY mode)',
        });
    } else if (!found) action = 'register';
    targetVersions.set(versionKey(subject, v.version), found?.version ?? null);
    if (found && !ids.has(v.id)) ids.set(v.id, found.id);
    steps.push({
      subject,
      source_version: v.version,
      source_id: v.id,
      action,
      target_id: found?.id ?? null,
      target_version: found?.version ?? null,
    });
  }
  const after = o.dryRun
    ? { mode_applied: [], soft_deleted: [] }
    : await applyAfterRegistration(target, capture, steps, o.context, (s) => s.target_version);
  return { steps, ids, compatibility_applied, ...after };
}
