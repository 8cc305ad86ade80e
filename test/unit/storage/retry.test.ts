import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StorageError } from '../../../src/errors.ts';
import { backoffCeiling, RETRY_DEFAULTS, retry } from '../../../src/util/retry.ts';

const transient = () => new StorageError('blip', 'transient');

describe('retry', () => {
  test('defaults are 8 retries, 200 ms initial, 30 s max', () => {
    assert.deepEqual({ ...RETRY_DEFAULTS }, { maxRetries: 8, initialDelayMs: 200, maxDelayMs: 30_000 });
  });

  test('backoff ceiling doubles and is capped', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 20].map((n) => backoffCeiling(n, 100, 1000)),
      [100, 200, 400, 800, 1000, 1000],
    );
  });

  test('full jitter: delays lie in [0, ceiling] and use the random source', async () => {
    for (const r of [0, 0.5, 0.999]) {
      const delays: number[] = [];
      let calls = 0;
      await assert.rejects(
        retry(
          async () => {
            calls++;
            throw transient();
          },
          { maxRetries: 5, initialDelayMs: 1, maxDelayMs: 8, random: () => r, onRetry: (i) => delays.push(i.delayMs) },
        ),
      );
      assert.equal(calls, 6);
      const ceilings = [1, 2, 4, 8, 8];
      delays.forEach((d, i) => {
        assert.ok(d >= 0 && d <= ceilings[i]!, `delay ${d} within ${ceilings[i]}`);
        assert.equal(d, Math.floor(r * ceilings[i]!));
      });
    }
  });

  test('succeeds after transient failures and reports attempts', async () => {
    const attempts: number[] = [];
    const out = await retry(
      async (n) => {
        if (n < 3) throw transient();
        return 'ok';
      },
      { initialDelayMs: 1, maxDelayMs: 2, onRetry: (i) => attempts.push(i.attempt) },
    );
    assert.equal(out, 'ok');
    assert.deepEqual(attempts, [1, 2, 3]);
  });

  test('only retryable errors are retried (default: canRetry, i.e. transient)', async () => {
    for (const kind of ['permanent', 'not-found', 'already-exists'] as const) {
      let calls = 0;
      await assert.rejects(
        retry(
          async () => {
            calls++;
            throw new StorageError('no', kind);
          },
          { initialDelayMs: 1 },
        ),
        (e: unknown) => e instanceof StorageError && e.storageKind === kind,
      );
      assert.equal(calls, 1, kind);
    }
    let calls = 0;
    await assert.rejects(
      retry(
        async () => {
          calls++;
          throw new Error('plain');
        },
        { initialDelayMs: 1 },
      ),
    );
    assert.equal(calls, 1);
  });

  test('stops at maxRetries and rethrows the last error', async () => {
    let calls = 0;
    const last = new StorageError('last', 'transient');
    await assert.rejects(
      retry(
        async () => {
          calls++;
          throw calls === 4 ? last : transient();
        },
        { maxRetries: 3, initialDelayMs: 1, maxDelayMs: 1 },
      ),
      (e: unknown) => e === last,
    );
    assert.equal(calls, 4);
  });

  test('custom isRetryable', async () => {
    let calls = 0;
    await retry(
      async () => {
        if (++calls < 3) throw new Error('x');
      },
      { isRetryable: () => true, initialDelayMs: 1 },
    );
    assert.equal(calls, 3);
  });

  test('an aborted signal stops during the backoff sleep', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(new Error('stop')), 20);
    await assert.rejects(
      retry(
        async () => {
          throw transient();
        },
        { initialDelayMs: 10_000, maxDelayMs: 10_000, random: () => 0.99, signal: ac.signal },
      ),
      /stop/,
    );
    assert.ok(Date.now() - t0 < 1000);
  });
});
