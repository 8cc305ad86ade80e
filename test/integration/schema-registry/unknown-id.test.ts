/**
 * A record whose schema id is not in the backup's registry capture (written with a schema that
 * was never in the source registry, or deleted before the capture): validate --deep names it
 * (exit 3), restore with on_unknown_id: fail stops on it (exit 3), with pass_through restores it
 * unchanged and counts it. The target registry sits behind a bearer-token check here, and the
 * token never appears in any output. The line is encrypted: the capture is stored sealed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cli, jsonOut, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, uniqueTopic } from '../../helpers/kafka.ts';
import { dumpTopic, produceSpec } from '../../helpers/peers.ts';
import {
  ensureSchemaRegistries,
  lockRegistries,
  registryRequest,
  resetRegistry,
} from '../../helpers/schema-registry.ts';

const wire = (id: number, payload: string) => {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(id, 1);
  return Buffer.concat([h, Buffer.from(payload)]);
};
const idOf = (field: string | null) => (field === null ? -1 : Buffer.from(field, 'base64').readUInt32BE(1));

describe('schema registry: ids missing from the capture', { timeout: 600_000 }, () => {
  let release: () => Promise<void>;
  let src: string;
  let tgt: string;
  let server: http.Server;
  let guarded: string;
  const token = `tok-${Math.random().toString(36).slice(2)}-secret`;
  const dir = tempDir('sr-unknown');
  const storage = { backend: 'filesystem', path: join(dir, 'backups') };
  const topic = uniqueTopic('sr-unknown');
  let sourceId = 0;
  const keyFile = join(dir, 'line.key');
  const withKey = (env: Record<string, string> = {}) => ({ KB_ENCRYPTION_KEY_FILE: keyFile, ...env });

  before(async () => {
    release = await lockRegistries();
    ({ source: src, target: tgt } = await ensureSchemaRegistries());
    await resetRegistry(src);
    await resetRegistry(tgt);
    // the target's ids differ from the source's: one unrelated schema there first
    await registryRequest(tgt, 'POST', '/subjects/x-value/versions', { schema: '"int"' });
    await registryRequest(src, 'POST', '/subjects/y-value/versions', { schema: '"long"' });
    await registryRequest(src, 'POST', '/subjects/z-value/versions', { schema: '"boolean"' });
    sourceId = (
      await registryRequest<{ id: number }>(src, 'POST', `/subjects/${topic}-value/versions`, { schema: '"string"' })
    ).id;
    server = http.createServer((req, res) => {
      if (req.headers.authorization !== `Bearer ${token}`) {
        res.writeHead(401).end('{"error_code":40101,"message":"unauthorized"}');
        return;
      }
      const up = http.request(`${tgt}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    guarded = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await createTopic(topic);
    await produceSpec(
      topic,
      Array.from({ length: 20 }, (_, i) => ({
        partition: 0,
        key: `k${i}`,
        value: wire(i === 10 ? 999 : sourceId, `v${i}`),
      })),
    );
    const backup = writeConfig(dir, 'backup.yaml', {
      backup_id: 'unk',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage,
      backup: {
        schema_registry: { url: src },
        encryption: { enabled: true, provider: 'raw', key_file: keyFile },
      },
    });
    writeFileSync(keyFile, randomBytes(32).toString('hex'));
    const r = await cli(['backup', '-c', backup]);
    assert.equal(r.code, 0, r.stderr);
  });

  after(async () => {
    server?.close();
    await release?.();
  });

  const restore = (name: string, onUnknown: 'fail' | 'pass_through') =>
    writeConfig(dir, `${name}.yaml`, {
      backup_id: 'unk',
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage,
      restore: {
        restore_id: name,
        topic_mapping: { [topic]: `${topic}-${name}` },
        schema_registry: { url: guarded, token: '${SR_TOKEN}', on_unknown_id: onUnknown },
      },
    });

  test('the capture is sealed like the other metadata of an encrypted line', () => {
    const captureDir = join(storage.path, 'unk', 'schema-registry');
    const [snapshot] = readdirSync(captureDir);
    const [file] = readdirSync(join(captureDir, snapshot!));
    const bytes = readFileSync(join(captureDir, snapshot!, file!));
    assert.equal(bytes.subarray(0, 5).toString('latin1'), 'KBENC');
    assert.ok(!bytes.includes(Buffer.from(`${topic}-value`)), 'no subject name in clear');
  });

  test('validate --deep names the partition, offsets and id; exit 3', async () => {
    const r = await cli(['validate', '--path', storage.path, '--backup-id', 'unk', '--deep'], withKey());
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `1 record value\\(s\\) of ${topic}-0 at offsets 10\\.\\.10 carry schema id 999, which the schema registry capture`,
      ),
    );
  });

  test('on_unknown_id: fail stops the restore naming the record; exit 3', async () => {
    const r = await cli(['restore', '-c', restore('fail', 'fail')], withKey({ SR_TOKEN: token }));
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`record ${topic}-0 offset 10 carries schema id 999`));
    assert.ok(!`${r.stdout}${r.stderr}`.includes(token), 'the token is never printed');
  });

  test('on_unknown_id: pass_through restores it unchanged and counts it; the token is never shown', async () => {
    const r = await cli(
      ['restore', '-c', restore('pass', 'pass_through'), '--format', 'json'],
      withKey({ SR_TOKEN: token }),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!`${r.stdout}${r.stderr}`.includes(token), 'the token is never printed');
    const out = jsonOut<{
      schema_registry: { unknown_total: number; unknown_ids: Record<string, number>; rewritten: number };
    }>(r);
    assert.equal(out.schema_registry.unknown_total, 1);
    assert.deepEqual(out.schema_registry.unknown_ids, { '999': 1 });
    assert.equal(out.schema_registry.rewritten, 19);
    const restored = await dumpTopic(`${topic}-pass`);
    assert.equal(restored.length, 20);
    const targetId = (
      await registryRequest<{ id: number }>(tgt, 'POST', `/subjects/${topic}-value`, { schema: '"string"' })
    ).id;
    assert.notEqual(targetId, sourceId);
    for (const rec of restored)
      assert.equal(idOf(rec.value), rec.offset === 10 ? 999 : targetId, `offset ${rec.offset}`);
    const shown = await cli(['config', 'validate', '-c', restore('pass', 'pass_through')], { SR_TOKEN: token });
    assert.equal(shown.code, 0, shown.stderr);
    assert.ok(!`${shown.stdout}${shown.stderr}`.includes(token), 'config validate redacts the token');
    assert.match(shown.stdout, /token: .*redacted/);
  });
});
