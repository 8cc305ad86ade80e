/**
 * remap_ids restores that do not run straight through, against the real broker and the srfake
 * registries, checked with Kafka's Java consumer and the independent codec (test/helpers/sr-codec.ts):
 *
 * - killed with -9 after some batches are produced, then run again: every record exactly once
 *   and decoding to its source value, no schema registered twice on the target, the id map
 *   artifact naming for every source id a target id with the same schema, and the rewrite
 *   count of the second run that of the records it produced;
 * - a produce answered UNKNOWN_PRODUCER_ID (the job continues from the target log with a new
 *   producer id): the rewrite count is that of the records restored, each once.
 *
 * The line: the codec's Avro, Protobuf and JSON Schema records, then 600 Avro records of their
 * own schema in batches of 20 (so a restore sends many batches), TopicRecordNameStrategy subjects.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import avsc from 'avsc';
import type { RestoreSchemaRegistryConfig } from '../../../src/config/schema.ts';
import { rawProduceV11 } from '../../../src/kafka/produce-raw-v11.ts';
import { runRestore } from '../../../src/restore/engine.ts';
import { type RestoreOptions, restoreDefaults } from '../../../src/restore/options.ts';
import { remapHook } from '../../../src/schema-registry/hooks.ts';
import { openStorage } from '../../../src/storage/open.ts';
import { cli, jsonOut, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, deleteTopics, KAFKA_BOOTSTRAP, sleep, uniqueTopic, withAdmin } from '../../helpers/kafka.ts';
import { produceSpec, type SpecLine } from '../../helpers/peers.ts';
import {
  ensureSchemaRegistries,
  lockRegistries,
  registryRequest,
  resetRegistry,
  SR_SOURCE_URL,
  SR_TARGET_URL,
} from '../../helpers/schema-registry.ts';
import {
  canonical,
  decodeTopicWithRegistry,
  encodeConfluent,
  produceSchemaRecords,
  registerSchema,
  registerTestSchemas,
  registerUnrelatedSchemas,
  type SchemaRecordView,
} from '../../helpers/sr-codec.ts';
import { views } from './codec-line.ts';

const KEY = { type: 'record', name: 'Key', namespace: 'kb.test', fields: [{ name: 'id', type: 'string' }] };
const REFUND = {
  type: 'record',
  name: 'Refund',
  namespace: 'kb.test',
  fields: [
    { name: 'order', type: 'string' },
    { name: 'cents', type: 'long' },
  ],
};
const REFUNDS = 600;
const PER_FORMAT = 5;
const TOTAL = 3 * PER_FORMAT + REFUNDS;

let release: () => Promise<void>;
let topic: string;
const created: string[] = [];
const dir = tempDir('sr-resume');
const storage = { backend: 'filesystem', path: join(dir, 'backups') };
const backupId = 'sr-resume';
let expected: Map<string, SchemaRecordView>;
let subjects: string[];
let sourceIds: number[];

async function endOffsetSum(t: string): Promise<number> {
  return withAdmin(async (admin) => {
    const md = await admin.metadata({ topics: [t] }).catch(() => null);
    const n = md?.topics.get(t)?.partitionsCount ?? 0;
    if (n === 0) return 0;
    const res = await admin.listOffsets({
      topics: [{ name: t, partitions: [...Array(n).keys()].map((p) => ({ partitionIndex: p, timestamp: -1n })) }],
    });
    return res[0]!.partitions.reduce((s, p) => s + Number(p.offset), 0);
  }).catch(() => 0);
}

before(async () => {
  await ensureSchemaRegistries();
  release = await lockRegistries();
  await resetRegistry(SR_SOURCE_URL);
  await resetRegistry(SR_TARGET_URL);
  topic = await createTopic(uniqueTopic('sr-resume'), { partitions: 2 });
  created.push(topic);
  const schemas = await registerTestSchemas(SR_SOURCE_URL, topic);
  expected = await produceSchemaRecords(topic, schemas, { perFormat: PER_FORMAT, partitions: 2 });
  const refundSubject = `${topic}-kb.test.Refund`;
  const refundId = await registerSchema(SR_SOURCE_URL, refundSubject, { schema: JSON.stringify(REFUND) });
  subjects = [...Object.values(schemas.subjects), refundSubject];
  sourceIds = [...Object.values(schemas.ids), refundId];
  const keyType = avsc.Type.forSchema(KEY as avsc.Schema);
  const refundType = avsc.Type.forSchema(REFUND as avsc.Schema);
  const spec: SpecLine[] = [];
  for (let i = 0; i < REFUNDS; i++) {
    const key = { id: `refund-${String(i).padStart(4, '0')}` };
    const value = { order: `order-${i}`, cents: 7 * i };
    expected.set(key.id, {
      key: canonical(key),
      value: canonical(value),
      format: 'AVRO',
      messageType: 'kb.test.Refund',
      messageIndexes: null,
    });
    spec.push({
      partition: i % 2,
      key: encodeConfluent(schemas.ids.key, keyType.toBuffer(key)),
      value: encodeConfluent(refundId, refundType.toBuffer(value)),
    });
    if (i % 40 === 39) spec.push({ flush: true });
  }
  await produceSpec(topic, spec);
  const backup = writeConfig(dir, 'backup.yaml', {
    backup_id: backupId,
    source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
    storage,
    backup: { schema_registry: { url: SR_SOURCE_URL } },
  });
  const r = await cli(['backup', '-c', backup]);
  assert.equal(r.code, 0, r.stderr);
  // ids on the target differ from the source's: every key and value is rewritten
  await registerUnrelatedSchemas(SR_TARGET_URL, 8);
});

after(async () => {
  rawProduceV11.async = realProduce;
  await deleteTopics(created).catch(() => {});
  await release?.();
});

type ProduceFn = typeof rawProduceV11.async;
const realProduce: ProduceFn = rawProduceV11.async;

async function decodedExactly(target: string): Promise<number[]> {
  const decoded = await decodeTopicWithRegistry(KAFKA_BOOTSTRAP, target, SR_TARGET_URL);
  assert.deepEqual(decoded.failures, [], 'every restored record decodes with the target registry');
  assert.equal(decoded.count, TOTAL, 'every record once');
  assert.deepEqual(views(decoded.records), views(expected), 'every record decodes to its source value');
  return decoded.ids;
}

interface SrReport {
  registered: number;
  reused: number;
  rewritten: number;
  unknown_total: number;
  changed: { source: number; target: number }[];
}

test('a remap_ids restore killed with -9 mid-way and run again: exact, no schema registered twice, id map consistent', async () => {
  const target = `${topic}-resumed`;
  created.push(target);
  const config = (name: string, throttle: number) =>
    writeConfig(dir, name, {
      backup_id: backupId,
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage,
      restore: {
        restore_id: 'resumed',
        topic_mapping: { [topic]: target },
        schema_registry: { url: SR_TARGET_URL },
        max_records_per_sec: throttle,
      },
    });
  const first = startCli(['restore', '-c', config('slow.yaml', 60)]);
  let stderr = '';
  first.child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const deadline = Date.now() + 180_000;
  while ((await endOffsetSum(target)) < 100) {
    assert.ok(Date.now() < deadline && first.child.exitCode === null, `the first run produced nothing: ${stderr}`);
    await sleep(100);
  }
  first.child.kill('SIGKILL');
  const killed = await first.done;
  assert.equal(killed.signal, 'SIGKILL', `the first run was still running: ${killed.stderr.slice(-2000)}`);
  const already = await endOffsetSum(target);
  assert.ok(already > 0 && already < TOTAL, `killed mid-way (${already} of ${TOTAL} restored)`);

  const second = await cli(['restore', '-c', config('fast.yaml', 0), '--format', 'json']);
  assert.equal(second.code, 0, `the re-run: ${second.stdout.slice(-2000)} ${second.stderr.slice(-3000)}`);
  const out = jsonOut<{ schema_registry: SrReport; schema_id_map_key: string }>(second);
  const sr = out.schema_registry;
  assert.equal(sr.registered, 0, 'the re-run registers nothing: the killed run did');
  assert.equal(sr.reused, sourceIds.length);
  assert.equal(sr.unknown_total, 0);
  assert.equal(
    sr.rewritten,
    2 * (TOTAL - already),
    'the keys and values this run produced, each once (not those the killed run restored)',
  );
  const ids = await decodedExactly(target);

  // no schema registered twice: one version per subject on the target
  for (const s of subjects) {
    const versions = await registryRequest<number[]>(
      SR_TARGET_URL,
      'GET',
      `/subjects/${encodeURIComponent(s)}/versions`,
    );
    assert.deepEqual(versions, [1], `${s}: registered once`);
  }
  // the id map artifact: each source id maps to a target id holding the same schema
  const artifact = JSON.parse(readFileSync(join(storage.path, out.schema_id_map_key), 'utf8')) as {
    ids: Record<string, number>;
    changed: { source: number; target: number }[];
  };
  assert.deepEqual(
    Object.keys(artifact.ids)
      .map(Number)
      .sort((a, b) => a - b),
    [...sourceIds].sort((a, b) => a - b),
  );
  for (const [s, t] of Object.entries(artifact.ids)) {
    const a = await registryRequest<{ schema: string; schemaType?: string }>(SR_SOURCE_URL, 'GET', `/schemas/ids/${s}`);
    const b = await registryRequest<{ schema: string; schemaType?: string }>(SR_TARGET_URL, 'GET', `/schemas/ids/${t}`);
    assert.deepEqual(
      [b.schema, b.schemaType ?? 'AVRO'],
      [a.schema, a.schemaType ?? 'AVRO'],
      `source ${s} -> target ${t}`,
    );
  }
  const bySource = (l: { source: number; target: number }[]) => [...l].sort((a, b) => a.source - b.source);
  assert.deepEqual(
    bySource(artifact.changed),
    Object.entries(artifact.ids)
      .filter(([s, t]) => Number(s) !== t)
      .map(([s, t]) => ({ source: Number(s), target: t }))
      .sort((a, b) => a.source - b.source),
    'changed lists exactly the ids that differ',
  );
  assert.deepEqual(artifact.changed, sr.changed);
  for (const id of ids) assert.ok(Object.values(artifact.ids).includes(id), `record id ${id} is a mapped target id`);
});

test('a produce failure that makes the job continue with a new producer id: rewrite counts are of records produced once', async () => {
  const target = `${topic}-retried`;
  created.push(target);
  let calls = 0;
  let failed = 0;
  // call 4 is answered UNKNOWN_PRODUCER_ID without reaching the broker: a definite "not
  // appended" (ResyncNeeded), so the job resumes from the target log with a new producer id
  rawProduceV11.async = (async (conn, acks, timeout, topics) => {
    if (calls++ === 4) {
      failed++;
      return {
        throttleTimeMs: 0,
        responses: topics.map((t) => ({
          name: t.topic,
          partitions: t.partitions.map((p) => ({
            index: p.partition,
            errorCode: 59,
            baseOffset: -1n,
            logStartOffset: -1n,
            recordErrors: [],
            errorMessage: 'injected',
            currentLeader: { leaderId: -1, leaderEpoch: -1 },
          })),
        })),
      };
    }
    return realProduce(conn, acks, timeout, topics);
  }) as ProduceFn;
  const store = await openStorage(storage as { backend: 'filesystem'; path: string });
  let result: Awaited<ReturnType<typeof runRestore>>;
  try {
    const o: RestoreOptions = {
      ...restoreDefaults,
      backupId,
      storage: store,
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      topics: { include: [topic] },
      topicMapping: { [topic]: target },
      restoreId: 'retried',
      giveUpAfterSecs: 60,
      schemaIds: remapHook(
        {
          url: SR_TARGET_URL,
          context: '',
          strategy: 'remap_ids',
          on_unknown_id: 'fail',
          request_timeout_ms: 30_000,
        } as RestoreSchemaRegistryConfig,
        store,
      ),
    };
    result = await runRestore(o);
  } finally {
    rawProduceV11.async = realProduce;
    await store.close();
  }
  assert.equal(failed, 1, 'the fault was injected');
  assert.ok(calls > 5, `the restore went on (${calls} produce calls)`);
  await decodedExactly(target);
  assert.equal(result.schema_registry?.unknown_total, 0);
  assert.equal(result.schema_registry?.rewritten, 2 * TOTAL, 'every key and value rewritten, counted once');
});
