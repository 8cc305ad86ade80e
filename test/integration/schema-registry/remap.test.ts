/**
 * Schema registry backup and restore with remap_ids, end to end: Avro (two versions), Protobuf
 * with a reference, and JSON Schema topics produced by Kafka's Java producer in the wire format,
 * backed up with the source registry's state (srfake, scripts/services/schema.sh), restored into
 * new topics and the target registry (empty, then pre-filled with unrelated schemas under the
 * same ids). Checked independently of our code: Kafka's Java consumer reads the restored
 * records, the registries' own REST answers give the schemas behind each id, so every restored
 * record is the source record with its id replaced by one whose schema on the target is the
 * source id's schema on the source (text, type and references), with the payload (Protobuf
 * message indexes included) byte for byte the same.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cli, jsonOut, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, uniqueTopic } from '../../helpers/kafka.ts';
import { consumeAsGroup, type DumpedRecord, dumpTopic, produceSpec, type SpecRecord } from '../../helpers/peers.ts';
import {
  ensureSchemaRegistries,
  lockRegistries,
  registryRequest,
  resetRegistry,
} from '../../helpers/schema-registry.ts';

const wire = (id: number, payload: Buffer) => {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(id, 1);
  return Buffer.concat([h, payload]);
};
const idOf = (b: Buffer | null) => (b && b.length >= 5 && b[0] === 0 ? b.readUInt32BE(1) : -1);
const buf = (field: string | null) => (field === null ? null : Buffer.from(field, 'base64'));

const AVRO_V1 = JSON.stringify({ type: 'record', name: 'Payment', fields: [{ name: 'amount', type: 'long' }] });
const AVRO_V2 = JSON.stringify({
  type: 'record',
  name: 'Payment',
  fields: [
    { name: 'amount', type: 'long' },
    { name: 'note', type: ['null', 'string'], default: null },
  ],
});
const MONEY = 'syntax = "proto3";\npackage shop;\nmessage Money { string currency = 1; int64 units = 2; }\n';
const ORDER =
  'syntax = "proto3";\npackage shop;\nimport "money.proto";\nmessage Order { string id = 1; shop.Money total = 2; }\n';
const JSON_SCHEMA = JSON.stringify({ type: 'object', properties: { sku: { type: 'string' } }, required: ['sku'] });
const AVRO_KEY = JSON.stringify('string');

interface SchemaAnswer {
  schema: string;
  schemaType?: string;
  references?: { name: string; subject: string; version: number }[];
}

async function register(url: string, subject: string, schema: string, type?: string, references?: unknown[]) {
  const r = await registryRequest<{ id: number }>(url, 'POST', `/subjects/${subject}/versions`, {
    schema,
    ...(type ? { schemaType: type } : {}),
    ...(references ? { references } : {}),
  });
  return r.id;
}

/** A registry in front of another that requires basic auth (the test registries have none). */
async function authProxy(to: string, user: string, password: string): Promise<{ url: string; close: () => void }> {
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error_code":40101,"message":"unauthorized"}');
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
    close: () => server.close(),
  };
}

describe('schema registry: backup the registry state, restore with remap_ids', { timeout: 900_000 }, () => {
  let release: () => Promise<void>;
  let src: string;
  let tgt: string;
  const dir = tempDir('sr-remap');
  const storage = { backend: 'filesystem', path: join(dir, 'backups') };
  const topics = { avro: uniqueTopic('sr-avro'), proto: uniqueTopic('sr-proto'), json: uniqueTopic('sr-json') };
  const sourceIds: Record<string, number> = {};
  const produced = new Map<string, SpecRecord[]>();
  const password = `pw-${Math.random().toString(36).slice(2)}-secret`;
  let proxy: { url: string; close: () => void };
  const group = `g-${topics.json}`;

  before(async () => {
    release = await lockRegistries();
    ({ source: src, target: tgt } = await ensureSchemaRegistries());
    await resetRegistry(src);
    await resetRegistry(tgt);
    proxy = await authProxy(src, 'backup-user', password);
    // an unrelated schema first, so source ids do not start at 1
    await register(src, 'unrelated-value', JSON.stringify({ type: 'record', name: 'U', fields: [] }));
    sourceIds['money'] = await register(src, 'money', MONEY, 'PROTOBUF');
    await registryRequest(src, 'PUT', `/config/${topics.avro}-value`, { compatibility: 'NONE' });
    sourceIds['avro1'] = await register(src, `${topics.avro}-value`, AVRO_V1);
    sourceIds['avro2'] = await register(src, `${topics.avro}-value`, AVRO_V2);
    sourceIds['order'] = await register(src, `${topics.proto}-value`, ORDER, 'PROTOBUF', [
      { name: 'money.proto', subject: 'money', version: 1 },
    ]);
    sourceIds['okey'] = await register(src, `${topics.proto}-key`, AVRO_KEY);
    sourceIds['json'] = await register(src, `${topics.json}-value`, JSON_SCHEMA, 'JSON');

    // the avro topic's batches are stored zstd-compressed by the broker: the restore must
    // decompress, patch and recompress them; the others are patched in place
    await createTopic(topics.avro, { partitions: 2, configs: { 'compression.type': 'zstd' } });
    await createTopic(topics.proto);
    await createTopic(topics.json);
    const avro: SpecRecord[] = Array.from({ length: 300 }, (_, i) => ({
      partition: i % 2,
      key: `pay-${i}`,
      value: wire(i < 150 ? sourceIds['avro1']! : sourceIds['avro2']!, Buffer.from(`avro-bytes-${i}`)),
    }));
    const proto: SpecRecord[] = Array.from({ length: 120 }, (_, i) => ({
      partition: 0,
      key: wire(sourceIds['okey']!, Buffer.from(`k${i}`)),
      // message indexes [0] (one zero byte) follow the id
      value: i === 7 ? null : wire(sourceIds['order']!, Buffer.concat([Buffer.from([0]), Buffer.from(`order-${i}`)])),
      headers: [['trace', wire(sourceIds['order']!, Buffer.from('header values are not rewritten'))]],
    }));
    const json: SpecRecord[] = Array.from({ length: 80 }, (_, i) => ({
      partition: 0,
      key: null,
      value: wire(sourceIds['json']!, Buffer.from(JSON.stringify({ sku: `sku-${i}` }))),
    }));
    await produceSpec(topics.avro, avro);
    await produceSpec(topics.proto, proto);
    await produceSpec(topics.json, json);
    produced.set(topics.avro, avro);
    produced.set(topics.proto, proto);
    produced.set(topics.json, json);
    // a group that consumed part of a topic before the backup: its offsets are captured
    assert.equal((await consumeAsGroup(group, topics.json, 30)).length, 30);
  });

  after(async () => {
    proxy?.close();
    await release?.();
  });

  const passwordFile = join(dir, 'sr-password');
  const backupConfig = () => {
    writeFileSync(passwordFile, `${password}\n`);
    return writeConfig(dir, 'backup.yaml', {
      backup_id: 'sr',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: Object.values(topics) } },
      storage,
      backup: {
        schema_registry: {
          urls: ['http://127.0.0.1:1', proxy.url], // the first answers nothing: failover
          username: 'backup-user',
          password_file: passwordFile,
        },
      },
    });
  };
  const restoreConfig = (name: string, suffix: string, extra: Record<string, unknown> = {}) =>
    writeConfig(dir, `${name}.yaml`, {
      backup_id: 'sr',
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage,
      restore: {
        restore_id: name,
        topic_mapping: Object.fromEntries(Object.values(topics).map((t) => [t, `${t}-${suffix}`])),
        schema_registry: { url: tgt },
        ...extra,
      },
    });

  /** Source id → (schema, type, references) from the registries' own REST answers. */
  const schemaOf = async (url: string, id: number) => {
    const s = await registryRequest<SchemaAnswer>(url, 'GET', `/schemas/ids/${id}`);
    const refs = [];
    for (const r of s.references ?? []) {
      const v = await registryRequest<{ schema: string }>(url, 'GET', `/subjects/${r.subject}/versions/${r.version}`);
      refs.push({ name: r.name, subject: r.subject, schema: v.schema });
    }
    return { schema: s.schema, type: s.schemaType ?? 'AVRO', refs };
  };

  /**
   * Every restored record equals its source record except for the schema id of key and value,
   * and each id pair names the same schema on both registries. Returns the id pairs seen.
   */
  async function checkRestored(suffix: string): Promise<{ pairs: Map<number, number>; changedParts: number }> {
    const pairs = new Map<number, number>();
    let changedParts = 0;
    for (const t of Object.values(topics)) {
      const source = await dumpTopic(t);
      const restored = await dumpTopic(`${t}-${suffix}`);
      assert.equal(restored.length, source.length, `${t}: record count`);
      assert.equal(source.length, produced.get(t)!.length);
      const key = (r: DumpedRecord) => `${r.partition}/${r.offset}`;
      const byPos = new Map(restored.map((r) => [key(r), r]));
      for (const s of source) {
        const r = byPos.get(key(s));
        assert.ok(r, `${t} ${key(s)} restored at the same partition and offset`);
        for (const part of ['key', 'value'] as const) {
          const a = buf(s[part]);
          const b = buf(r[part]);
          if (a === null) {
            assert.equal(b, null, `${t} ${key(s)} ${part} stays null`);
            continue;
          }
          assert.ok(b);
          assert.equal(b.length, a.length);
          assert.deepEqual(b.subarray(5), a.subarray(5), `${t} ${key(s)} ${part}: payload unchanged`);
          assert.deepEqual(b.subarray(0, 1), a.subarray(0, 1));
          const from = idOf(a);
          if (from < 0) {
            assert.deepEqual(b, a, `${t} ${key(s)} ${part}: not in the wire format, unchanged`);
            continue;
          }
          const to = idOf(b);
          const known = pairs.get(from);
          if (known !== undefined) assert.equal(to, known, `${t} ${key(s)}: id ${from} always maps to one id`);
          pairs.set(from, to);
          if (to !== from) changedParts++;
        }
        assert.deepEqual(r.headers, s.headers, `${t} ${key(s)}: headers unchanged`);
        assert.equal(r.timestamp, s.timestamp);
      }
    }
    for (const [from, to] of pairs)
      assert.deepEqual(await schemaOf(tgt, to), await schemaOf(src, from), `source id ${from} → target id ${to}`);
    return { pairs, changedParts };
  }

  test('backup captures subjects, versions, ids, references and compatibility; describe lists them; secrets never printed', async () => {
    const r = await cli(['backup', '-c', backupConfig(), '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!`${r.stdout}${r.stderr}`.includes(password), 'the registry password is never printed');
    const d = await cli(['describe', '--path', storage.path, '--backup-id', 'sr', '--format', 'json']);
    assert.equal(d.code, 0, d.stderr);
    const desc = jsonOut<{
      schema_registry: { subjects: { subject: string; compatibility: string | null; versions: { id: number }[] }[] };
    }>(d);
    const subjects = Object.fromEntries(desc.schema_registry.subjects.map((s) => [s.subject, s]));
    assert.deepEqual(
      Object.keys(subjects).sort(),
      [`${topics.avro}-value`, `${topics.json}-value`, `${topics.proto}-key`, `${topics.proto}-value`, 'money'].sort(),
      "the topics' subjects and the referenced one, not the unrelated subject",
    );
    assert.deepEqual(
      subjects[`${topics.avro}-value`]!.versions.map((v) => v.id),
      [sourceIds['avro1'], sourceIds['avro2']],
    );
    assert.equal(subjects[`${topics.avro}-value`]!.compatibility, 'NONE');
    assert.deepEqual(
      subjects['money']!.versions.map((v) => v.id),
      [sourceIds['money']],
    );
    const text = await cli(['describe', '--path', storage.path, '--backup-id', 'sr']);
    assert.match(text.stdout, new RegExp(`${topics.proto}-value: v1 id ${sourceIds['order']} PROTOBUF`));
    const v = await cli(['validate', '--path', storage.path, '--backup-id', 'sr', '--deep', '--format', 'json']);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const rep = jsonOut<{ schema_ids: { records_scanned: number; unknown: unknown[] } }>(v);
    assert.equal(rep.schema_ids.records_scanned, 500);
    assert.deepEqual(rep.schema_ids.unknown, []);
  });

  test('dry run: shows what would be registered, registers nothing', async () => {
    const r = await cli(['restore', '-c', restoreConfig('dry', 'dry'), '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /schema registry \(remap_ids, dry run\): 0 schemas already on the target, 6 would be registered/,
    );
    assert.match(r.stdout, new RegExp(`would register money version 1 \\(source id ${sourceIds['money']}\\)`));
    assert.deepEqual(await registryRequest(tgt, 'GET', '/subjects'), []);
  });

  test('into the empty target registry: ids remapped, every record the same, consumer groups translated', async () => {
    const r = await cli([
      'restore',
      '-c',
      restoreConfig('empty', 'r1', { consumer_groups: [group] }),
      '--format',
      'json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = jsonOut<{
      schema_registry: {
        registered: number;
        reused: number;
        changed: { source: number; target: number }[];
        unknown_total: number;
        rewritten: number;
      };
      schema_id_map_key: string;
      consumer_groups: { counts: { set: number } };
    }>(r);
    assert.equal(out.schema_registry.registered, 6);
    assert.equal(out.schema_registry.unknown_total, 0);
    const { pairs, changedParts } = await checkRestored('r1');
    assert.equal(out.schema_registry.rewritten, changedParts, 'every changed key and value counted');
    assert.equal(pairs.size, 5, 'every id used by a record was seen');
    const artifact = JSON.parse(readFileSync(join(storage.path, out.schema_id_map_key), 'utf8')) as {
      ids: Record<string, number>;
      changed: { source: number; target: number }[];
    };
    for (const [from, to] of pairs) assert.equal(artifact.ids[String(from)], to, `id map: ${from}`);
    assert.deepEqual(
      [...artifact.changed].sort((a, b) => a.source - b.source),
      Object.entries(artifact.ids)
        .filter(([s, t]) => Number(s) !== t)
        .map(([s, t]) => ({ source: Number(s), target: t }))
        .sort((a, b) => a.source - b.source),
    );
    assert.ok(artifact.changed.length > 0, 'ids differ between the registries');
    // the subject's compatibility came along
    assert.deepEqual(await registryRequest(tgt, 'GET', `/config/${topics.avro}-value?defaultToGlobal=false`), {
      compatibilityLevel: 'NONE',
    });
    // the group resumes on the restored topic after the 30 records it consumed
    assert.ok(out.consumer_groups.counts.set > 0);
    const resumed = await consumeAsGroup(group, `${topics.json}-r1`, 50);
    assert.equal(resumed.length, 50);
    assert.equal(JSON.parse(buf(resumed[0]!.value)!.subarray(5).toString()).sku, 'sku-30');
  });

  test('into a target holding unrelated schemas under the same ids: ids differ, records still equal', async () => {
    await resetRegistry(tgt);
    const filler: number[] = [];
    for (let i = 0; i < 8; i++)
      filler.push(await register(tgt, `other-${i}`, JSON.stringify({ type: 'record', name: `Other${i}`, fields: [] })));
    for (const id of Object.values(sourceIds)) assert.ok(filler.includes(id), `target id ${id} is taken`);
    const r = await cli(['restore', '-c', restoreConfig('prefilled', 'r2'), '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const out = jsonOut<{ schema_id_map_key: string }>(r);
    const { pairs } = await checkRestored('r2');
    for (const [from, to] of pairs) {
      assert.notEqual(to, from, `id ${from} changed`);
      assert.ok(!filler.includes(to));
    }
    const artifact = JSON.parse(readFileSync(join(storage.path, out.schema_id_map_key), 'utf8')) as {
      changed: { source: number; target: number }[];
    };
    assert.equal(artifact.changed.length, 6, 'the id map lists every changed id');
    // a second restore reuses what is registered (lookup), registering nothing new
    const again = await cli(['restore', '-c', restoreConfig('prefilled-2', 'r3'), '--format', 'json']);
    assert.equal(again.code, 0, again.stderr);
    const o2 = jsonOut<{ schema_registry: { registered: number; reused: number } }>(again);
    assert.deepEqual([o2.schema_registry.registered, o2.schema_registry.reused], [0, 6]);
  });
});
