/**
 * Fault injection on S3 (moto) through test/helpers/fault-proxy.ts, with the full wrapper
 * stack from openStorage (retry + breaker + limit). Delays are small so the file runs in seconds.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { StorageError } from '../../../src/errors.ts';
import type { StorageBackend } from '../../../src/storage/backend.ts';
import { type OpenStorageExtras, openStorage } from '../../../src/storage/open.ts';
import { probeConditionalWrites } from '../../../src/storage/probe.ts';
import { S3Backend } from '../../../src/storage/s3.ts';
import { CircuitBreaker, type CircuitState } from '../../../src/util/circuit-breaker.ts';
import { configureLogging } from '../../../src/util/log.ts';
import { type FaultProxy, isConditionalPut, startFaultProxy } from '../../helpers/fault-proxy.ts';
import { createS3Bucket, S3_CREDENTIALS, S3_ENDPOINT } from '../../helpers/storage-servers.ts';

configureLogging({ level: 'error' });

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('storage faults (S3 via fault proxy)', () => {
  let proxy: FaultProxy;
  let bucket: string;
  let direct: S3Backend;

  before(async () => {
    proxy = await startFaultProxy(S3_ENDPOINT);
    bucket = await createS3Bucket('kb-faults');
    direct = new S3Backend({ backend: 's3', bucket, endpoint: S3_ENDPOINT, ...S3_CREDENTIALS });
  });
  after(async () => {
    await direct.close();
    await proxy.close();
  });

  async function open(
    prefix: string,
    breaker: CircuitBreaker,
    retry: { max_retries: number; initial_delay_ms: number; max_delay_ms: number },
    extras: OpenStorageExtras = {},
  ): Promise<StorageBackend> {
    return openStorage(
      {
        backend: 's3',
        bucket,
        prefix,
        endpoint: proxy.url,
        ...S3_CREDENTIALS,
        buffer_size: 5 * 1024 * 1024,
        retry,
      },
      { breaker, tuning: { requestTimeoutMs: 1000, connectTimeoutMs: 1000 }, ...extras },
    );
  }

  for (const [name, fault] of [
    ['503 SlowDown', { kind: 'status', status: 503 }],
    ['500 InternalError', { kind: 'status', status: 500 }],
    ['dropped connections', { kind: 'drop' }],
    ['slow answers (timeouts)', { kind: 'delay', ms: 1500 }],
  ] as const) {
    test(`${name} for a while: multi-part write and puts complete with identical content`, async () => {
      const states: CircuitState[] = [];
      const breaker = new CircuitBreaker({
        name: 'storage test',
        failureThreshold: 4,
        resetTimeoutSecs: 0.2,
        onStateChange: ({ to }) => states.push(to),
      });
      let retries = 0;
      const prefix = `transient-${name.replace(/\W+/g, '-')}`;
      const s = await open(
        prefix,
        breaker,
        { max_retries: 40, initial_delay_ms: 20, max_delay_ms: 200 },
        {
          onRetry: () => retries++,
        },
      );
      const big = randomBytes(12 * 1024 * 1024 + 999);
      const smalls = Array.from({ length: 6 }, () => randomBytes(2000));
      proxy.inject(fault, { durationMs: 1500, every: fault.kind === 'delay' ? 1 : 2 });
      const t0 = Date.now();
      const w = await s.openWriter('big.bin');
      for (let off = 0; off < big.length; off += 1024 * 1024) await w.write(big.subarray(off, off + 1024 * 1024));
      await Promise.all([w.commit(), ...smalls.map((b, i) => s.put(`small-${i}`, b))]);
      proxy.clear();
      assert.ok(retries > 0, 'expected retries');
      assert.ok(proxy.faultsInjected > 0);
      assert.equal(sha(await direct.get(`${prefix}/big.bin`)), sha(big));
      for (const [i, b] of smalls.entries()) assert.deepEqual(await direct.get(`${prefix}/small-${i}`), b);
      assert.ok(Date.now() - t0 < 30_000);
      assert.equal(breaker.state, 'closed');
      await s.close();
    });
  }

  test('faults that never stop: fails with the breaker open, permanently after giveUpAfter, in bounded time', async () => {
    const breaker = new CircuitBreaker({
      name: 'storage test',
      failureThreshold: 3,
      resetTimeoutSecs: 0.2,
      giveUpAfterSecs: 1.5,
    });
    const s = await open('forever', breaker, { max_retries: 1000, initial_delay_ms: 20, max_delay_ms: 100 });
    proxy.inject({ kind: 'status', status: 503 });
    const t0 = Date.now();
    await assert.rejects(s.put('x', Buffer.from('x')), (error: unknown) => {
      assert.ok(error instanceof StorageError);
      assert.equal(error.code, 'CIRCUIT_GAVE_UP');
      assert.equal(error.storageKind, 'permanent');
      assert.match(error.message, /circuit breaker .* gave up/);
      return true;
    });
    const took = Date.now() - t0;
    assert.ok(took >= 1400 && took < 5000, `took ${took} ms`);
    assert.notEqual(breaker.state, 'closed');
    // further calls fail at once without reaching the server
    const before = proxy.requests;
    await assert.rejects(s.get('x'), (e: unknown) => e instanceof StorageError && e.code === 'CIRCUIT_GAVE_UP');
    assert.equal(proxy.requests, before);
    proxy.clear();
    await s.close();
  });

  test('faults that never stop, no give-up: retries run out and the error says the breaker is open', async () => {
    const breaker = new CircuitBreaker({ name: 'storage test', failureThreshold: 3, resetTimeoutSecs: 30 });
    const s = await open('forever2', breaker, { max_retries: 6, initial_delay_ms: 10, max_delay_ms: 40 });
    proxy.inject({ kind: 'drop' });
    const t0 = Date.now();
    await assert.rejects(s.put('x', Buffer.from('x')), (error: unknown) => {
      assert.ok(error instanceof StorageError);
      assert.equal(error.code, 'CIRCUIT_OPEN');
      assert.equal(error.storageKind, 'transient');
      assert.match(error.message, /circuit breaker .* is open .* next trial in \d+s/);
      return true;
    });
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(breaker.state, 'open');
    proxy.clear();
    await s.close();
  });

  test('a create-if-absent put applied by the server but whose answer was lost is recognised as ours on retry', async () => {
    const breaker = new CircuitBreaker({ name: 'storage test', failureThreshold: 5, resetTimeoutSecs: 0.2 });
    let retries = 0;
    const s = await open(
      'lost-answer',
      breaker,
      { max_retries: 4, initial_delay_ms: 10, max_delay_ms: 50 },
      {
        onRetry: () => retries++,
      },
    );
    const lostBefore = proxy.lostAnswers.length;
    proxy.inject({ kind: 'lose-answer' }, { match: isConditionalPut, count: 1 });
    const ours = randomBytes(3000);
    await s.put('log/0000000001.json', ours, { ifAbsent: true });
    const lost = proxy.lostAnswers.slice(lostBefore);
    assert.equal(lost.length, 1);
    assert.equal(lost[0]!.status, 200, 'the server applied the first attempt');
    assert.equal(retries, 1, 'sent again once, which found the key taken');
    assert.deepEqual(await direct.get('lost-answer/log/0000000001.json'), ours);
    // with other bytes under the key (another writer), the same sequence stays already-exists
    await direct.put('lost-answer/log/0000000002.json', Buffer.from('theirs'));
    proxy.inject({ kind: 'drop' }, { match: isConditionalPut, count: 1 });
    await assert.rejects(
      s.put('log/0000000002.json', ours, { ifAbsent: true }),
      (e: unknown) => e instanceof StorageError && e.storageKind === 'already-exists',
    );
    proxy.clear();
    await s.close();
  });

  test('a server that ignores If-None-Match (stripped by the proxy) accepts both writes, and the probe refuses it', async () => {
    const breaker = new CircuitBreaker({ name: 'storage test', failureThreshold: 5, resetTimeoutSecs: 0.2 });
    const s = await open('no-conditions', breaker, { max_retries: 2, initial_delay_ms: 10, max_delay_ms: 50 });
    await probeConditionalWrites(s, 'line'); // honoured: passes
    proxy.inject({ kind: 'strip-header', header: 'if-none-match' });
    // what fencing would meet: the second create-if-absent write silently replaces the first
    await s.put('line/log/0000000001.json', Buffer.from('writer A'), { ifAbsent: true });
    await s.put('line/log/0000000001.json', Buffer.from('writer B'), { ifAbsent: true });
    assert.equal((await direct.get('no-conditions/line/log/0000000001.json')).toString(), 'writer B');
    await assert.rejects(probeConditionalWrites(s, 'line'), (e: unknown) => {
      assert.ok(e instanceof StorageError);
      assert.equal(e.code, 'STORAGE_NO_CONDITIONAL_WRITES');
      assert.equal(e.exitCode, 1);
      assert.match(e.message, /ignores create-if-absent writes/);
      assert.match(e.hint ?? '', /If-None-Match/);
      return true;
    });
    proxy.clear();
    const left: string[] = [];
    for await (const o of direct.list('no-conditions/line/.probe/')) left.push(o.key);
    assert.deepEqual(left, [], 'the probe object is deleted');
    await s.close();
  });

  test('permanent errors are not retried', async () => {
    let retries = 0;
    const s = await openStorage(
      { backend: 's3', bucket: 'kb-missing-bucket-f', endpoint: proxy.url, ...S3_CREDENTIALS },
      { onRetry: () => retries++ },
    );
    await assert.rejects(s.put('x', Buffer.from('x')), /bucket kb-missing-bucket-f does not exist/);
    assert.equal(retries, 0);
    await s.close();
  });
});
