/**
 * No secret reaches the output: configs carry secrets through environment substitution (S3
 * secret_access_key and session_token against moto, which accepts any keys; a SASL password and
 * a TLS key password), and every command is run with --log-level debug, as JSON logs and as text:
 * config validate, a backup whose storage answers 503s for a while (retry warnings carry the
 * storage errors), a restore, a backup into a missing bucket (error path, --debug stack trace),
 * and a SASL backup against the plain broker (authentication path fails). Everything the processes
 * printed, and a /metrics scrape, is searched for the secret values.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CliResult, cli, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { type FaultProxy, startFaultProxy } from '../../helpers/fault-proxy.ts';
import {
  createTopic,
  deleteTopics,
  KAFKA_BOOTSTRAP,
  produceWithPerf,
  sleep,
  uniqueTopic,
} from '../../helpers/kafka.ts';
import { createS3Bucket, S3_ENDPOINT } from '../../helpers/storage-servers.ts';
import { freePort } from './scrape.ts';

const secret = (what: string) => `${what}-${randomBytes(12).toString('hex')}`;
/** `${NAME}`: an environment reference in a config value. */
const ref = (name: string) => `$${'{'}${name}}`;
const SECRETS = {
  KBT_S3_SECRET: secret('s3secret'),
  KBT_S3_TOKEN: secret('s3token'),
  KBT_SASL_PASSWORD: secret('saslpw'),
  KBT_KEY_PASSWORD: secret('keypw'),
};

describe('secrets never appear in output or logs', { timeout: 240_000 }, () => {
  let topic: string;
  let dir: string;
  let bucket: string;
  let proxy: FaultProxy;
  const outputs: { what: string; text: string }[] = [];
  const record = (what: string, r: CliResult) => outputs.push({ what, text: r.stdout + r.stderr });
  const run = async (what: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
    const t0 = Date.now();
    const r = await cli([...args, '--log-level', 'debug'], { ...SECRETS, ...env });
    if (process.env['KBT_TIMING']) console.log(what, Date.now() - t0);
    record(what, r);
    return r;
  };

  before(async () => {
    topic = await createTopic(uniqueTopic('secrets'), { partitions: 2 });
    await produceWithPerf(topic, 5000, 200);
    dir = tempDir('secrets');
    bucket = await createS3Bucket('kb-secrets');
    proxy = await startFaultProxy(S3_ENDPOINT);
  });
  after(async () => {
    await proxy.close();
    await deleteTopics([topic, `${topic}-restored`]);
  });

  const s3 = (b: string) => ({
    backend: 's3',
    bucket: b,
    endpoint: proxy.url,
    access_key_id: 'kbtest',
    secret_access_key: ref('KBT_S3_SECRET'),
    session_token: ref('KBT_S3_TOKEN'),
    retry: { max_retries: 20, initial_delay_ms: 20, max_delay_ms: 200 },
  });

  test('config validate, backup with storage retries, restore, failing runs: no secret printed', async () => {
    const port = await freePort();
    const backupCfg = writeConfig(dir, 'backup.yaml', {
      backup_id: 'sec',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: s3(bucket),
      backup: { checkpoint_interval_secs: 1, max_bytes_per_sec: 500_000 },
      metrics: { enabled: true, port },
      logging: { level: 'debug', format: 'json' },
    });
    const sasl = writeConfig(dir, 'sasl.yaml', {
      backup_id: 'sasl',
      source: {
        bootstrap_servers: [KAFKA_BOOTSTRAP],
        topics: { include: [topic] },
        security: {
          protocol: 'SASL_PLAINTEXT',
          sasl: { mechanism: 'SCRAM-SHA-512', username: 'kb', password: ref('KBT_SASL_PASSWORD') },
        },
      },
      storage: { backend: 'filesystem', path: join(dir, 'fs') },
      backup: { give_up_after_secs: 5 },
    });
    const keyFile = join(dir, 'client.key');
    writeFileSync(keyFile, '-----BEGIN ENCRYPTED PRIVATE KEY-----\nnot a key\n-----END ENCRYPTED PRIVATE KEY-----\n');
    const tls = writeConfig(dir, 'tls.yaml', {
      backup_id: 'tls',
      source: {
        bootstrap_servers: [KAFKA_BOOTSTRAP],
        security: {
          protocol: 'SASL_SSL',
          sasl: { mechanism: 'PLAIN', username: 'kb', password: ref('KBT_SASL_PASSWORD') },
          tls: { cert_file: keyFile, key_file: keyFile, key_password: ref('KBT_KEY_PASSWORD') },
        },
      },
      storage: s3(bucket),
    });

    for (const [name, file] of [
      ['backup', backupCfg],
      ['sasl', sasl],
      ['tls', tls],
    ] as const)
      for (const format of ['text', 'json', 'yaml']) {
        const r = await run(`config validate ${name} ${format}`, [
          'config',
          'validate',
          '-c',
          file,
          '--format',
          format,
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /\[redacted\]/, 'the secret settings are shown redacted');
      }

    // backup: storage answers 503 for a while mid-run (retry warnings log the storage errors)
    const { child, done } = startCli(['backup', '-c', backupCfg, '--format', 'json', '--log-level', 'debug'], SECRETS);
    await sleep(1500);
    proxy.inject({ kind: 'status', status: 503 }, { count: 3 }); // below the breaker's threshold (5)
    const scraped = await fetch(`http://127.0.0.1:${port}/metrics`)
      .then((r) => r.text())
      .catch(() => '');
    outputs.push({ what: 'metrics scrape', text: scraped });
    const b = await done;
    record('backup', b);
    assert.equal(b.code, 0, b.stderr.slice(-2000));
    assert.ok(child.pid);
    assert.match(b.stderr, /storage call failed, retrying/, 'the retry path was exercised');
    assert.match(b.stderr, /"level":"debug"/, 'debug logs were on');

    // same backup with text logs (the readable format on a terminal renders fields differently)
    const textCfg = writeConfig(dir, 'backup-text.yaml', {
      backup_id: 'sec',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: s3(bucket),
      logging: { level: 'debug', format: 'text' },
    });
    const text = await run('backup text logs', ['backup', '-c', textCfg, '--format', 'json']);
    assert.equal(text.code, 0, text.stderr);

    const restoreCfg = writeConfig(dir, 'restore.yaml', {
      backup_id: 'sec',
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage: s3(bucket),
      restore: { topic_mapping: { [topic]: `${topic}-restored` } },
      logging: { level: 'debug', format: 'text' },
    });
    const rr = await run('restore', ['restore', '-c', restoreCfg, '--format', 'json']);
    assert.equal(rr.code, 0, rr.stderr);

    // error paths: a missing bucket (with --debug stack traces), SASL against a plain listener
    const missing = writeConfig(dir, 'missing.yaml', {
      backup_id: 'sec',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { ...s3(`${bucket}-missing`), retry: { max_retries: 1, initial_delay_ms: 10, max_delay_ms: 10 } },
    });
    const m = await run('missing bucket', ['backup', '-c', missing, '--debug']);
    assert.notEqual(m.code, 0);
    const sa = await run('sasl backup', ['backup', '-c', sasl]);
    assert.notEqual(sa.code, 0, 'SASL against a PLAINTEXT listener fails');
    const listed = await run('list', ['list', '--path', join(dir, 'fs')]);
    assert.ok(listed.code === 0 || listed.code === 2);

    for (const { what, text: out } of outputs)
      for (const [name, value] of Object.entries(SECRETS))
        assert.ok(!out.includes(value), `${what}: printed the value of ${name}`);
    assert.ok(outputs.length >= 14);
  });
});
