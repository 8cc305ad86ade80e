import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig, parseConfig, requireSections } from '../../../src/config/load.ts';
import { ExitCode } from '../../../src/errors.ts';
import { tempDir } from '../../helpers/cli.ts';
import { FULL, MINIMAL, withMinimal } from './fixtures.ts';
import { allText, configError, problemAt } from './helpers.ts';

const dir = tempDir('config');
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

test('loadConfig reads a file', () => {
  const c = loadConfig(file('ok.yaml', MINIMAL), { env: {} });
  assert.equal(c.backup_id, 'orders');
});

test('missing file: not found, with a hint, exit code 2', () => {
  const e = configError(() => loadConfig('./does-not-exist.yaml'));
  assert.equal(e.message, 'config file ./does-not-exist.yaml not found');
  assert.match(e.hint ?? '', /check the path/);
  assert.equal(e.exitCode, ExitCode.usage);
});

test('a directory is not a config file', () => {
  const e = configError(() => loadConfig(dir));
  assert.match(e.message, /is a directory/);
});

test('unreadable file', { skip: process.getuid?.() === 0 ? 'root can read anything' : false }, () => {
  const p = file('locked.yaml', MINIMAL);
  chmodSync(p, 0o000);
  const e = configError(() => loadConfig(p));
  assert.match(e.message, /cannot be read: permission denied/);
});

test('a path through a file cannot be read', () => {
  const p = file('plain.yaml', MINIMAL);
  const e = configError(() => loadConfig(join(p, 'inner.yaml')));
  assert.match(e.message, /^config file .*inner\.yaml (cannot be read \(ENOTDIR\)|not found)$/);
});

test('malformed YAML: line and column, no source excerpt', () => {
  const e = configError(() =>
    parseConfig('backup_id: x\nsource:\n  bootstrap_servers: [a:1\n  password: hunter2\n', 'bad.yaml', {}),
  );
  assert.equal(e.message, 'config file bad.yaml is not valid YAML');
  assert.match(e.problems[0]!, /^line \d+, column \d+: /);
  assert.ok(!allText(e).includes('hunter2'));
  assert.ok(e.problems.length <= 4);
});

test('duplicate keys are a YAML error', () => {
  const e = configError(() => parseConfig('backup_id: a\nbackup_id: b\n', 'dup.yaml', {}));
  assert.match(e.problems[0]!, /^line 2, column 1: Map keys must be unique/);
});

test('empty file and non-mapping top level', () => {
  assert.equal(configError(() => parseConfig('', 'e.yaml', {})).message, 'config file e.yaml is empty');
  assert.equal(
    configError(() => parseConfig('- a\n- b\n', 'l.yaml', {})).message,
    'config file l.yaml must be a mapping of keys to values at the top level, found a list',
  );
  assert.match(configError(() => parseConfig('just text', 's.yaml', {})).message, /found a string$/);
});

test('unknown key: path and nearest valid key at that level', () => {
  const e = configError(() => parseConfig(withMinimal('backup:\n  bach_size: 5\n'), 'u.yaml', {}));
  assert.equal(e.message, 'config file u.yaml has 1 problem');
  assert.equal(e.problems[0], "backup.bach_size: unknown key; did you mean 'batch_size'?");
  assert.equal(e.exitCode, 2);
});

test('unknown keys: camelCase, abbreviation, wrong level, and no match lists the valid keys', () => {
  const e = configError(() =>
    parseConfig(
      withMinimal('batchSize: 1\nbatch_size: 2\nlogging: { lvl: debug, colour: true }\nmetrics: { prot: 1 }\n'),
      'u.yaml',
      {},
    ),
  );
  assert.equal(problemAt(e, 'batchSize'), "batchSize: unknown key; did you mean 'backup.batch_size'?");
  assert.equal(problemAt(e, 'batch_size'), "batch_size: unknown key; did you mean 'backup.batch_size'?");
  assert.equal(problemAt(e, 'logging.lvl'), "logging.lvl: unknown key; did you mean 'level'?");
  assert.equal(problemAt(e, 'logging.colour'), 'logging.colour: unknown key; valid keys here: level, format');
  assert.equal(problemAt(e, 'metrics.prot'), "metrics.prot: unknown key; did you mean 'port'?");
});

test('wrong types: expected, found and the value', () => {
  const e = configError(() =>
    parseConfig(
      withMinimal(
        'backup:\n  batch_size: ten\n  max_batch_bytes: 1.5\n  allow_empty: "yes"\n  mode: continous\nmetrics:\n  port: 70000\n',
      ),
      't.yaml',
      {},
    ),
  );
  assert.equal(problemAt(e, 'backup.batch_size'), 'backup.batch_size: expected an integer, found a string (got "ten")');
  assert.equal(
    problemAt(e, 'backup.max_batch_bytes'),
    'backup.max_batch_bytes: expected an integer, found a number (got 1.5)',
  );
  assert.equal(
    problemAt(e, 'backup.allow_empty'),
    'backup.allow_empty: expected true or false, found a string (got "yes")',
  );
  assert.equal(
    problemAt(e, 'backup.mode'),
    'backup.mode: expected one of snapshot, continuous, found a string (got "continous"); did you mean \'continuous\'?',
  );
  assert.equal(
    problemAt(e, 'metrics.port'),
    'metrics.port: expected an integer <= 65535, found an integer (got 70000)',
  );
  assert.equal(e.problems.length, 5);
});

test('every problem at once, across sections', () => {
  const text = `backup_id: "bad id!"
source:
  bootstrap_servers: []
storage:
  backend: s3
backup:
  batch_size: 0
  bogus: 1
restore:
  point_in_time: yesterday
  offset_window: { orders: { first: { start: 1 } } }
offsets: { strategy: exactly }
logging: { level: loud }
`;
  const e = configError(() => parseConfig(text, 'm.yaml', {}));
  assert.match(
    problemAt(e, 'backup_id'),
    /^backup_id: expected a backup id made of letters.*found a string \(got "bad id!"\)$/,
  );
  assert.equal(
    problemAt(e, 'source.bootstrap_servers'),
    'source.bootstrap_servers: expected a non-empty list, found an empty list',
  );
  assert.match(problemAt(e, 'storage.bucket'), /^storage.bucket: missing; the s3 backend needs a bucket/);
  assert.equal(
    problemAt(e, 'backup.batch_size'),
    'backup.batch_size: expected an integer >= 1, found an integer (got 0)',
  );
  assert.match(problemAt(e, 'backup.bogus'), /^backup.bogus: unknown key/);
  assert.match(
    problemAt(e, 'restore.point_in_time'),
    /^restore.point_in_time: expected an ISO-8601 time .* found a string \(got "yesterday"\)$/,
  );
  assert.equal(
    problemAt(e, 'restore.offset_window.orders.first'),
    'restore.offset_window.orders.first: expected a partition number as the key, found "first"',
  );
  assert.match(
    problemAt(e, 'offsets.strategy'),
    /expected one of exact, header, .* found a string \(got "exactly"\); did you mean 'exact'\?$/,
  );
  assert.match(
    problemAt(e, 'logging.level'),
    /expected one of error, warn, info, debug, found a string \(got "loud"\)$/,
  );
  assert.equal(e.problems.length, 9);
  assert.equal(e.message, 'config file m.yaml has 9 problems');
});

test('missing required key says so', () => {
  const e = configError(() => parseConfig('source: { client_id: x }\n', 'r.yaml', {}));
  assert.equal(
    problemAt(e, 'source.bootstrap_servers'),
    'source.bootstrap_servers: expected a list, found nothing (this key is required)',
  );
});

test('bootstrap server entries must be host:port', () => {
  const e = configError(() => parseConfig(MINIMAL.replace('"127.0.0.1:9092"', '"a:9092", "b", "c:0"'), 'b.yaml', {}));
  assert.equal(
    problemAt(e, 'source.bootstrap_servers[1]'),
    'source.bootstrap_servers[1]: expected host:port, found a string (got "b")',
  );
  assert.equal(
    problemAt(e, 'source.bootstrap_servers[2]'),
    'source.bootstrap_servers[2]: expected host:port, found a string (got "c:0")',
  );
});

test('topic patterns: a regex after ~ must compile', () => {
  const e = configError(() =>
    parseConfig(withMinimal('restore:\n  topics: { include: ["~(unclosed"] }\n'), 'p.yaml', {}),
  );
  assert.match(
    problemAt(e, 'restore.topics.include[0]'),
    /expected a valid regular expression after ~ .*got "~\(unclosed"/,
  );
});

test('cross-field: time window order, with key path', () => {
  const e = configError(() =>
    parseConfig(
      withMinimal('restore:\n  time_window_start: 2024-05-02\n  time_window_end: 2024-05-01T00:00:00Z\n'),
      'w.yaml',
      {},
    ),
  );
  assert.equal(
    problemAt(e, 'restore.time_window_start'),
    'restore.time_window_start: must be before restore.time_window_end (2024-05-02T00:00:00.000Z is not before 2024-05-01T00:00:00.000Z)',
  );
});

test('cross-field: storage needs its backend fields', () => {
  const cases: [string, string, RegExp][] = [
    ['storage: { backend: filesystem }', 'storage.path', /missing; the filesystem backend needs a directory/],
    ['storage: { backend: gcs }', 'storage.bucket', /missing; the gcs backend needs a bucket/],
    ['storage: { backend: azure, account: a }', 'storage.container', /missing; the azure backend needs a container/],
    ['storage: { backend: azure, container: c }', 'storage.account', /needs account, connection_string or endpoint/],
    ['storage: {}', 'storage.path', /missing; the filesystem backend/],
    ['storage: { url: s3://b/p, bucket: other }', 'storage.bucket', /cannot be combined with storage.url/],
    ['storage: { path: /x, region: eu }', 'storage.region', /only used by the s3 backend, but backend is filesystem/],
    [
      'storage: { url: "http://h/x" }',
      'storage.url',
      /expected s3:\/\/bucket\/prefix, .* found a string \(got "http:\/\/h\/x"\)/,
    ],
  ];
  for (const [storage, path, expected] of cases) {
    const text = `backup_id: a\n${storage}\n`;
    const e = configError(() => parseConfig(text, 's.yaml', {}));
    assert.match(problemAt(e, path), expected, storage);
  }
  // azure with a connection string needs no account
  const ok = parseConfig('storage: { backend: azure, container: c, connection_string: "x" }\n', 's.yaml', {});
  assert.equal(ok.storage?.container, 'c');
});

test('cross-field: SASL protocols need sasl; password and password_file are exclusive', () => {
  const missing = configError(() =>
    parseConfig(withMinimal('target:\n  bootstrap_servers: [a:1]\n  security: { protocol: SASL_SSL }\n'), 's.yaml', {}),
  );
  assert.equal(
    problemAt(missing, 'target.security.sasl'),
    'target.security.sasl: missing; protocol SASL_SSL needs sasl: { mechanism, username, password }',
  );
  const both = configError(() =>
    parseConfig(
      withMinimal(
        'target:\n  bootstrap_servers: [a:1]\n  security:\n    protocol: SASL_PLAINTEXT\n    sasl: { mechanism: PLAIN, username: u, password: topsecret, password_file: /run/pw }\n',
      ),
      's.yaml',
      {},
    ),
  );
  assert.equal(
    problemAt(both, 'target.security.sasl.password_file'),
    'target.security.sasl.password_file: password and password_file are both set; use only one of password, password_file',
  );
  assert.ok(!allText(both).includes('topsecret'));
  const plain = configError(() =>
    parseConfig(
      withMinimal(
        'target:\n  bootstrap_servers: [a:1]\n  security: { sasl: { mechanism: PLAIN, username: u, password: p } }\n',
      ),
      's.yaml',
      {},
    ),
  );
  assert.match(
    problemAt(plain, 'target.security.protocol'),
    /PLAINTEXT does not authenticate with SASL, but sasl is set; use SASL_PLAINTEXT/,
  );
});

test('cross-field: two topics mapped to one target names both', () => {
  const e = configError(() =>
    parseConfig(withMinimal('restore:\n  topic_mapping: { orders: merged, payments: merged }\n'), 'm.yaml', {}),
  );
  const line = problemAt(e, 'restore.topic_mapping.payments');
  assert.match(line, /"payments"/);
  assert.match(line, /"orders"/);
  assert.match(line, /"merged"/);
});

test('cross-field: compression level range and fetch size', () => {
  const e = configError(() =>
    parseConfig(
      withMinimal(
        'backup:\n  compression: gzip\n  compression_level: 12\n  max_batch_bytes: 4194304\n  fetch_max_bytes: 2097152\n',
      ),
      'c.yaml',
      {},
    ),
  );
  assert.equal(
    problemAt(e, 'backup.compression_level'),
    'backup.compression_level: must be between 1 and 9 for gzip, found 12',
  );
  assert.match(
    problemAt(e, 'backup.fetch_max_bytes'),
    /must be at least backup.max_batch_bytes \(4194304\), found 2097152/,
  );
});

test('secrets never appear in messages', () => {
  const secrets = ['pw-NEVER-1', 'sak-NEVER-2', 'ak-NEVER-3', 'sas-NEVER-4', 'cs-NEVER-5', 'tok-NEVER-6', 'kp-NEVER-7'];
  const text = `backup_id: a
source:
  bootstrap_servers: [a:1]
  security:
    protocol: SASL_SSL
    sasl: { mechanism: OAUTHBEARER, token: ["${secrets[5]}"], password: 12345 }
    tls: { key_password: ["${secrets[6]}"] }
target:
  bootstrap_servers: [a:1]
  security: { protocol: SASL_SSL, sasl: { mechanism: PLAIN, username: u, password: ["${secrets[0]}"] } }
storage:
  backend: azure
  container: c
  account: a
  secret_access_key: ["${secrets[1]}"]
  account_key: { k: "${secrets[2]}" }
  sas_token: ["${secrets[3]}"]
  connection_string: 42
restore:
  topic_configs: { t: { ssl.keystore.password: [1] } }
`;
  const e = configError(() => parseConfig(text, 's.yaml', {}));
  const shown = allText(e);
  for (const s of secrets) assert.ok(!shown.includes(s), `${s} leaked:\n${shown}`);
  assert.ok(!shown.includes('12345'));
  assert.ok(!shown.includes('(got 42)'));
  assert.equal(
    problemAt(e, 'source.security.sasl.password'),
    'source.security.sasl.password: expected a string, found an integer',
  );
  assert.equal(
    problemAt(e, 'storage.connection_string'),
    'storage.connection_string: expected a string, found an integer',
  );
  // the secret is also kept out of a wrong-type message for a plain string
  const e2 = configError(() =>
    parseConfig(
      withMinimal(
        'target: { bootstrap_servers: [a:1], security: { protocol: SASL_SSL, sasl: { mechanism: PLAIN, username: u, password: "" } } }\n',
      ),
      's.yaml',
      {},
    ),
  );
  assert.match(problemAt(e2, 'target.security.sasl.password'), /expected a non-empty string, found an empty string$/);
});

test('requireSections names what is missing and shows an example', () => {
  const c = parseConfig('backup_id: a\n', 'r.yaml', {});
  const e = configError(() => requireSections(c, ['source', 'storage', 'backup_id'], 'backup'));
  assert.equal(e.message, 'the backup command needs source, storage in the config file');
  assert.deepEqual(e.problems, [
    'source: missing (the Kafka cluster to back up)',
    'storage: missing (where backups are kept)',
  ]);
  assert.match(e.hint ?? '', /bootstrap_servers: \["kafka-1:9092"\]/);
  assert.match(e.hint ?? '', /url: s3:\/\/my-bucket/);
  const full = parseConfig(FULL, 'f.yaml', {});
  const narrowed = requireSections(full, ['source', 'storage', 'backup_id'], 'backup');
  assert.equal(narrowed.source.client_id, 'backup-job'); // typed as present
  assert.equal(narrowed.backup_id, 'orders-prod.v1');
});
