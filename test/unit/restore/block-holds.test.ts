import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlockPool } from '../../../src/format/block-pool.ts';
import { InFlightWindow, MAX_IN_FLIGHT } from '../../../src/restore/in-flight.ts';
import { PendingRecords } from '../../../src/restore/pending-records.ts';

/** Whether the pool has a buffer to lend again (the probe's lease is kept, so it does not return either). */
function returned(pool: BlockPool, buf: Buffer): boolean {
  const reused = pool.stats.reused;
  const l = pool.acquire(1);
  return pool.stats.reused > reused && l.buffer === buf;
}

describe('what holds a restore block', () => {
  it('a batch in flight holds its block until the send settles, failed sends too', async () => {
    const pool = new BlockPool(1);
    const block = pool.acquire(1);
    const w = new InFlightWindow();
    let finish!: () => void;
    w.add(new Promise<void>((r) => (finish = r)), 100, block);
    block.release(); // the reader is done with it
    assert.equal(returned(pool, block.buffer), false, 'lent again while its batch is in flight');
    finish();
    await w.settle();
    assert.equal(returned(pool, block.buffer), true);
  });

  it('the window waits for the oldest sends when full', async () => {
    const w = new InFlightWindow();
    const order: number[] = [];
    const finishers: (() => void)[] = [];
    for (let i = 0; i < MAX_IN_FLIGHT; i++)
      w.add(
        new Promise<void>((r) => finishers.push(r)).then(() => void order.push(i)),
        10,
        undefined,
      );
    let roomy = false;
    const room = w.makeRoom().then(() => (roomy = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(roomy, false);
    finishers[0]!();
    await room;
    assert.deepEqual(order, [0]);
    for (const f of finishers) f();
    await w.settle();
  });

  it('records waiting to be encoded hold each of their blocks once, until encoded', () => {
    const pool = new BlockPool(2);
    const a = pool.acquire(1);
    const b = pool.acquire(1);
    const p = new PendingRecords(0, 0);
    const rec = { offset: 0, timestamp: 0, key: null, value: a.buffer.subarray(0, 1), headers: [] };
    p.add(rec, a, undefined);
    p.add(rec, a, undefined);
    p.add({ ...rec, value: b.buffer.subarray(0, 1) }, b, undefined);
    a.release();
    b.release();
    assert.equal(returned(pool, a.buffer), false);
    p.encoded();
    const again = [pool.acquire(1).buffer, pool.acquire(1).buffer];
    assert.equal(pool.stats.reused, 2, 'both blocks lent again');
    assert.ok(again.includes(a.buffer) && again.includes(b.buffer));
    assert.throws(() => a.release(), /released more often/, 'encoded() released a exactly once');
  });
});
