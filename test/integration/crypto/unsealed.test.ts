/**
 * A clear object planted in an encrypted line is never trusted. The line is the encrypted fixture
 * (test/fixtures/encrypted-line, every metadata object sealed since encryption version 1), copied
 * to local disk and to moto S3. For each kind of metadata object, the sealed object is replaced
 * by its own plaintext (a valid object a reader would accept on an unencrypted line), written
 * raw to the storage the way anyone with write access to the bucket could; every command that
 * reads it exits 3 naming it (OBJECT_NOT_SEALED), and the storage is left exactly as it was
 * (the backup's lease and probe objects are released) and the restore's target topic not created.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decryptObject } from '../../../src/crypto/object.ts';
import { withEncryption } from '../../../src/crypto/storage.ts';
import { encodeV2 } from '../../../src/format/line-v2.ts';
import type { StorageBackend } from '../../../src/storage/backend.ts';
import { openStorageUrl } from '../../../src/storage/open.ts';
import { type CliResult, cli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { cliBackends } from '../../helpers/cli-backends.ts';
import { KAFKA_BOOTSTRAP, REPO_ROOT, uniqueTopic, withAdmin } from '../../helpers/kafka.ts';

const FIXTURE = join(REPO_ROOT, 'test/fixtures/encrypted-line/store');
const KEY_2 = 'f0e0d0c0b0a090807060504030201000ffeeddccbbaa99887766554433221100';
const TOPIC = 'encfx-orders-mx5fqfyr';
const CHUNKS = `encfx/chunks/${TOPIC}.7148cf13-4ca6-4d0f-8f01-50c4888e9814`;
const INDEX = `encfx/index/0000000004/${TOPIC}.7148cf13-4ca6-4d0f-8f01-50c4888e9814.json.zst`;

type Command = 'list' | 'describe' | 'validate' | 'status' | 'restore' | 'backup' | 'offsets';

interface Plant {
  kind: string;
  key: string;
  /** Other objects changed with it, as an attacker would (the head is clear by design). */
  also?: (b: Bed) => Promise<void>;
  /** A clear object of this kind where there was none (nothing to decrypt). */
  body?: () => Buffer;
  readers: Command[];
}

const PLANTS: Plant[] = [
  {
    kind: 'commit',
    key: 'encfx/log/0000000004.json.zst',
    // the head (clear, a hint) pointed back at checkpoint 2, so every reader reads commits 3 and 4
    also: (b) =>
      b.raw.put(
        'encfx/head.json',
        encodeV2({
          format: 'kafka-backup/head',
          version: 2,
          backup_id: 'encfx',
          checkpoint: 2,
          updated_at: new Date().toISOString(),
        }),
      ),
    readers: ['list', 'describe', 'validate', 'status', 'restore', 'backup'],
  },
  {
    kind: 'checkpoint',
    key: 'encfx/checkpoints/0000000004.json.zst',
    readers: ['list', 'describe', 'validate', 'status', 'restore', 'backup'],
  },
  { kind: 'topic index', key: INDEX, readers: ['list', 'describe', 'validate', 'status', 'restore', 'backup'] },
  {
    kind: 'chunk',
    key: `${CHUNKS}/0/00000000000000000020-L0-0000000004.json.zst`,
    readers: ['validate', 'restore'],
  },
  {
    kind: 'consumer-offset capture',
    key: 'encfx/consumer-offsets/20261202T011656Z-a60ed3/2026-12-02T011656911Z.json',
    readers: ['validate', 'offsets'],
  },
  {
    kind: 'maintenance record',
    key: 'encfx/maintenance.json',
    body: () => Buffer.from(JSON.stringify({ last_prune: { at: new Date().toISOString(), run_id: 'planted' } })),
    readers: ['status', 'validate'],
  },
  {
    kind: 'schema registry capture',
    key: 'encfx/schema-registry/20261202T011656Z-a60ed3/2026-12-02T011656911Z.json',
    body: () => Buffer.from(JSON.stringify({ format: 'kafka-backup/schema-registry', version: 1, subjects: [] })),
    readers: ['validate'],
  },
  {
    kind: 'restore state',
    key: 'encfx/restores/planted-restore/plan.json',
    body: () => Buffer.from(JSON.stringify({ restore_id: 'planted-restore', backup_id: 'encfx', topics: {} })),
    readers: ['status', 'validate'],
  },
];

interface Bed {
  url: string;
  env: NodeJS.ProcessEnv;
  storage: Record<string, unknown>;
  raw: StorageBackend;
  dir: string;
  keyFile: string;
}

async function contents(raw: StorageBackend): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const o of raw.list('encfx/'))
    out.set(
      o.key,
      createHash('sha256')
        .update(await raw.get(o.key))
        .digest('hex'),
    );
  return out;
}

async function topicExists(name: string): Promise<boolean> {
  return withAdmin(async (a) => (await a.listTopics({ includeInternals: false })).includes(name));
}

async function run(b: Bed, command: Command, target: string): Promise<CliResult> {
  const path = ['--path', b.url, '--backup-id', 'encfx'];
  const env = { ...b.env, KB_ENCRYPTION_KEY: KEY_2 };
  const encryption = { provider: 'raw', key_file: b.keyFile };
  switch (command) {
    case 'list':
      return cli(['list', '--path', b.url], env);
    case 'describe':
      return cli(['describe', ...path], env);
    case 'validate':
      return cli(['validate', ...path, '--deep'], env);
    case 'status':
      return cli(['status', ...path], env);
    case 'offsets':
      return cli(['offsets', 'plan', ...path, '--bootstrap', KAFKA_BOOTSTRAP, '--groups', 'encfx-group'], env);
    case 'restore':
      return cli(
        [
          'restore',
          '-c',
          writeConfig(b.dir, 'restore.yaml', {
            backup_id: 'encfx',
            target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
            storage: b.storage,
            backup: { encryption },
            restore: { topic_mapping: { [TOPIC]: target } },
          }),
        ],
        b.env,
      );
    case 'backup':
      return cli(
        [
          'backup',
          '-c',
          writeConfig(b.dir, 'backup.yaml', {
            backup_id: 'encfx',
            source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [TOPIC] } },
            storage: b.storage,
            backup: { encryption: { enabled: true, ...encryption } },
          }),
        ],
        b.env,
      );
  }
}

for (const backend of cliBackends('kb-unsealed', 'kafka/enc').filter((x) => ['filesystem', 's3'].includes(x.name))) {
  describe(`clear objects planted in an encrypted line (${backend.name})`, { timeout: 900_000 }, () => {
    let b: Bed;
    let sealed: StorageBackend;

    before(async () => {
      const dir = tempDir(`unsealed-${backend.name}`);
      const storage = await backend.storage();
      Object.assign(process.env, backend.env);
      const raw = await openStorageUrl(
        backend.url(storage),
        backend.name === 'filesystem' ? {} : { endpoint: String(storage['endpoint']) },
      );
      for (const f of readdirSync(FIXTURE, { recursive: true, withFileTypes: true }))
        if (f.isFile()) {
          const path = join(f.parentPath, f.name);
          await raw.put(relative(FIXTURE, path), readFileSync(path));
        }
      const keyFile = join(dir, 'line.key');
      writeFileSync(keyFile, KEY_2);
      b = { url: backend.url(storage), env: backend.env, storage, raw, dir, keyFile };
      sealed = withEncryption(raw, { source: { type: 'raw', key: Buffer.from(KEY_2, 'hex'), from: 'test' } });
      const v = await run(b, 'validate', '');
      assert.equal(v.code, 0, `the copied fixture validates: ${v.stdout}${v.stderr}`);
    });

    after(() => b?.raw.close());

    test('restore state at a separate restore.state_url: refused by status --state-path', async () => {
      const stateDir = join(b.dir, 'restore-state');
      const state = await openStorageUrl(`file://${stateDir}`);
      const key = 'encfx/restores/planted-restore/plan.json';
      await state.put(key, Buffer.from(JSON.stringify({ restore_id: 'planted-restore', backup_id: 'encfx' })));
      const before = await contents(b.raw);
      const r = await cli(
        [
          'status',
          '--path',
          b.url,
          '--backup-id',
          'encfx',
          '--state-path',
          stateDir,
          '--restore-id',
          'planted-restore',
        ],
        { ...b.env, KB_ENCRYPTION_KEY: KEY_2 },
      );
      const out = r.stdout + r.stderr;
      assert.equal(r.code, 3, out);
      assert.ok(out.includes(key), out);
      assert.match(out, /is not encrypted, but backup line encfx is/);
      assert.deepEqual(await contents(b.raw), before, 'nothing written to the backup location');
      const left: string[] = [];
      for await (const o of state.list('')) left.push(o.key);
      assert.deepEqual(left, [key], 'nothing written to the state location');
      await state.close();
    });

    for (const p of PLANTS)
      test(`${p.kind}: refused by ${p.readers.join(', ')}`, async () => {
        const original = await b.raw.get(p.key).catch(() => null);
        const head = await b.raw.get('encfx/head.json');
        let clear: Buffer;
        if (p.body) clear = p.body();
        else {
          assert.ok(original, `${p.key} is in the fixture`);
          await sealed.get(p.key); // unlocks the line in this process
          clear = p.key.endsWith('.json.zst') ? decryptObject(p.key, original) : await sealed.get(p.key);
        }
        assert.ok(!clear.subarray(0, 5).equals(Buffer.from('KBENC')), 'the planted object is clear');
        await b.raw.put(p.key, clear);
        await p.also?.(b);
        try {
          for (const command of p.readers) {
            const before = await contents(b.raw);
            const target = uniqueTopic('unsealed-restored');
            const r = await run(b, command, target);
            const out = r.stdout + r.stderr;
            assert.equal(r.code, 3, `${command}: exit 3\n${out}`);
            assert.ok(out.includes(p.key), `${command} names ${p.key}\n${out}`);
            assert.match(out, /is not encrypted, but backup line encfx is/, command);
            assert.deepEqual(await contents(b.raw), before, `${command} wrote nothing`);
            if (command === 'restore') assert.equal(await topicExists(target), false, 'no topic created');
          }
        } finally {
          if (original) await b.raw.put(p.key, original);
          else await b.raw.delete(p.key);
          await b.raw.put('encfx/head.json', head);
        }
        const v = await run(b, 'validate', '');
        assert.equal(v.code, 0, `the original restored validates again: ${v.stdout}${v.stderr}`);
      });
  });
}
