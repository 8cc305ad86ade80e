/**
 * A backup to S3 through a fault-injecting proxy: with faults for a while it completes with
 * identical content; with faults that never stop it fails cleanly (exit 1, breaker open) and a
 * later run resumes and completes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cli, jsonOut, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { type FaultProxy, startFaultProxy } from '../../helpers/fault-proxy.ts';
import { createTopic, KAFKA_BOOTSTRAP, produceWithPerf, sleep, uniqueTopic } from '../../helpers/kafka.ts';
import { dumpTopic } from '../../helpers/peers.ts';
import { createS3Bucket, S3_CREDENTIALS, S3_ENDPOINT } from '../../helpers/storage-servers.ts';

describe('backup through storage faults', { timeout: 300_000 }, () => {
  let proxy: FaultProxy;
  let topic: string;
  let dir: string;
  const records = 40_000;
  const env = {
    AWS_ACCESS_KEY_ID: S3_CREDENTIALS.access_key_id,
    AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secret_access_key,
  };

  const config = async (name: string) => {
    const bucket = await createS3Bucket(`kb-faults-${name}`);
    const storage = {
      url: `s3://${bucket}/faults`,
      endpoint: proxy.url,
      region: 'us-east-1',
      request_checksum_calculation: 'when_required',
      buffer_size: 5 * 1024 * 1024,
      retry: { max_retries: 6, initial_delay_ms: 50, max_delay_ms: 400 },
    };
    const path = writeConfig(dir, `${name}.yaml`, {
      backup_id: name,
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage,
      backup: {
        max_batch_bytes: 262_144,
        segment_max_bytes: 1_048_576,
        checkpoint_interval_secs: 1,
        max_bytes_per_sec: 4_000_000,
        circuit_breaker: { failure_threshold: 3, reset_timeout_secs: 1, half_open_requests: 1 },
        give_up_after_secs: 4,
      },
    });
    return { path, url: `s3://${bucket}/faults` };
  };

  before(async () => {
    proxy = await startFaultProxy(S3_ENDPOINT);
    topic = await createTopic(uniqueTopic('faults'), { partitions: 2 });
    await produceWithPerf(topic, records, 300);
    dir = tempDir('faults');
  });
  after(async () => {
    await proxy.close();
  });

  test('faults for a while: the backup completes with every record', async () => {
    const c = await config('transient');
    const run = startCli(['backup', '-c', c.path, '--format', 'json'], env);
    await sleep(1200);
    proxy.inject({ kind: 'status', status: 503 }, { durationMs: 1500 });
    await sleep(2000);
    proxy.inject({ kind: 'drop' }, { durationMs: 800 });
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.ok(proxy.faultsInjected > 0, 'faults were injected during the run');
    const v = await cli(['validate', '--path', c.url, '--backup-id', 'transient', '--deep'], {
      ...env,
      AWS_ENDPOINT_URL_S3: S3_ENDPOINT,
    });
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const d = jsonOut<{ totals: { records: number } }>(
      await cli(['describe', '--path', c.url, '--backup-id', 'transient', '--format', 'json'], {
        ...env,
        AWS_ENDPOINT_URL_S3: S3_ENDPOINT,
      }),
    );
    assert.equal(d.totals.records, (await dumpTopic(topic)).length);
  });

  test('faults that never stop: the run fails cleanly with the breaker open, and a later run completes', async () => {
    const c = await config('endless');
    const run = startCli(['backup', '-c', c.path], env);
    await sleep(1500);
    proxy.inject({ kind: 'status', status: 503 });
    const r = await run.done;
    proxy.clear();
    assert.equal(r.code, 1, r.stderr.slice(-3000));
    assert.match(r.stderr, /circuit breaker|breaker/i);
    assert.doesNotMatch(r.stderr, /\n\s+at .+\(.+:\d+:\d+\)/, 'no stack trace');
    const again = await cli(['backup', '-c', c.path, '--format', 'json'], env);
    assert.equal(again.code, 0, again.stderr.slice(-3000));
    const d = jsonOut<{ totals: { records: number } }>(
      await cli(['describe', '--path', c.url, '--backup-id', 'endless', '--format', 'json'], {
        ...env,
        AWS_ENDPOINT_URL_S3: S3_ENDPOINT,
      }),
    );
    assert.equal(d.totals.records, (await dumpTopic(topic)).length);
  });
});
