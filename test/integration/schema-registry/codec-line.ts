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

export const views = (m: Map<string, SchemaRecordView>) =>
  Object.fromEntries([...m].map(([k, v]) => [k, comparable(v)]));

export async function backedUpCodecLine(
  name: string,
  o: { targets: string[]; partitions: number; perFormat: number; configs?: Record<string, string> },
): Promise<CodecLine> {
  const release = await lockRegistries();
  for (const url of [SR_SOURCE_URL, ...o.targets]) await resetRegistry(url);
  const topic = await createTopic(uniqueTopic(name), { partitions: o.partitions, configs: o.configs ?? {} });
  const schemas = await registerTestSchemas(SR_SOURCE_URL, topic);
  const expected = await produceSchemaRecords(topic, schemas, { perFormat: o.perFormat, partitions: o.partitions });
  const dir = tempDir(name);
  const storage = { backend: 'filesystem', path: join(dir, 'backups') };
  const backup = writeConfig(dir, 'backup.yaml', {
    backup_id: name,
    source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
    storage,
    backup: { schema_registry: { url: SR_SOURCE_URL } },
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
