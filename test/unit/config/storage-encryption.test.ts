import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { parseConfig } from '../../../src/config/load.ts';
import { isSecretKey, REDACTED, redactConfig } from '../../../src/config/secrets.ts';
import { allText, configError, problemAt } from './helpers.ts';

const KEY = randomBytes(32).toString('base64');
const storage = (url: string, lines: string) => `backup_id: a\nstorage:\n  url: ${url}\n${lines}`;

test('each backend takes its storage-side encryption keys, from the environment', () => {
  const env = { K: KEY };
  const s3 = parseConfig(storage('s3://b/p', '  sse_customer_key: ${K}\n'), 'c.yaml', env);
  assert.equal(s3.storage?.sse_customer_key, KEY);
  const kms = parseConfig(storage('s3://b/p', '  sse: aws:kms\n  sse_kms_key_id: alias/backup\n'), 'c.yaml', {});
  assert.equal(kms.storage?.sse_kms_key_id, 'alias/backup');
  const az = parseConfig(storage('azure://acct/c/p', '  customer_provided_key: ${K}\n'), 'c.yaml', env);
  assert.equal(az.storage?.customer_provided_key, KEY);
  const scope = parseConfig(storage('azure://acct/c/p', '  encryption_scope: backups\n'), 'c.yaml', {});
  assert.equal(scope.storage?.encryption_scope, 'backups');
  const gcs = parseConfig(storage('gs://b/p', '  encryption_key: ${K}\n'), 'c.yaml', env);
  assert.equal(gcs.storage?.encryption_key, KEY);
  const cmek = parseConfig(
    storage('gs://b/p', '  kms_key_name: projects/p/locations/l/keyRings/r/cryptoKeys/k\n'),
    'c.yaml',
    {},
  );
  assert.equal(cmek.storage?.kms_key_name, 'projects/p/locations/l/keyRings/r/cryptoKeys/k');
});

test('a key that is not 256 bits of base64 is refused without showing it', () => {
  const short = randomBytes(16).toString('base64');
  const e = configError(() => parseConfig(storage('s3://b/p', '  sse_customer_key: ${K}\n'), 'c.yaml', { K: short }));
  assert.match(problemAt(e, 'storage.sse_customer_key'), /a 256-bit key in base64/);
  assert.ok(!allText(e).includes(short), allText(e));
});

test('settings that cannot go together, or belong to another backend, are refused', () => {
  const both = configError(() =>
    parseConfig(storage('s3://b/p', `  sse: AES256\n  sse_customer_key: ${KEY}\n`), 'c.yaml', {}),
  );
  assert.match(problemAt(both, 'storage.sse_customer_key'), /cannot be combined with sse/);
  const az = configError(() =>
    parseConfig(storage('azure://a/c/p', `  encryption_scope: s\n  customer_provided_key: ${KEY}\n`), 'c.yaml', {}),
  );
  assert.match(allText(az), /customer_provided_key and encryption_scope are both set/);
  const gcs = configError(() =>
    parseConfig(storage('gs://b/p', `  encryption_key: ${KEY}\n  kms_key_name: k\n`), 'c.yaml', {}),
  );
  assert.match(allText(gcs), /encryption_key and kms_key_name are both set/);
  const wrong = configError(() => parseConfig(storage('gs://b/p', '  encryption_scope: s\n'), 'c.yaml', {}));
  assert.match(problemAt(wrong, 'storage.encryption_scope'), /only used by the azure backend/);
  for (const e of [both, az, gcs]) assert.ok(!allText(e).includes(KEY));
});

test('the customer keys are secrets: redacted wherever a config is shown', () => {
  for (const k of ['sse_customer_key', 'customer_provided_key', 'encryption_key']) assert.ok(isSecretKey(k), k);
  for (const k of ['encryption_scope', 'kms_key_name', 'sse_kms_key_id']) assert.ok(!isSecretKey(k), k);
  const shown = redactConfig({ storage: { sse_customer_key: KEY, encryption_key: KEY, customer_provided_key: KEY } });
  assert.deepEqual(shown, {
    storage: { sse_customer_key: REDACTED, encryption_key: REDACTED, customer_provided_key: REDACTED },
  });
});
