/**
 * What a restore with restore.schema_registry needs, prepared once the snapshot is chosen: the
 * capture read back, the schemas registered on the target (remap_ids), and per source topic the
 * rewriter of its keys' and values' schema ids. Topics without registry data (no `<topic>-…`
 * subject in the capture) get none, so their batches stay on the raw path.
 */
import { UsageError } from '../errors.ts';
import type { Snapshot } from '../format/manifest.ts';
import type { StorageBackend } from '../storage/backend.ts';
import type { RegistryClient } from './client.ts';
import { preserveIds } from './preserve.ts';
import { type RemapStep, remapIds } from './remap.ts';
import { addCounts, noCounts, type OnUnknownId, SchemaIdRewriter } from './rewriter.ts';
import { readCapture } from './store.ts';
import { ofTopic } from './subjects.ts';

export interface SchemaRegistryRestoreReport {
  strategy: 'remap_ids' | 'preserve_ids';
  capture: string;
  registered: number;
  reused: number;
  /** Source ids whose target id differs (for a dry run: as far as known without registering). */
  changed: { source: number; target: number }[];
  /** Schemas a dry run would register (their target id is assigned then). */
  to_register: { subject: string; version: number; source_id: number }[];
  /** Keys and values whose id was rewritten, and those with an id missing from the capture (per id). */
  rewritten: number;
  unknown_ids: Record<string, number>;
  unknown_total: number;
}

export interface SchemaIdRewriting {
  rewriterFor(sourceTopic: string): SchemaIdRewriter | null;
  report(): SchemaRegistryRestoreReport;
  /** The id map artifact written next to the offset map. */
  artifact(restoreId: string): Record<string, unknown>;
}

export async function prepareSchemaIds(
  storage: StorageBackend,
  snapshot: Snapshot,
  target: RegistryClient,
  o: { context: string; onUnknownId: OnUnknownId; dryRun: boolean; strategy: 'remap_ids' | 'preserve_ids' },
): Promise<SchemaIdRewriting> {
  if (!snapshot.schema_registry)
    throw new UsageError(`snapshot ${snapshot.id} has no schema registry capture, but restore.schema_registry is set`, {
      hint: 'back up with backup.schema_registry set, or remove restore.schema_registry to restore the bytes as they are',
    });
  const capture = await readCapture(storage, snapshot.schema_registry);
  const remap = await (o.strategy === 'preserve_ids' ? preserveIds : remapIds)(target, capture, {
    context: o.context,
    dryRun: o.dryRun,
  });
  // one per call (a job, or an attempt of one): its pending counts are its own records'
  const rewriters: SchemaIdRewriter[] = [];
  const rewriterFor = (topic: string): SchemaIdRewriter | null => {
    if (!Object.keys(capture.subjects).some((s) => ofTopic(s, topic))) return null;
    const r = new SchemaIdRewriter(remap.ids, o.onUnknownId);
    rewriters.push(r);
    return r;
  };
  const changed = [...remap.ids].filter(([s, t]) => s !== t).map(([source, target]) => ({ source, target }));
  const report = (): SchemaRegistryRestoreReport => {
    const total = noCounts();
    for (const r of rewriters) addCounts(total, r.counts);
    const { rewritten, unknown } = total;
    const steps = remap.steps;
    return {
      strategy: o.strategy,
      capture: snapshot.schema_registry!.key,
      registered: o.dryRun ? 0 : steps.filter((s) => s.action === 'register').length,
      reused: steps.filter((s) => s.action === 'exists').length,
      changed,
      to_register: o.dryRun
        ? steps
            .filter((s: RemapStep) => s.action === 'register')
            .map((s) => ({ subject: s.subject, version: s.source_version, source_id: s.source_id }))
        : [],
      rewritten,
      unknown_ids: unknown,
      unknown_total: Object.values(unknown).reduce((a, b) => a + b, 0),
    };
  };
  return {
    rewriterFor,
    report,
    artifact: (restoreId) => ({
      format: 'kafka-backup/schema-id-map',
      strategy: o.strategy,
      version: 1,
      restore_id: restoreId,
      snapshot_id: snapshot.id,
      capture: snapshot.schema_registry!.key,
      created_at: new Date().toISOString(),
      ids: Object.fromEntries([...remap.ids].map(([s, t]) => [String(s), t])),
      changed,
      schemas: remap.steps,
    }),
  };
}
