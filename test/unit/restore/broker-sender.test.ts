import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Connection } from '@platformatic/kafka';
import type {
  RawProducePartitionResponse,
  RawProduceResponse,
  RawProduceTopic,
} from '../../../src/kafka/produce-raw-v11.ts';
import { BrokerSender } from '../../../src/restore/broker-sender.ts';

const conn = {} as Connection;

function answer(topics: RawProduceTopic[], errorCode = 0): RawProduceResponse {
  return {
    throttleTimeMs: 0,
    responses: topics.map((t) => ({
      name: t.topic,
      partitions: t.partitions.map(
        (p): RawProducePartitionResponse => ({
          index: p.partition,
          errorCode,
          baseOffset: BigInt(p.batches[0]!.length),
          logStartOffset: 0n,
          recordErrors: [],
          errorMessage: null,
          currentLeader: { leaderId: -1, leaderEpoch: -1 },
        }),
      ),
    })),
  };
}

/** A broker that records every request and answers when told to. */
function fakeBroker() {
  const requests: { topics: RawProduceTopic[]; settle: (r: RawProduceResponse | Error) => void }[] = [];
  const produce = (_c: Connection, topics: RawProduceTopic[]) =>
    new Promise<RawProduceResponse>((resolve, reject) => {
      requests.push({ topics, settle: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
    });
  /** What each request carried, as "topic-partition:size" strings. */
  const shapes = () =>
    requests.map((r) =>
      r.topics.flatMap((t) => t.partitions.map((p) => `${t.topic}-${p.partition}:${p.batches[0]!.length}`)),
    );
  return { requests, produce, shapes };
}

/** Lets the sender's flush (next turn of the event loop, after an awaited connect) run. */
const turn = async () => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};
const batch = (size: number) => Buffer.alloc(size);

describe('BrokerSender', () => {
  test('batches queued in the same turn for different partitions travel in one request', async () => {
    const b = fakeBroker();
    const s = new BrokerSender(async () => conn, b.produce);
    const sent = [s.send('a', 0, batch(10)), s.send('a', 1, batch(11)), s.send('b', 0, batch(12))];
    await turn();
    assert.deepEqual(b.shapes(), [['a-0:10', 'a-1:11', 'b-0:12']]);
    b.requests[0]!.settle(answer(b.requests[0]!.topics));
    const res = await Promise.all(sent);
    assert.deepEqual(
      res.map((r) => [r.index, Number(r.baseOffset)]),
      [
        [0, 10],
        [1, 11],
        [0, 12],
      ],
    );
    assert.deepEqual(s.stats, { requests: 1, batches: 3 });
  });

  test('never two batches of one partition in a request, and a partition keeps its order', async () => {
    const b = fakeBroker();
    const s = new BrokerSender(async () => conn, b.produce);
    for (const [p, size] of [
      [0, 1],
      [0, 2],
      [1, 3],
      [0, 4],
      [1, 5],
    ] as const)
      void s.send('t', p, batch(size));
    await turn();
    assert.deepEqual(b.shapes(), [['t-0:1', 't-1:3'], ['t-0:2', 't-1:5'], ['t-0:4']]);
  });

  test('a request stays within maxRequestBytes; a batch that does not fit holds back its partition', async () => {
    const b = fakeBroker();
    const s = new BrokerSender(async () => conn, b.produce, { maxRequestsInFlight: 5, maxRequestBytes: 100 });
    void s.send('t', 0, batch(60));
    void s.send('t', 1, batch(50)); // does not fit after 60
    void s.send('t', 2, batch(40)); // fits
    void s.send('t', 1, batch(5)); // must not overtake t-1's 50-byte batch
    void s.send('t', 3, batch(500)); // larger than the limit: goes alone
    await turn();
    assert.deepEqual(b.shapes(), [['t-0:60', 't-2:40'], ['t-1:50'], ['t-1:5'], ['t-3:500']]);
    for (const r of b.shapes()) {
      const bytes = r.reduce((n, x) => n + Number(x.split(':')[1]), 0);
      assert.ok(r.length === 1 || bytes <= 100, `request ${r} exceeds the limit`);
    }
  });

  test('at most maxRequestsInFlight requests are outstanding; the rest wait for answers', async () => {
    const b = fakeBroker();
    const s = new BrokerSender(async () => conn, b.produce, { maxRequestsInFlight: 2, maxRequestBytes: 1 << 20 });
    const sent = [1, 2, 3, 4, 5].map((n) => s.send('t', 0, batch(n)));
    await turn();
    assert.equal(b.requests.length, 2);
    b.requests[0]!.settle(answer(b.requests[0]!.topics));
    await sent[0];
    await turn();
    assert.equal(b.requests.length, 3);
    for (let i = 1; i < 5; i++) {
      assert.ok(b.requests.length - i <= 2, 'more than 2 requests outstanding');
      b.requests[i]!.settle(answer(b.requests[i]!.topics));
      await turn();
    }
    const res = await Promise.all(sent);
    assert.deepEqual(
      res.map((r) => Number(r.baseOffset)),
      [1, 2, 3, 4, 5],
    );
    assert.deepEqual(b.shapes(), [['t-0:1'], ['t-0:2'], ['t-0:3'], ['t-0:4'], ['t-0:5']]);
  });

  test('batches queued while requests are in flight are gathered into the next request', async () => {
    const b = fakeBroker();
    const s = new BrokerSender(async () => conn, b.produce, { maxRequestsInFlight: 1, maxRequestBytes: 1 << 20 });
    void s.send('t', 0, batch(1));
    await turn();
    for (let p = 0; p < 4; p++) void s.send('t', p, batch(10 + p));
    await turn();
    assert.equal(b.requests.length, 1);
    b.requests[0]!.settle(answer(b.requests[0]!.topics));
    await turn();
    assert.deepEqual(b.shapes(), [['t-0:1'], ['t-0:10', 't-1:11', 't-2:12', 't-3:13']]);
  });

  test('per-partition errors go to their own batch; a failed request rejects each of its batches', async () => {
    const b = fakeBroker();
    const s = new BrokerSender(async () => conn, b.produce);
    const first = [s.send('t', 0, batch(1)), s.send('t', 1, batch(2))];
    await turn();
    const r = answer(b.requests[0]!.topics);
    r.responses[0]!.partitions[1]!.errorCode = 45;
    b.requests[0]!.settle(r);
    const [a0, a1] = await Promise.all(first);
    assert.equal(a0!.errorCode, 0);
    assert.equal(a1!.errorCode, 45);

    const second = [s.send('t', 0, batch(3)), s.send('t', 1, batch(4))];
    await turn();
    b.requests[1]!.settle(new Error('connection reset'));
    const settled = await Promise.allSettled(second);
    assert.deepEqual(
      settled.map((x) => x.status === 'rejected' && (x.reason as Error).message),
      ['connection reset', 'connection reset'],
    );
  });

  test('an answer that leaves out a partition rejects that batch only', async () => {
    const b = fakeBroker();
    const s = new BrokerSender(async () => conn, b.produce);
    const sent = [s.send('t', 0, batch(1)), s.send('t', 1, batch(2))];
    await turn();
    const r = answer(b.requests[0]!.topics);
    r.responses[0]!.partitions.pop();
    b.requests[0]!.settle(r);
    const settled = await Promise.allSettled(sent);
    assert.equal(settled[0]!.status, 'fulfilled');
    assert.equal(settled[1]!.status, 'rejected');
    assert.match(((settled[1] as PromiseRejectedResult).reason as Error).message, /no answer for t-1/);
  });

  test('a failed connection rejects what was queued, and the sender recovers', async () => {
    const b = fakeBroker();
    let up = false;
    const s = new BrokerSender(async () => {
      if (!up) throw new Error('ECONNREFUSED');
      return conn;
    }, b.produce);
    const failed = await Promise.allSettled([s.send('t', 0, batch(1))]);
    assert.equal(failed[0]!.status, 'rejected');
    assert.equal(b.requests.length, 0);
    up = true;
    const again = s.send('t', 0, batch(2));
    await turn();
    b.requests[0]!.settle(answer(b.requests[0]!.topics));
    assert.equal(Number((await again).baseOffset), 2);
  });
});
