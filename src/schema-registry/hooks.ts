/** The hooks the backup and restore engines take, built from the schema_registry config sections. */
import type { BackupOptions } from '../backup/options.ts';
import type { BackupSchemaRegistryConfig, RestoreSchemaRegistryConfig } from '../config/schema.ts';
import type { RestoreOptions } from '../restore/options.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { registryClientFrom } from './connect.ts';
import { RegistryCapturer } from './continuous.ts';
import { prepareSchemaIds } from './restore-ids.ts';

/**
 * backup.schema_registry: capture the registry state before the snapshot's final commit and,
 * in continuous mode, at the checkpoints that list new data files (src/schema-registry/continuous.ts).
 */
export function captureHooks(
  c: BackupSchemaRegistryConfig,
  storage: StorageBackend,
  backupId: string,
): Required<Pick<BackupOptions, 'beforeSnapshotCommit' | 'atCheckpoint'>> {
  const capturer = new RegistryCapturer(
    {
      client: () => registryClientFrom(c, 'backup.schema_registry'),
      subjects: c.subjects,
      includeDeleted: c.include_deleted,
      context: c.context,
      intervalSecs: c.capture_interval_secs,
    },
    storage,
    backupId,
  );
  return {
    beforeSnapshotCommit: (p) => capturer.capture(p),
    atCheckpoint: (p) => capturer.atCheckpoint(p),
  };
}

/** restore.schema_registry: register on the target and rewrite ids (remap_ids) or keep them (preserve_ids). */
export function remapHook(
  c: RestoreSchemaRegistryConfig,
  storage: StorageBackend,
): NonNullable<RestoreOptions['schemaIds']> {
  return async (snapshot, dryRun) => {
    const client = registryClientFrom(c, 'restore.schema_registry');
    try {
      return await prepareSchemaIds(storage, snapshot, client, {
        context: c.context,
        onUnknownId: c.on_unknown_id,
        dryRun,
        strategy: c.strategy,
      });
    } finally {
      client.close();
    }
  };
}
