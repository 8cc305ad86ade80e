/** Text lines of the schema registry part of a restore result. */
import type { SchemaRegistryRestoreReport } from '../schema-registry/restore-ids.ts';

export function schemaRegistryLines(r: SchemaRegistryRestoreReport, dryRun: boolean): string[] {
  const ids = r.changed.map((c) => `${c.source}->${c.target}`).join(', ') || 'none';
  if (dryRun)
    return [
      `schema registry (${r.strategy}, dry run): ${r.reused} schemas already on the target, ${r.to_register.length} would be registered`,
      ...r.to_register.map((s) => `  would register ${s.subject} version ${s.version} (source id ${s.source_id})`),
      `  ids that change (known before registering): ${ids}`,
    ];
  return [
    `schema registry (${r.strategy}): ${r.registered} schemas registered, ${r.reused} reused; ids changed: ${ids}`,
    `  ${r.rewritten} keys/values rewritten, ${r.unknown_total} with an id missing from the capture${
      r.unknown_total
        ? ` (${Object.entries(r.unknown_ids)
            .map(([id, n]) => `id ${id}: ${n}`)
            .join(', ')})`
        : ''
    }`,
  ];
}
