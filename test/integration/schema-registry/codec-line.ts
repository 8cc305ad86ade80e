/**
 * Setup shared by the Schema Registry tests that decode with the independent codec: holds the
 * registries' lock, empties the source registry and the given targets, creates a topic with the
 * codec's test schemas and records (Kafka's Java producer), and backs it up with
 * backup.schema_registry through the CLI. `views` gives what must survive a restore.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, deleteTopics, KAFKA_BOOTSTRAP, uniqueTopic } from '../../helpers/kafka.ts';
import { lockRegistries, resetRegistry, SR_SOURCE_URL } from '../../helpers/schema-registry.ts';
import {
  comparable,
  type ExpectedSchemaRecord,
  produceSchemaRecords,
  registerTestSchemas,
  type SchemaRecordView,
  type TestSchemas,
} from '../../helpers/sr-codec.ts';

export interface CodecLine {
  backupId: string;
  topic: string;
  schemas: TestSchemas;
  expected: Map<string, ExpectedSchemaRecord>;
  dir: string;
  storage: { backend: string; path: string };
  /** Topics to delete at the end (the test adds its restored ones). */
  created: string[];
  close(): Promise<void>;
}

/**
 * A restore config of the line's backup into `<topic>-<name>` (added to `created`) with the given
 * restore.schema_registry section; restore_id is the name.
 */
export function restoreConfig(line: CodecLine, name: string, schemaRegistry: Record<string, unknown>): string {
  const to = `${line.topic}-${name}`;
  line.created.push(to);
  return writeConfig(line.dir, `${name}.yaml`, {
    backup_id: line.backupId,
    target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
    storage: line.storage,
    restore: { restore_id: name, topic_mapping: { [line.topic]: to }, schema_registry: schemaRegistry },
  });
}

export const views = (m: Map<string, SchemaRecordView>) =>
  Object.fromEntries([...m].map(([k, v]) => [k, comparable(v)]));

export async function backedUpCodecLine(
  name: string,
  o: {
    targets: string[];
    partitions: number;
    perFormat: number;
    configs?: Record<string, string>;
    /** The source registry (default SR_SOURCE_URL) and its backup.schema_registry section. */
    source?: { url: string; config: Record<string, unknown> };
    /** Runs after the schemas are registered and the records produced, before the backup. */
    prepare?: (topic: string, schemas: TestSchemas) => Promise<void>;
  },
): Promise<CodecLine> {
  const release = await lockRegistries();
  const source = o.source ?? { url: SR_SOURCE_URL, config: { url: SR_SOURCE_URL } };
  for (const url of [source.url, ...o.targets]) await resetRegistry(url);
  const topic = await createTopic(uniqueTopic(name), { partitions: o.partitions, configs: o.configs ?? {} });
  const schemas = await registerTestSchemas(source.url, topic);
  const expected = await produceSchemaRecords(topic, schemas, { perFormat: o.perFormat, partitions: o.partitions });
  await o.prepare?.(topic, schemas);
  const dir = tempDir(name);
  const storage = { backend: 'filesystem', path: join(dir, 'backups') };
  const backup = writeConfig(dir, 'backup.yaml', {
    backup_id: name,
    source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
    storage,
    backup: { schema_registry: source.config },
  });
  const r = await cli(['backup', '-c', backup]);
  assert.equal(r.code, 0, r.stderr);
  const created = [topic];
  return {
    backupId: name,
    topic,
    schemas,
    expected,
    dir,
    storage,
    created,
    close: async () => {
      await deleteTopics(created).catch(() => {});
      await release();
    },
  };
}
