// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests are about literal ${VAR} text in config files
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { substituteEnv, substituteString } from '../../../src/config/env.ts';
import { parseConfig } from '../../../src/config/load.ts';
import { MINIMAL } from './fixtures.ts';
import { allText, configError, problemAt } from './helpers.ts';

test('substituteString: value, default, empty uses default, escape, lone $', () => {
  const env = { A: 'alpha', EMPTY: '' };
  assert.equal(substituteString('x-${A}-y', env).value, 'x-alpha-y');
  assert.equal(substituteString('${B:-beta}', env).value, 'beta');
  assert.equal(substituteString('${A:-beta}', env).value, 'alpha');
  assert.equal(substituteString('${EMPTY:-dflt}', env).value, 'dflt');
  assert.equal(substituteString('${B:-}', env).value, '');
  assert.equal(substituteString('$${A} and ${A}', env).value, '${A} and alpha');
  assert.equal(substituteString('cost $5 $A', env).value, 'cost $5 $A');
  assert.equal(substituteString('${B:-a:-b}', env).value, 'a:-b');
  assert.deepEqual(substituteString('${NOPE}${ALSO}', env).missing, ['NOPE', 'ALSO']);
  assert.deepEqual(substituteString('${1BAD}', env).malformed, ['${1BAD}']);
  assert.deepEqual(substituteString('abc${OPEN', env).malformed, ['${OPEN']);
});

test('substituteEnv: values only, never keys, with paths', () => {
  const r = substituteEnv({ '${K}': '${V}', list: ['${V}', 1, true, null] }, { K: 'key', V: 'val' });
  assert.deepEqual(r.value, { '${K}': 'val', list: ['val', 1, true, null] });
  assert.deepEqual(r.substitutedPaths, [['${K}'], ['list', 0]]);
  assert.deepEqual(r.problems, []);
});

test('config: substitution with defaults and escapes, numbers and booleans coerced where the schema wants them', () => {
  const text = `backup_id: \${LINE:-orders}
source:
  bootstrap_servers: ["\${KAFKA_HOST}:9092"]
  client_id: "$\${literal}"
storage:
  path: \${HOME_DIR}/backups
backup:
  batch_size: \${BATCH}
  allow_empty: \${ALLOW:-false}
`;
  const c = parseConfig(text, 'e.yaml', { KAFKA_HOST: 'kafka-1', HOME_DIR: '/srv', BATCH: '500', ALLOW: 'true' });
  assert.equal(c.backup_id, 'orders');
  assert.deepEqual(c.source?.bootstrap_servers, ['kafka-1:9092']);
  assert.equal(c.source?.client_id, '${literal}');
  assert.equal(c.storage?.path, '/srv/backups');
  assert.equal(c.backup.batch_size, 500);
  assert.equal(c.backup.allow_empty, true);
});

test('a substituted string that is not a number stays a type error', () => {
  const e = configError(() => parseConfig(MINIMAL + 'backup:\n  batch_size: ${BATCH}\n', 'e.yaml', { BATCH: 'lots' }));
  assert.equal(
    problemAt(e, 'backup.batch_size'),
    'backup.batch_size: expected an integer, found a string (got "lots")',
  );
});

test('missing variables: every one named with its key path, no default → error', () => {
  const text = `backup_id: a
source:
  bootstrap_servers: ["\${KAFKA_HOST}:9092", "\${KAFKA_HOST2}:9092"]
storage:
  url: s3://bucket/p
  access_key_id: \${S3_KEY}
  secret_access_key: \${S3_SECRET}
`;
  const e = configError(() => parseConfig(text, 'e.yaml', { S3_KEY: 'k' }));
  assert.equal(e.message, 'config file e.yaml has 3 problems');
  assert.deepEqual(e.problems, [
    'source.bootstrap_servers[0] uses ${KAFKA_HOST}, which is not set; export it or write ${KAFKA_HOST:-default}',
    'source.bootstrap_servers[1] uses ${KAFKA_HOST2}, which is not set; export it or write ${KAFKA_HOST2:-default}',
    'storage.secret_access_key uses ${S3_SECRET}, which is not set; export it or write ${S3_SECRET:-default}',
  ]);
  assert.match(e.hint ?? '', /export the variables/);
  assert.equal(e.code, 'CONFIG_ENV');
});

test('missing variables are reported together with schema problems, without echoing the unsubstituted value', () => {
  const e = configError(() => parseConfig(MINIMAL + 'backup:\n  batch_size: ${BATCH}\n  bogus: 1\n', 'e.yaml', {}));
  assert.equal(e.problems.length, 2);
  assert.match(problemAt(e, 'backup.batch_size'), /uses \$\{BATCH\}, which is not set/);
  assert.match(problemAt(e, 'backup.bogus'), /unknown key/);
});

test('malformed substitution in a secret does not echo it', () => {
  const text = MINIMAL.replace(
    'path: /var/backups/kafka',
    'url: s3://b/p\n  access_key_id: k\n  secret_access_key: "abc${oops"',
  );
  const e = configError(() => parseConfig(text, 'e.yaml', {}));
  assert.match(problemAt(e, 'storage.secret_access_key'), /has a malformed substitution; write \$\{NAME\}/);
  assert.ok(!allText(e).includes('abc'));
  const e2 = configError(() => parseConfig(MINIMAL.replace('orders', 'a-${1X}'), 'e.yaml', {}));
  assert.deepEqual(e2.problems, [
    'backup_id has a malformed substitution "${1X}"; write ${NAME} or ${NAME:-default}, or $${ for a literal ${',
  ]);
});

test('secrets from the environment never appear in messages', () => {
  const text = `target: { bootstrap_servers: [a:1], security: { protocol: SASL_SSL, sasl: { mechanism: PLAIN, username: u, password: \${PW}, token: \${PW} } } }\n`;
  const e = configError(() => parseConfig(text, 'e.yaml', { PW: 'env-secret-value' }));
  assert.ok(!allText(e).includes('env-secret-value'));
});
