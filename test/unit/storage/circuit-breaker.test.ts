import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CircuitBreaker, CircuitOpenError, type CircuitState } from '../../../src/util/circuit-breaker.ts';

function setup(opts: Partial<ConstructorParameters<typeof CircuitBreaker>[0]> = {}) {
  let now = 1_000_000;
  const changes: string[] = [];
  const b = new CircuitBreaker({
    name: 'thing',
    failureThreshold: 3,
    resetTimeoutSecs: 10,
    now: () => now,
    onStateChange: ({ from, to }) => changes.push(`${from}->${to}`),
    ...opts,
  });
  let calls = 0;
  const fail = () =>
    b.call(async () => {
      calls++;
      throw new Error('boom');
    });
  const ok = () =>
    b.call(async () => {
      calls++;
      return 'ok';
    });
  return {
    b,
    changes,
    fail,
    ok,
    calls: () => calls,
    advance: (secs: number) => {
      now += secs * 1000;
    },
  };
}

async function failN(f: () => Promise<unknown>, n: number) {
  for (let i = 0; i < n; i++) await f().catch(() => {});
}

describe('circuit breaker', () => {
  test('opens after failureThreshold consecutive failures', async () => {
    const t = setup();
    await failN(t.fail, 2);
    assert.equal(t.b.state, 'closed');
    await t.ok(); // resets the count
    await failN(t.fail, 2);
    assert.equal(t.b.state, 'closed');
    await failN(t.fail, 1);
    assert.equal(t.b.state, 'open');
    assert.deepEqual(t.changes, ['closed->open']);
  });

  test('rejects at once while open without calling, saying when it retries', async () => {
    const t = setup();
    await failN(t.fail, 3);
    const before = t.calls();
    await assert.rejects(t.ok(), (e: unknown) => {
      assert.ok(e instanceof CircuitOpenError);
      assert.equal(e.gaveUp, false);
      assert.equal(e.canRetry, true);
      assert.match(e.message, /circuit breaker for thing is open after 3 consecutive failures; next trial in 10s/);
      assert.match(e.message, /boom/);
      return true;
    });
    assert.equal(t.calls(), before);
  });

  test('half-open lets exactly halfOpenRequests trial calls through', async () => {
    const t = setup({ halfOpenRequests: 2 });
    await failN(t.fail, 3);
    t.advance(10);
    assert.equal(t.b.state, 'half-open');
    const gates: (() => void)[] = [];
    const slow = () =>
      t.b.call(
        () =>
          new Promise<string>((resolve) => {
            gates.push(() => resolve('done'));
          }),
      );
    const p1 = slow();
    const p2 = slow();
    const before = t.calls();
    await assert.rejects(t.ok(), CircuitOpenError); // third is refused
    assert.equal(t.calls(), before);
    assert.equal(gates.length, 2);
    for (const g of gates) g();
    assert.deepEqual(await Promise.all([p1, p2]), ['done', 'done']);
    assert.equal(t.b.state, 'closed');
  });

  test('a trial success closes it', async () => {
    const t = setup();
    await failN(t.fail, 3);
    t.advance(10);
    assert.equal(await t.ok(), 'ok');
    assert.equal(t.b.state, 'closed');
    assert.deepEqual(t.changes, ['closed->open', 'open->half-open', 'half-open->closed']);
    await failN(t.fail, 2);
    assert.equal(t.b.state, 'closed', 'count starts again from zero');
  });

  test('a trial failure re-opens it for another reset timeout', async () => {
    const t = setup();
    await failN(t.fail, 3);
    t.advance(10);
    await assert.rejects(t.fail(), /boom/);
    assert.equal(t.b.state, 'open');
    t.advance(9);
    await assert.rejects(t.ok(), CircuitOpenError);
    t.advance(1);
    assert.equal(await t.ok(), 'ok');
    assert.deepEqual(t.changes, [
      'closed->open',
      'open->half-open',
      'half-open->open',
      'open->half-open',
      'half-open->closed',
    ]);
  });

  test('giveUpAfterSecs: after being open that long, calls fail permanently', async () => {
    const t = setup({ giveUpAfterSecs: 25 });
    await failN(t.fail, 3);
    for (let i = 0; i < 2; i++) {
      t.advance(10);
      await assert.rejects(t.fail(), /boom/); // trial fails, re-opens
    }
    t.advance(6); // 26 s since it first opened
    const before = t.calls();
    await assert.rejects(t.ok(), (e: unknown) => {
      assert.ok(e instanceof CircuitOpenError);
      assert.equal(e.gaveUp, true);
      assert.equal(e.canRetry, false);
      assert.equal(e.code, 'CIRCUIT_GAVE_UP');
      assert.match(e.message, /gave up after 26s/);
      return true;
    });
    assert.equal(t.calls(), before);
    t.b.reset();
    assert.equal(await t.ok(), 'ok');
  });

  test('isFailure: errors that do not count pass through and leave it closed', async () => {
    const t = setup({ isFailure: (e) => (e as Error).message !== 'benign' });
    for (let i = 0; i < 5; i++) {
      await assert.rejects(
        t.b.call(async () => {
          throw new Error('benign');
        }),
        /benign/,
      );
    }
    assert.equal(t.b.state, 'closed');
  });

  test('state callback reports every change', async () => {
    const seen: CircuitState[] = [];
    const t = setup({ onStateChange: ({ to }) => seen.push(to) });
    await failN(t.fail, 3);
    t.advance(10);
    await t.ok();
    assert.deepEqual(seen, ['open', 'half-open', 'closed']);
  });
});
