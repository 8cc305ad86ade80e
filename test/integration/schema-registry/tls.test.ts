/**
 * backup.schema_registry and restore.schema_registry over TLS, against the TLS test registries of
 * scripts/services (schema-registry: tls-source, a server certificate; mtls-target, which also
 * requires a client certificate signed by its CA). Backed up from the TLS registry trusting its CA
 * (tls.ca_file), restored with remap_ids into the mTLS registry with a client certificate whose
 * key is encrypted (tls.key_password_file): every record decodes there with the independent
 * codec to what was produced. Misconfigurations give one clear error naming the registry URL,
 * exit 1, no stack trace and no secret: a CA that did not sign the registry's certificate, no
 * client certificate for the mTLS registry, a wrong key password.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cli, jsonOut, writeConfig } from '../../helpers/cli.ts';
import { KAFKA_BOOTSTRAP } from '../../helpers/kafka.ts';
import {
  ensureSchemaRegistries,
  registryRequest,
  SR_MTLS_URL,
  SR_TLS_URL,
  srTlsFiles,
} from '../../helpers/schema-registry.ts';
import { decodeTopicWithRegistry } from '../../helpers/sr-codec.ts';
import { backedUpCodecLine, type CodecLine, restoreConfig as restoreConfigOf, views } from './codec-line.ts';

let line: CodecLine;
const certs = srTlsFiles();
const SR_PASSWORD = `sr-pw-${Math.random().toString(36).slice(2)}`;

before(async () => {
  await ensureSchemaRegistries();
  line = await backedUpCodecLine('sr-tls', {
    targets: [SR_MTLS_URL],
    partitions: 2,
    perFormat: 15,
    source: { url: SR_TLS_URL, config: { url: SR_TLS_URL, tls: { ca_file: certs.ca } } },
  });
});

after(async () => {
  await line?.close();
});

const keyPassword = () => readFileSync(certs.keyPassword, 'utf8').trim();

/** No stack trace, no secret, the URL named: what every misconfiguration must print. */
function assertCleanError(out: string, url: string): void {
  console.log(`# ${out.trim().replaceAll('\n', '\n# ')}`);
  assert.ok(out.includes(url), `names the registry URL ${url}:\n${out}`);
  assert.doesNotMatch(out, /\n\s+at .+:\d+:\d+/, `no stack trace:\n${out}`);
  assert.ok(!out.includes(keyPassword()), 'the key password is never printed');
  assert.ok(!out.includes(SR_PASSWORD), 'the registry password is never printed');
}

const restoreConfig = (name: string, tls: Record<string, unknown>) =>
  restoreConfigOf(line, name, { url: SR_MTLS_URL, strategy: 'remap_ids', tls });

test('TLS source (ca_file) → mTLS target (client certificate, encrypted key): every record decodes on the target', async () => {
  const r = await cli([
    'restore',
    '-c',
    restoreConfig('mtls', {
      ca_file: certs.ca,
      cert_file: certs.cert,
      key_file: certs.encryptedKey,
      key_password_file: certs.keyPassword,
    }),
    '--format',
    'json',
    '--log-level',
    'debug',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!`${r.stdout}${r.stderr}`.includes(keyPassword()), 'the key password is never printed');
  const out = jsonOut<{ schema_registry: { registered: number; rewritten: number } }>(r);
  assert.equal(out.schema_registry.registered, 5);
  // every subject is on the mTLS target, read back over mTLS by the test's own client
  const subjects = await registryRequest<string[]>(SR_MTLS_URL, 'GET', '/subjects');
  assert.deepEqual([...subjects].sort(), Object.values(line.schemas.subjects).sort());
  const decoded = await decodeTopicWithRegistry(KAFKA_BOOTSTRAP, `${line.topic}-mtls`, SR_MTLS_URL);
  assert.deepEqual(decoded.failures, []);
  assert.equal(decoded.records.size, line.expected.size);
  assert.deepEqual(views(decoded.records), views(line.expected));
});

test('a CA that did not sign the registry certificate: one clear error naming the URL, exit 1', async () => {
  const cfg = writeConfig(line.dir, 'wrong-ca.yaml', {
    backup_id: 'sr-tls-wrong-ca',
    source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [line.topic] } },
    storage: line.storage,
    backup: {
      schema_registry: { url: SR_TLS_URL, username: 'backup', password: SR_PASSWORD, tls: { ca_file: certs.otherCa } },
    },
  });
  const t0 = Date.now();
  const r = await cli(['backup', '-c', cfg]);
  assert.equal(r.code, 1, r.stderr);
  const out = `${r.stdout}${r.stderr}`;
  assertCleanError(out, SR_TLS_URL);
  assert.match(out, /TLS: (self[- ]signed certificate in certificate chain|unable to verify|unable to get)/i);
  assert.match(out, /set tls\.ca_file to the CA/);
  // a certificate problem is not retried with backoff 4 times
  assert.ok(Date.now() - t0 < 60_000, 'fails without the retry backoff');
});

test('the mTLS registry without a client certificate: a clear error naming the URL and the fix, exit 1', async () => {
  const r = await cli(['restore', '-c', restoreConfig('no-cert', { ca_file: certs.ca })]);
  assert.equal(r.code, 1, r.stderr);
  const out = `${r.stdout}${r.stderr}`;
  assertCleanError(out, SR_MTLS_URL);
  assert.match(out, /client certificate/);
  assert.match(out, /tls\.cert_file and tls\.key_file/);
});

test('a wrong key password: a clear error about key_password_file, the password not printed, exit 1', async () => {
  const wrong = join(line.dir, 'wrong-key.pass');
  const wrongPassword = `not-the-${keyPassword()}-${Math.random().toString(36).slice(2)}`;
  writeFileSync(wrong, wrongPassword, { mode: 0o600 });
  const r = await cli([
    'restore',
    '-c',
    restoreConfig('bad-pass', {
      ca_file: certs.ca,
      cert_file: certs.cert,
      key_file: certs.encryptedKey,
      key_password_file: wrong,
    }),
  ]);
  assert.equal(r.code, 1, r.stderr);
  const out = `${r.stdout}${r.stderr}`;
  assertCleanError(out, SR_MTLS_URL);
  assert.ok(!out.includes(wrongPassword), 'the wrong password is not printed either');
  assert.match(out, /key_password_file/);
});
