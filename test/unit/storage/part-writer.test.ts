import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { StorageError } from '../../../src/errors.ts';
import { type PartSink, PartWriter } from '../../../src/storage/part-writer.ts';

/** A sink that records what each part held when it was uploaded, and can fail on demand. */
function recordingSink() {
  const parts = new Map<number, Buffer>();
  const attempts: number[] = [];
  const seenBuffers = new Set<ArrayBufferLike>();
  let failNext = 0;
  let finished: Buffer | undefined;
  const sink: PartSink = {
    async uploadPart(index, data) {
      attempts.push(index);
      seenBuffers.add(data.buffer);
      if (failNext > 0) {
        failNext--;
        throw new StorageError('injected', 'transient');
      }
      parts.set(index, Buffer.from(data));
    },
    async finish(n, rest, total) {
      if (failNext > 0) {
        failNext--;
        throw new StorageError('injected', 'transient');
      }
      finished = Buffer.concat([...Array.from({ length: n }, (_, i) => parts.get(i)!), rest]);
      assert.equal(finished.length, total);
      return { key: 'k', size: total };
    },
    async discard() {},
  };
  return {
    sink,
    parts,
    attempts,
    seenBuffers,
    failOnce: () => {
      failNext = 1;
    },
    result: () => finished,
  };
}

test('parts are exactly partSize, the tail goes to finish, content is exact', async () => {
  const s = recordingSink();
  const w = new PartWriter(1000, s.sink, 'k');
  const data = randomBytes(3456);
  for (let i = 0; i < data.length; i += 333) await w.write(data.subarray(i, i + 333));
  await w.commit();
  assert.deepEqual([...s.parts.keys()], [0, 1, 2]);
  for (const p of s.parts.values()) assert.equal(p.length, 1000);
  assert.deepEqual(s.result(), data);
});

test('one part buffer is reused for every part (no copy per part)', async () => {
  const s = recordingSink();
  const w = new PartWriter(PartWriter.FIRST_CAPACITY, s.sink, 'k');
  const data = randomBytes(PartWriter.FIRST_CAPACITY * 5 + 17);
  for (let i = 0; i < data.length; i += 65536) await w.write(data.subarray(i, i + 65536));
  await w.commit();
  assert.equal(s.parts.size, 5);
  assert.equal(s.seenBuffers.size, 1, 'every part went out of the same buffer');
  assert.deepEqual(s.result(), data);
});

test('chunks are copied: the writer keeps no view of the caller’s (possibly larger) allocation', async () => {
  const s = recordingSink();
  const w = new PartWriter(1 << 20, s.sink, 'k');
  const big = Buffer.alloc(4096, 7);
  await w.write(big.subarray(0, 10));
  big.fill(9); // the contract forbids this; it shows the writer holds a copy, not a view
  await w.commit();
  assert.deepEqual(s.result(), Buffer.alloc(10, 7));
});

test('a failed part is sent again under the same number when the same chunk is retried', async () => {
  const s = recordingSink();
  const w = new PartWriter(100, s.sink, 'k');
  const a = randomBytes(150);
  const b = randomBytes(130);
  await w.write(a);
  s.failOnce();
  await assert.rejects(w.write(b), /injected/);
  await assert.rejects(w.write(randomBytes(130)), /retry it with the same chunk/);
  await w.write(b);
  await w.commit();
  assert.deepEqual(s.attempts, [0, 1, 1]);
  assert.deepEqual(s.result(), Buffer.concat([a, b]));
  assert.equal(w.bytesWritten, 280);
});

test('a failed commit can be retried; a write failure that was not retried refuses commit', async () => {
  const s = recordingSink();
  const w = new PartWriter(100, s.sink, 'k');
  const a = randomBytes(250);
  await w.write(a);
  s.failOnce();
  await assert.rejects(w.commit(), /injected/);
  await w.commit();
  assert.deepEqual(s.result(), a);
  await assert.rejects(w.write(a), /already committed/);

  const t = recordingSink();
  const v = new PartWriter(100, t.sink, 'k');
  t.failOnce();
  await assert.rejects(v.write(randomBytes(120)), /injected/);
  await assert.rejects(v.commit(), /was not retried/);
});

test('an empty writer finishes with an empty tail', async () => {
  const s = recordingSink();
  const w = new PartWriter(100, s.sink, 'k');
  await w.commit();
  assert.deepEqual(s.result(), Buffer.alloc(0));
});
