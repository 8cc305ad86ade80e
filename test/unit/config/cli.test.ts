// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests are about literal ${VAR} text in config files
/** `kafka-backup config validate` as a user runs it: a real process, stderr text and exit codes. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../helpers/cli.ts';
import { FULL } from './fixtures.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const dir = tempDir('config-cli');

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function run(args: string[], env: Record<string, string> = {}) {
  const cleanEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('KB_TEST_')) cleanEnv[k] = v;
  const r = spawnSync(process.execPath, ['src/cli/main.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...cleanEnv, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertNoStack(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace without --debug');
  assert.doesNotMatch(stderr, /this is unexpected/);
}

test('missing file: exit 2, not found, fix line', () => {
  const r = run(['config', 'validate', '-c', './no-such-config.yaml']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error: config file \.\/no-such-config\.yaml not found$/m);
  assert.match(r.stderr, /^ {2}fix: check the path/m);
  assert.equal(r.stdout, '');
  assertNoStack(r.stderr);
});

test('malformed YAML: exit 2 with line and column', () => {
  const p = write('bad.yaml', 'backup_id: x\nsource:\n  bootstrap_servers: [a:1\n');
  const r = run(['config', 'validate', '-c', p]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`^error: config file ${p.replaceAll('.', '\\.')} is not valid YAML$`, 'm'));
  assert.match(r.stderr, /^ {2}- line \d+, column \d+: /m);
  assertNoStack(r.stderr);
});

test('unknown key: exit 2 with the key path and a suggestion', () => {
  const p = write('unknown.yaml', 'backup_id: x\nbackup:\n  bach_size: 10\n');
  const r = run(['config', 'validate', '-c', p]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /has 1 problem$/m);
  assert.match(r.stderr, /^ {2}- backup\.bach_size: unknown key; did you mean 'batch_size'\?$/m);
  assert.match(r.stderr, /^ {2}fix: see docs\/configuration\.md/m);
  assertNoStack(r.stderr);
});

test('wrong type: exit 2 with expected, found and value', () => {
  const p = write('type.yaml', 'backup:\n  batch_size: ten\n');
  const r = run(['config', 'validate', '-c', p]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^ {2}- backup\.batch_size: expected an integer, found a string \(got "ten"\)$/m);
  assertNoStack(r.stderr);
});

test('missing environment variable: exit 2 naming the variable and the key', () => {
  const p = write(
    'env.yaml',
    'storage:\n  url: s3://b/p\n  access_key_id: k\n  secret_access_key: ${KB_TEST_S3_SECRET}\n',
  );
  const r = run(['config', 'validate', '-c', p]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^ {2}- storage\.secret_access_key uses \$\{KB_TEST_S3_SECRET\}, which is not set; export it or write \$\{KB_TEST_S3_SECRET:-default\}$/m,
  );
  assertNoStack(r.stderr);
});

test('--debug adds the stack trace', () => {
  const r = run(['--debug', 'config', 'validate', '-c', './no-such-config.yaml']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^\s+at /m);
});

test('valid file: exit 0, effective config with secrets redacted, memory estimate', () => {
  const p = write('ok.yaml', FULL.replace('"wJalrXUtnFEMI-secret"', '${KB_TEST_SECRET}'));
  const r = run(['config', 'validate', '-c', p], { KB_TEST_SECRET: 'from-env-SECRET-value' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /is valid/);
  assert.match(r.stdout, /secret_access_key: "\[redacted\]"/);
  assert.match(r.stdout, /password: "\[redacted\]"/);
  assert.match(r.stdout, /batch_size: 5000/);
  assert.match(r.stdout, /memory estimate \(max_memory_bytes = 512 MiB\)/);
  assert.match(r.stdout, /backup\.max_concurrent_partitions × 2 × backup\.max_batch_bytes = 8 × 2 × 2097152/);
  for (const secret of ['from-env-SECRET-value', 's3cr3t-pw'])
    assert.ok(!r.stdout.includes(secret), `${secret} leaked`);
});

test('valid file as JSON and YAML', () => {
  const p = write('ok2.yaml', FULL);
  const json = run(['config', 'validate', '-c', p, '--format', 'json']);
  assert.equal(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout) as {
    valid: boolean;
    config: {
      storage: { secret_access_key: string; backend: string };
      source: { security: { sasl: { password: string } } };
    };
    memory: { operation: string; total_bytes: number; fits: boolean }[];
  };
  assert.equal(doc.valid, true);
  assert.equal(doc.config.storage.secret_access_key, '[redacted]');
  assert.equal(doc.config.storage.backend, 's3');
  assert.equal(doc.config.source.security.sasl.password, '[redacted]');
  assert.deepEqual(
    doc.memory.map((m) => [m.operation, m.fits]),
    [
      ['backup', true],
      ['restore', true],
    ],
  );
  const yaml = run(['config', 'validate', '-c', p, '--format', 'yaml']);
  assert.equal(yaml.code, 0);
  assert.match(yaml.stdout, /^valid: true$/m);
  assert.ok(!yaml.stdout.includes('wJalrXUtnFEMI-secret'));
});

test('--for checks the sections a command needs', () => {
  const p = write('partial.yaml', 'backup_id: x\nstorage: { path: /tmp/kb }\n');
  const r = run(['config', 'validate', '-c', p, '--for', 'backup']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error: the backup command needs source in the config file$/m);
  assert.match(r.stderr, /bootstrap_servers/);
  assertNoStack(r.stderr);
});

test('missing -c is a usage error', () => {
  const r = run(['config', 'validate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /required option '-c, --config <file>' not specified/);
});
