/**
 * A reader that knows a line must be encrypted is not fooled by an unencrypted line put in its
 * place. The encrypted fixture (test/fixtures/encrypted-line) is copied to local disk; someone who
 * can write the storage deletes it, key slots included, and backs up a topic of their own in clear
 * under the same backup_id. Without a requirement readers take the clear line, as
 * docs/security.md says; with `backup.encryption.enabled` in the restore's config, or
 * KB_ENCRYPTION_REQUIRED=1 for the commands that take --path, every command refuses it (exit 2,
 * NOT_ENCRYPTED), writes nothing and creates no topic.
 */
import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CliResult, cli, tempDir, writeConfig } from '../../helpers/cli.ts';
import {
  createTopic,
  deleteTopics,
  KAFKA_BOOTSTRAP,
  produceWithPerf,
  REPO_ROOT,
  uniqueTopic,
  withAdmin,
} from '../../helpers/kafka.ts';

const FIXTURE = join(REPO_ROOT, 'test/fixtures/encrypted-line/store');
const KEY_2 = 'f0e0d0c0b0a090807060504030201000ffeeddccbbaa99887766554433221100';

/** Every file of the store and its bytes, to show a refused command wrote nothing. */
function contents(dir: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (f.isFile()) {
      const path = join(f.parentPath, f.name);
      m.set(relative(dir, path), readFileSync(path).toString('base64'));
    }
  return m;
}

async function topicExists(name: string): Promise<boolean> {
  return withAdmin(async (a) => (await a.listTopics()).includes(name));
}

function assertRefused(r: CliResult, what: string): void {
  const out = r.stdout + r.stderr;
  assert.equal(r.code, 2, `${what}: exit 2\n${out}`);
  assert.match(out, /backup line encfx .* exists and is not encrypted/, what);
  assert.match(out, /encfx\/keys/, `${what} says where the key slots were looked for`);
  assert.equal(out.includes(KEY_2), false, `${what}: the key never reaches the output`);
}

describe('a clear line in place of an encrypted one', { timeout: 600_000 }, () => {
  let dir: string;
  let store: string;
  let keyFile: string;
  let planted: string;
  const restored: string[] = [];
  const env = () => ({ KB_ENCRYPTION_KEY: KEY_2 });
  /** A backup of the planted topic to line encfx of the store, with `backup` settings if given. */
  const backupOfPlanted = (file: string, backup?: Record<string, unknown>) =>
    cli([
      'backup',
      '-c',
      writeConfig(dir, file, {
        backup_id: 'encfx',
        source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [planted] } },
        storage: { backend: 'filesystem', path: store },
        ...(backup ? { backup } : {}),
      }),
    ]);

  before(async () => {
    dir = tempDir('required');
    store = join(dir, 'store');
    cpSync(FIXTURE, store, { recursive: true });
    keyFile = join(dir, 'line.key');
    writeFileSync(keyFile, KEY_2);
    const v = await cli(['validate', '--path', store, '--backup-id', 'encfx'], env());
    assert.equal(v.code, 0, `the copied fixture validates: ${v.stdout}${v.stderr}`);

    // the replacement: the encrypted line deleted with its key slots, a clear one backed up in its place
    rmSync(join(store, 'encfx'), { recursive: true });
    planted = await createTopic(uniqueTopic('required-planted'), { partitions: 2 });
    await produceWithPerf(planted, 200, 100);
    const b = await backupOfPlanted('planted-backup.yaml');
    assert.equal(b.code, 0, `the clear backup: ${b.stdout}${b.stderr}`);
    assert.equal(readdirSync(join(store, 'encfx')).includes('keys'), false, 'the planted line has no key slots');
  });

  after(() => deleteTopics([planted, ...restored].filter(Boolean)));

  test('without a requirement, readers take it (the documented limit)', async () => {
    const v = await cli(['validate', '--path', store, '--backup-id', 'encfx', '--deep'], env());
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  test('KB_ENCRYPTION_REQUIRED=1: list, describe, validate, status and offsets plan refuse it', async () => {
    const path = ['--path', store, '--backup-id', 'encfx'];
    const commands: [string, string[]][] = [
      ['list', ['list', '--path', store]],
      ['describe', ['describe', ...path]],
      ['validate', ['validate', ...path, '--deep']],
      ['status', ['status', ...path]],
      ['offsets plan', ['offsets', 'plan', ...path, '--bootstrap', KAFKA_BOOTSTRAP, '--groups', 'required-group']],
    ];
    for (const [what, args] of commands) {
      const before = contents(store);
      assertRefused(await cli(args, { ...env(), KB_ENCRYPTION_REQUIRED: '1' }), what);
      assert.deepEqual(contents(store), before, `${what} wrote nothing`);
    }
  });

  test('restore with backup.encryption.enabled: refused before any topic is created', async () => {
    const target = uniqueTopic('required-restored');
    restored.push(target);
    const before = contents(store);
    const r = await cli([
      'restore',
      '-c',
      writeConfig(dir, 'restore.yaml', {
        backup_id: 'encfx',
        target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
        storage: { backend: 'filesystem', path: store },
        backup: { encryption: { enabled: true, provider: 'raw', key_file: keyFile } },
        restore: { topic_mapping: { [planted]: target } },
      }),
    ]);
    assertRefused(r, 'restore');
    assert.deepEqual(contents(store), before, 'restore wrote nothing');
    assert.equal(await topicExists(target), false, 'no topic created');
  });

  test('an encrypted backup with the same config does not write into it', async () => {
    const before = contents(store);
    const r = await backupOfPlanted('encrypted-backup.yaml', {
      encryption: { enabled: true, provider: 'raw', key_file: keyFile },
    });
    assertRefused(r, 'backup');
    assert.deepEqual(contents(store), before, 'backup wrote nothing');
  });
});
