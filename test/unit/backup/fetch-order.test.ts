/**
 * FetchOrder against a model of the broker's fill rule: partitions in request order, each up to
 * partition_max_bytes, until fetch_max_bytes is used up (Kafka's ReplicaManager.readFromLog).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FetchOrder } from '../../../src/backup/fetch-order.ts';

interface P {
  name: string;
  left: number;
}

/** One response: which partitions got bytes, and how many. */
function brokerFill(request: P[], fetchMax: number, partitionMax: number): Map<P, number> {
  const out = new Map<P, number>();
  let budget = fetchMax;
  for (const p of request) {
    const n = Math.min(p.left, partitionMax, budget);
    if (n > 0) out.set(p, n);
    p.left -= n;
    budget -= n;
  }
  return out;
}

const partitions = (n: number, bytes: number): P[] =>
  Array.from({ length: n }, (_, i) => ({ name: `p${i}`, left: bytes }));

test('with a fixed order the last partitions get nothing until the first ones are done (the defect)', () => {
  const ps = partitions(8, 10_000);
  const firstServed = new Map<string, number>();
  for (let req = 1; req <= 10; req++)
    for (const p of brokerFill(ps, 4000, 1000).keys()) if (!firstServed.has(p.name)) firstServed.set(p.name, req);
  assert.equal(firstServed.get('p0'), 1);
  assert.equal(firstServed.get('p7'), undefined, 'p7 starved for 10 requests');
});

test('least recently served first: every partition gets data within ceil(partitions / per response) requests', () => {
  const ps = partitions(8, 10_000);
  const order = new FetchOrder<P>();
  const firstServed = new Map<string, number>();
  const perPartition = new Map<string, number>();
  for (let req = 1; req <= 10; req++) {
    for (const [p, n] of brokerFill(order.order(ps), 4000, 1000)) {
      order.served(p);
      if (!firstServed.has(p.name)) firstServed.set(p.name, req);
      perPartition.set(p.name, (perPartition.get(p.name) ?? 0) + n);
    }
  }
  for (const p of ps)
    assert.ok((firstServed.get(p.name) ?? 99) <= 2, `${p.name} first served at ${firstServed.get(p.name)}`);
  // and the bytes are shared evenly: 10 responses x 4000 bytes over 8 partitions
  for (const p of ps) assert.equal(perPartition.get(p.name), 5000, p.name);
});

test('ties keep the caller order; a partition that got nothing stays ahead of those that did', () => {
  const [a, b, c] = [{ n: 'a' }, { n: 'b' }, { n: 'c' }];
  const order = new FetchOrder<{ n: string }>();
  assert.deepEqual(order.order([a, b, c]), [a, b, c]);
  order.served(a);
  assert.deepEqual(order.order([a, b, c]), [b, c, a]);
  order.served(c);
  assert.deepEqual(order.order([a, b, c]), [b, a, c]);
  // a new partition (never served) goes first
  const d = { n: 'd' };
  assert.deepEqual(order.order([a, b, c, d]), [b, d, a, c]);
});
