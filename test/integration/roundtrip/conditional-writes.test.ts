/**
 * Create-if-absent writes under faults, with the real CLI, S3 (moto) behind the fault proxy
 * (issue 14 item 6):
 *
 *  - every create-if-absent write (the probe, each commit, the checkpoints, the consumer-offset
 *    capture) is applied by the server but its answer is lost the first time: the retry finds
 *    the key taken, recognises its own bytes, and the backup completes, not fenced, with every
 *    record (restored and compared with Kafka's Java consumer) and its consumer-offset capture;
 *    the restore, through the same fault, completes too (its plan is a create-if-absent write);
 *  - a server that ignores If-None-Match (the proxy strips it) is refused at start: exit 1,
 *    a message that says why, and nothing of the line written.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { BackupLine } from '../../../src/repository/line.ts';
import { S3Backend } from '../../../src/storage/s3.ts';
import { cli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { type FaultProxy, isConditionalPut, startFaultProxy } from '../../helpers/fault-proxy.ts';
import { createTopic, deleteTopics, KAFKA_BOOTSTRAP, produceWithPerf, uniqueTopic } from '../../helpers/kafka.ts';
import { type DumpedRecord, dumpTopic } from '../../helpers/peers.ts';
import { createS3Bucket, S3_CREDENTIALS, S3_ENDPOINT } from '../../helpers/storage-servers.ts';

const view = (r: DumpedRecord) =>
  `${r.partition}|${r.offset}|${r.timestamp}|${r.key}|${r.value}|${JSON.stringify(r.headers)}`;

describe('create-if-absent writes under faults (S3 via fault proxy, real CLI)', { timeout: 300_000 }, () => {
  let proxy: FaultProxy;
  let topic: string;
  let source: DumpedRecord[];
  let dir: string;
  const env = {
    AWS_ACCESS_KEY_ID: S3_CREDENTIALS.access_key_id,
    AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secret_access_key,
  };

  const config = async (name: string) => {
    const bucket = await createS3Bucket(`kb-cond-${name}`);
    const path = writeConfig(dir, `${name}.yaml`, {
      backup_id: name,
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: {
        url: `s3://${bucket}/cond`,
        endpoint: proxy.url,
        region: 'us-east-1',
        request_checksum_calculation: 'when_required',
        retry: { max_retries: 5, initial_delay_ms: 50, max_delay_ms: 400 },
      },
      // several checkpoints, so several commits lose their answer
      backup: {
        checkpoint_interval_secs: 1,
        max_bytes_per_sec: 2_000_000,
        max_batch_bytes: 262_144,
        segment_max_bytes: 1_048_576,
      },
    });
    const direct = new S3Backend({ backend: 's3', bucket, prefix: 'cond', endpoint: S3_ENDPOINT, ...S3_CREDENTIALS });
    return { path, bucket, direct };
  };

  before(async () => {
    proxy = await startFaultProxy(S3_ENDPOINT);
    topic = await createTopic(uniqueTopic('cond'), { partitions: 2 });
    await produceWithPerf(topic, 20_000, 300);
    source = await dumpTopic(topic);
    assert.equal(source.length, 20_000);
    dir = tempDir('cond');
  });
  after(async () => {
    await proxy.close();
    await deleteTopics([`${topic}-restored`]);
  });

  test('every create-if-absent write loses its first answer: the backup completes, not fenced, with every record', async () => {
    const c = await config('lost');
    // the first attempt of each conditional PUT (per key) is applied by moto, then its answer is lost
    const seen = new Set<string>();
    const firstAttempt = (req: IncomingMessage) => {
      if (!isConditionalPut(req) || seen.has(req.url ?? '')) return false;
      seen.add(req.url ?? '');
      return true;
    };
    proxy.inject({ kind: 'lose-answer' }, { match: firstAttempt });
    const r = await cli(['backup', '-c', c.path, '--format', 'json'], env);
    proxy.clear();
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.doesNotMatch(r.stderr, /another writer|fenced/i);
    const lost = proxy.lostAnswers.filter((l) => l.url.includes(`/${c.bucket}/`));
    const commits = lost.filter((l) => /\/lost\/log\/\d+\.json/.test(l.url));
    assert.ok(commits.length >= 3, `several commits lost their answer (${commits.length})`);
    assert.ok(
      lost.some((l) => l.url.includes('/lost/consumer-offsets/')),
      'the consumer-offset capture lost its answer too',
    );
    assert.ok(
      lost.every((l) => l.status === 200),
      `each lost write was applied: ${JSON.stringify(lost.map((l) => l.status))}`,
    );

    const m = await new BackupLine(c.direct, 'lost').latest();
    const snap = m!.snapshots.at(-1)!;
    assert.equal(snap.state, 'complete');
    assert.ok(snap.consumer_offsets, 'the consumer-offset capture is recorded (its put was ours, not a conflict)');

    // the restore goes through the proxy too: its create-if-absent plan write loses its answer
    const target = `${topic}-restored`;
    const rc = writeConfig(dir, 'restore.yaml', {
      backup_id: 'lost',
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage: {
        url: `s3://${c.bucket}/cond`,
        endpoint: proxy.url,
        region: 'us-east-1',
        request_checksum_calculation: 'when_required',
        retry: { max_retries: 5, initial_delay_ms: 50, max_delay_ms: 400 },
      },
      restore: { topic_mapping: { [topic]: target } },
    });
    const lostBefore = proxy.lostAnswers.length;
    proxy.inject({ kind: 'lose-answer' }, { match: firstAttempt });
    const rr = await cli(['restore', '-c', rc], env);
    proxy.clear();
    assert.equal(rr.code, 0, rr.stderr.slice(-3000));
    assert.ok(proxy.lostAnswers.length > lostBefore, 'a restore write lost its answer');
    const restored = (await dumpTopic(target)).map(view);
    const expected = source.map(view);
    assert.equal(restored.length, expected.length, 'record count');
    for (let i = 0; i < expected.length; i++) if (restored[i] !== expected[i]) assert.fail(`record ${i} differs`);
    await c.direct.close();
  });

  test('a server that ignores If-None-Match is refused at start: exit 1, a clear message, nothing written', async () => {
    const c = await config('ignored');
    proxy.inject({ kind: 'strip-header', header: 'if-none-match' });
    const r = await cli(['backup', '-c', c.path], env);
    proxy.clear();
    assert.equal(r.code, 1, r.stderr.slice(-3000));
    assert.match(r.stderr, /ignores create-if-absent writes/);
    assert.match(r.stderr, /If-None-Match/);
    assert.doesNotMatch(r.stderr, /\n\s+at .+\(.+:\d+:\d+\)/, 'no stack trace');
    const left: string[] = [];
    for await (const o of c.direct.list('')) left.push(o.key);
    assert.deepEqual(left, [], 'no lease, commit or probe object left');
    await c.direct.close();
  });
});
