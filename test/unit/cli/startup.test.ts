/**
 * Start-up loads only what a command uses: --version, --help and `config validate` must not load
 * the Kafka client, prom-client or any storage SDK (issue 17 item 4). Each case runs the real CLI
 * with a preload that records every module loaded (test/helpers/record-loads.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from '../../helpers/cli.ts';
import { FULL } from '../config/fixtures.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const dir = tempDir('startup');
after(() => rmSync(dir, { recursive: true, force: true }));
let runs = 0;

function loadedBy(args: string[]): { code: number | null; stderr: string; modules: string[] } {
  const out = join(dir, `loads-${++runs}.txt`);
  const r = spawnSync(
    process.execPath,
    ['--import', join(ROOT, 'test/helpers/record-loads.ts'), join(ROOT, 'src/cli/main.ts'), ...args],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, KB_RECORD_LOADS: out } },
  );
  return { code: r.status, stderr: r.stderr, modules: readFileSync(out, 'utf8').split('\n').filter(Boolean) };
}

const HEAVY = /\/node_modules\/(@platformatic\/kafka|prom-client|@aws-sdk|@smithy|@azure|@google-cloud)\//;
const heavy = (modules: string[]) => [...new Set(modules.filter((u) => HEAVY.test(u)).map((u) => HEAVY.exec(u)![1]))];

test('the recorder sees the Kafka client when a command does load it', () => {
  // validate reads data files, whose codecs come from the Kafka client; an empty location
  // fails after the engine is loaded, which is all this needs.
  const r = loadedBy(['validate', '--path', dir, '--backup-id', 'none']);
  assert.notEqual(r.code, 0);
  assert.ok(heavy(r.modules).includes('@platformatic/kafka'), 'record-loads must see @platformatic/kafka');
});

test('--version loads only the version: not even the program (commander, the commands, the config schema)', () => {
  const r = loadedBy(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(
    r.modules.some((u) => u.endsWith('/src/version.ts')),
    'the recorder saw the version load',
  );
  assert.deepEqual(
    r.modules.filter((u) => u.includes('/node_modules/') || /\/src\/(cli\/program|config)\//.test(u)),
    [],
  );
});

for (const args of [['--help'], ['offsets', '--help'], ['restore', '--help']]) {
  test(`${args.join(' ')} loads no Kafka client, prom-client or storage SDK`, () => {
    const r = loadedBy(args);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      r.modules.some((u) => u.includes('/node_modules/commander/')),
      'the recorder saw the CLI load',
    );
    assert.deepEqual(heavy(r.modules), []);
  });
}

test('config validate loads no Kafka client, prom-client or storage SDK', () => {
  const config = join(dir, 'full.yaml');
  writeFileSync(config, FULL);
  const r = loadedBy(['config', 'validate', '-c', config]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(heavy(r.modules), []);
});
