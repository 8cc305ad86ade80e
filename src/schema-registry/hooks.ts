/** The hooks the backup and restore engines take, built from the schema_registry config sections. */
import type { BackupOptions } from '../backup/options.ts';
import type { BackupSchemaRegistryConfig, RestoreSchemaRegistryConfig } from '../config/schema.ts';
import type { RestoreOptions } from '../restore/options.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { logger } from '../util/log.ts';
import { captureRegistry } from './capture.ts';
import { registryClientFrom } from './connect.ts';
import { prepareSchemaIds } from './restore-ids.ts';
import { writeCapture } from './store.ts';

const log = logger('schema-registry');

/** backup.schema_registry: capture the registry state before the snapshot is committed. */
export function captureHook(
  c: BackupSchemaRegistryConfig,
  storage: StorageBackend,
  backupId: string,
): NonNullable<BackupOptions['beforeSnapshotCommit']> {
  return async ({ snapshotId, topics }) => {
    const client = registryClientFrom(c, 'backup.schema_registry');
    try {
      const capture = await captureRegistry(client, {
        topics,
        subjects: c.subjects,
        includeDeleted: c.include_deleted,
        context: c.context,
        snapshotId,
      });
      const ref = await writeCapture(storage, backupId, capture);
      log.info('schema registry captured', { key: ref.key, subjects: ref.subjects, schemas: ref.schemas });
      return { schema_registry: ref };
    } finally {
      client.close();
    }
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
