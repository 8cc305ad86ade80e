/**
 * Schema registry captures during a continuous backup (docs/schema-registry.md "Continuous
 * backups"), against the real broker and the srfake registries: while the run follows its topic,
 * a NEW subject with a new schema id is registered and records using it are produced (Kafka's
 * Java producer). The still-running line is then validated (`validate --deep`: no missing id)
 * and restored with remap_ids into a new topic and a target registry whose ids 1..8 name other
 * schemas: every record, read by Kafka's Java consumer and decoded with the independent codec
 * (avsc, protobufjs, ajv; test/helpers/sr-codec.ts) from the TARGET registry, is the source value.
 * The run stores one capture object per registry state, not one per checkpoint.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import avsc from 'avsc';
import { cli, jsonOut, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, deleteTopics, KAFKA_BOOTSTRAP, sleep, uniqueTopic } from '../../helpers/kafka.ts';
import { produceSpec } from '../../helpers/peers.ts';
import {
  ensureSchemaRegistries,
  lockRegistries,
  resetRegistry,
  SR_SOURCE_URL,
  SR_TARGET_URL,
} from '../../helpers/schema-registry.ts';
import {
  canonical,
  decodeTopicWithRegistry,
  type ExpectedSchemaRecord,
  encodeConfluent,
  produceSchemaRecords,
  registerSchema,
  registerTestSchemas,
  registerUnrelatedSchemas,
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
    { name: 'reason', type: ['null', 'string'], default: null },
  ],
};
const PER_FORMAT = 5;
const REFUNDS = 12;

let release: () => Promise<void>;
const created: string[] = [];
const dir = tempDir('sr-continuous');
const storage = { backend: 'filesystem', path: join(dir, 'backups') };
const backupId = 'sr-continuous';
const base = ['--path', storage.path, '--backup-id', backupId, '--format', 'json'];

before(async () => {
  await ensureSchemaRegistries();
  release = await lockRegistries();
  await resetRegistry(SR_SOURCE_URL);
  await resetRegistry(SR_TARGET_URL);
});

after(async () => {
  await deleteTopics(created).catch(() => {});
  await release?.();
});

const committedRecords = async (): Promise<number> => {
  const r = await cli(['status', ...base]);
  if (r.code !== 0) return -1;
  return jsonOut<{ topics: { records: number }[] }>(r).topics.reduce((n, t) => n + t.records, 0);
};

test('a running continuous line captures schemas registered during the run: restore with remap_ids decodes every record', async () => {
  const topic = await createTopic(uniqueTopic('sr-cont'), { partitions: 2 });
  created.push(topic);
  const schemas = await registerTestSchemas(SR_SOURCE_URL, topic);
  const expected: Map<string, Omit<ExpectedSchemaRecord, 'keySchemaId' | 'valueSchemaId'>> = await produceSchemaRecords(
    topic,
    schemas,
    { perFormat: PER_FORMAT, partitions: 2 },
  );
  const cfg = writeConfig(dir, 'backup.yaml', {
    backup_id: backupId,
    source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
    storage,
    backup: {
      mode: 'continuous',
      segment_max_interval_secs: 1,
      checkpoint_interval_secs: 1,
      poll_interval_ms: 100,
      // an hour: the captures below come from checkpoints that list files, not from the interval
      schema_registry: { url: SR_SOURCE_URL, capture_interval_secs: 3600 },
    },
  });
  const backup = startCli(['backup', '-c', cfg]);
  let log = '';
  backup.child.stderr!.on('data', (d) => {
    log += d;
  });
  const until = async (what: string, cond: () => Promise<boolean>, ms = 120_000) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (await cond().catch(() => false)) return;
      assert.equal(backup.child.exitCode, null, `the backup ended early:\n${log.slice(-4000)}`);
      await sleep(300);
    }
    assert.fail(`timed out waiting for ${what}; the backup logged:\n${log.slice(-4000)}`);
  };
  try {
    await until('the first records in the line', async () => (await committedRecords()) >= 3 * PER_FORMAT);

    // mid-run: a new subject (TopicRecordNameStrategy) whose schema gets a new id, and records using it
    const refundSubject = `${topic}-kb.test.Refund`;
    const refundId = await registerSchema(SR_SOURCE_URL, refundSubject, { schema: JSON.stringify(REFUND) });
    assert.ok(!Object.values(schemas.ids).includes(refundId), `a new id (${refundId})`);
    const keyType = avsc.Type.forSchema(KEY as avsc.Schema);
    const refundType = avsc.Type.forSchema(REFUND as avsc.Schema);
    const spec = Array.from({ length: REFUNDS }, (_, i) => {
      const key = { id: `refund-${String(i).padStart(4, '0')}` };
      const value = { order: `order-${i}`, cents: 100 * i + 1, reason: i % 2 ? `reason ${i}` : null };
      expected.set(key.id, {
        key: canonical(key),
        value: canonical(value),
        format: 'AVRO',
        messageType: 'kb.test.Refund',
        messageIndexes: null,
      });
      return {
        partition: i % 2,
        key: encodeConfluent(schemas.ids.key, keyType.toBuffer(key)),
        value: encodeConfluent(refundId, refundType.toBuffer(value)),
      };
    });
    await produceSpec(topic, spec);
    await until('the new records in the line', async () => (await committedRecords()) >= 3 * PER_FORMAT + REFUNDS);

    const snaps = jsonOut<{ backups: { backup_id: string; snapshots: { id: string; state: string }[] }[] }>(
      await cli(['list', '--path', storage.path, '--format', 'json']),
    ).backups.find((b) => b.backup_id === backupId)!.snapshots;
    assert.equal(snaps.length, 1);
    const snapshot = snaps[0]!.id;

    // validate --deep on the running line: every id its records use is in the capture
    const v = await cli(['validate', ...base, '--deep']);
    assert.equal(v.code, 0, `validate --deep: ${v.stdout.slice(-3000)} ${v.stderr.slice(-2000)}`);
    const report = jsonOut<{ schema_ids?: { unknown: unknown[]; records_scanned: number; captures_checked: number } }>(
      v,
    );
    assert.ok(report.schema_ids, 'the running snapshot references a capture');
    assert.deepEqual(report.schema_ids.unknown, [], 'no missing schema id');
    assert.ok(report.schema_ids.records_scanned >= 3 * PER_FORMAT + REFUNDS, 'the new records were checked');

    // restore the running line into a target whose ids 1..8 are other schemas
    const taken = await registerUnrelatedSchemas(SR_TARGET_URL, 8);
    const target = `${topic}-restored`;
    created.push(target);
    const rc = writeConfig(dir, 'restore.yaml', {
      backup_id: backupId,
      snapshot,
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage,
      restore: { restore_id: 'live', topic_mapping: { [topic]: target }, schema_registry: { url: SR_TARGET_URL } },
    });
    const r = await cli(['restore', '-c', rc, '--format', 'json']);
    assert.equal(r.code, 0, `restore of the running line: ${r.stdout.slice(-2000)} ${r.stderr.slice(-3000)}`);
    const out = jsonOut<{ schema_registry: { changed: { source: number; target: number }[]; unknown_total: number } }>(
      r,
    );
    assert.equal(out.schema_registry.unknown_total, 0);
    const refundTarget = out.schema_registry.changed.find((c) => c.source === refundId)?.target;
    assert.ok(refundTarget !== undefined && !taken.includes(refundTarget), 'the new id is remapped to a new target id');
    const decoded = await decodeTopicWithRegistry(KAFKA_BOOTSTRAP, target, SR_TARGET_URL);
    assert.deepEqual(decoded.failures, [], 'every restored record decodes with the target registry');
    assert.ok(decoded.count >= 3 * PER_FORMAT + REFUNDS);
    const want = views(expected);
    assert.deepEqual(views(decoded.records), want, 'every record decodes to the source value');
    assert.ok(decoded.ids.includes(refundTarget), 'records of the new schema carry its target id');

    // one capture object per registry state (the run checkpointed many times meanwhile)
    const objects = readdirSync(join(storage.path, backupId, 'schema-registry', snapshot));
    const commits = readdirSync(join(storage.path, backupId, 'log')).length;
    assert.equal(objects.length, 2, `captures: ${objects.join(', ')} over ${commits} commits`);
    assert.ok(commits > 4, `${commits} commits`);
  } finally {
    backup.child.kill('SIGTERM');
    await backup.done;
  }
});

/** A registry in front of the source one that can be taken down (503) and up again. */
async function switchableRegistry(to: string): Promise<{ url: string; down: (d: boolean) => void; close: () => void }> {
  let isDown = false;
  const server = http.createServer((req, res) => {
    if (isDown) {
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"error_code":50301,"message":"down (test)"}');
      return;
    }
    const up = http.request(
      `${to}${req.url}`,
      { method: req.method, headers: { ...req.headers, host: new URL(to).host } },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    down: (d) => {
      isDown = d;
    },
    close: () => server.close(),
  };
}

test('a registry that is down during a continuous run: the data keeps coming, validate and restore tell the truth, the capture catches up', async () => {
  await resetRegistry(SR_SOURCE_URL);
  await resetRegistry(SR_TARGET_URL);
  const topic = await createTopic(uniqueTopic('sr-down'), { partitions: 1 });
  created.push(topic);
  const schemas = await registerTestSchemas(SR_SOURCE_URL, topic);
  await produceSchemaRecords(topic, schemas, { perFormat: 2, partitions: 1 });
  const registry = await switchableRegistry(SR_SOURCE_URL);
  const id = 'sr-down';
  const b = ['--path', storage.path, '--backup-id', id, '--format', 'json'];
  const cfg = writeConfig(dir, 'backup-down.yaml', {
    backup_id: id,
    source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
    storage,
    backup: {
      mode: 'continuous',
      segment_max_interval_secs: 1,
      checkpoint_interval_secs: 1,
      poll_interval_ms: 100,
      schema_registry: { url: registry.url, capture_interval_secs: 2 },
    },
  });
  const backup = startCli(['backup', '-c', cfg]);
  let log = '';
  backup.child.stderr!.on('data', (d) => {
    log += d;
  });
  const records = async () => {
    const r = await cli(['status', ...b]);
    return r.code === 0 ? jsonOut<{ topics: { records: number }[] }>(r).topics.reduce((n, t) => n + t.records, 0) : -1;
  };
  const until = async (what: string, cond: () => Promise<boolean>, ms = 120_000) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (await cond().catch(() => false)) return;
      assert.equal(backup.child.exitCode, null, `the backup ended early:\n${log.slice(-4000)}`);
      await sleep(300);
    }
    assert.fail(`timed out waiting for ${what}; the backup logged:\n${log.slice(-4000)}`);
  };
  const unknownIds = async () => {
    const v = await cli(['validate', ...b, '--deep']);
    return jsonOut<{ schema_ids?: { unknown: { id: number }[] } }>(v).schema_ids?.unknown.map((f) => f.id);
  };
  try {
    await until('the first records', async () => (await records()) >= 6);
    await until('a capture', async () => (await unknownIds()) !== undefined);
    registry.down(true);
    // the registry stays readable for the test itself (it goes around the proxy)
    const refundId = await registerSchema(SR_SOURCE_URL, `${topic}-kb.test.Refund`, { schema: JSON.stringify(REFUND) });
    const keyType = avsc.Type.forSchema(KEY as avsc.Schema);
    const refundType = avsc.Type.forSchema(REFUND as avsc.Schema);
    await produceSpec(
      topic,
      Array.from({ length: 4 }, (_, i) => ({
        partition: 0,
        key: encodeConfluent(schemas.ids.key, keyType.toBuffer({ id: `refund-${i}` })),
        value: encodeConfluent(refundId, refundType.toBuffer({ order: `o${i}`, cents: i, reason: null })),
      })),
    );
    await until('the records written while the registry is down, committed', async () => (await records()) >= 10);
    assert.match(log, /schema registry capture failed/, 'a warning is logged');
    assert.equal(backup.child.exitCode, null, 'the backup goes on');
    assert.deepEqual(
      [...new Set(await unknownIds())],
      [refundId],
      'validate --deep reports the id the capture cannot know yet',
    );
    const rc = writeConfig(dir, 'restore-down.yaml', {
      backup_id: id,
      snapshot: jsonOut<{ backups: { backup_id: string; snapshots: { id: string }[] }[] }>(
        await cli(['list', '--path', storage.path, '--format', 'json']),
      ).backups.find((x) => x.backup_id === id)!.snapshots[0]!.id,
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage,
      restore: {
        restore_id: 'down',
        topic_mapping: { [topic]: `${topic}-r` },
        schema_registry: { url: SR_TARGET_URL },
      },
    });
    created.push(`${topic}-r`);
    const r = await cli(['restore', '-c', rc, '--format', 'json']);
    assert.equal(r.code, 3, `a restore refuses the record with the id it cannot map: ${r.stderr.slice(-2000)}`);
    assert.match(r.stderr, new RegExp(`schema id ${refundId}`));

    registry.down(false);
    await until('the capture catching up', async () => (await unknownIds())?.length === 0, 60_000);
    assert.match(log, /schema registry capture works again/);
  } finally {
    backup.child.kill('SIGTERM');
    await backup.done;
    registry.close();
  }
});
