/**
 * The one behaviour suite every storage backend runs against a real server. Each backend's
 * test file calls runBackendSuite with a factory; the factory gets a small part size so the
 * streamed-write cases cross several parts.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { StorageError } from '../../../src/errors.ts';
import type { StorageBackend } from '../../../src/storage/backend.ts';
import { probeConditionalWrites } from '../../../src/storage/probe.ts';

export const SUITE_PART_SIZE = 5 * 1024 * 1024;

export interface SuiteOptions {
  /** Objects to create for the pagination case (the factory should make pages small). */
  listCount?: number;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export async function assertStorageError(
  p: Promise<unknown>,
  kind: StorageError['storageKind'],
  re?: RegExp,
): Promise<StorageError> {
  try {
    await p;
  } catch (error) {
    assert.ok(error instanceof StorageError, `expected StorageError, got ${String(error)}`);
    assert.equal(error.storageKind, kind, `expected ${kind}: ${error.message}`);
    if (re) assert.match(error.message, re);
    return error;
  }
  assert.fail(`expected a ${kind} StorageError`);
}

async function collect(it: AsyncIterable<{ key: string; size: number }>) {
  const out: { key: string; size: number }[] = [];
  for await (const o of it) out.push({ key: o.key, size: o.size });
  return out;
}

export function runBackendSuite(
  name: string,
  makeBackend: () => Promise<StorageBackend>,
  options: SuiteOptions = {},
): void {
  describe(`storage backend: ${name}`, () => {
    let b: StorageBackend;
    before(async () => {
      b = await makeBackend();
    });
    after(async () => {
      await b?.close();
    });

    test('put then get returns the same bytes', async () => {
      const body = randomBytes(1000);
      await b.put('basic/one.bin', body);
      assert.deepEqual(await b.get('basic/one.bin'), body);
      await b.put('basic/one.bin', Buffer.from('overwritten'));
      assert.equal((await b.get('basic/one.bin')).toString(), 'overwritten');
      await b.put('basic/empty', new Uint8Array(0));
      assert.equal((await b.get('basic/empty')).length, 0);
    });

    test('the conditional-write probe passes (create-if-absent is honoured) and leaves nothing behind', async () => {
      await probeConditionalWrites(b, 'probe-line');
      assert.deepEqual(await collect(b.list('probe-line/')), []);
    });

    test('put ifAbsent twice: second is already-exists, content unchanged', async () => {
      await b.put('lease/manifest.json', Buffer.from('first'), { ifAbsent: true });
      await assertStorageError(
        b.put('lease/manifest.json', Buffer.from('second'), { ifAbsent: true }),
        'already-exists',
      );
      assert.equal((await b.get('lease/manifest.json')).toString(), 'first');
    });

    test('openWriter: several parts larger than the part size, sha256 matches', async () => {
      const total = 12 * 1024 * 1024 + 12345;
      const data = randomBytes(total);
      const w = await b.openWriter('big/data.bin');
      // uneven chunk sizes, some larger than a part
      const sizes = [1000, 3 * 1024 * 1024, 7 * 1024 * 1024, 77];
      let off = 0;
      let i = 0;
      while (off < total) {
        const n = Math.min(sizes[i++ % sizes.length]!, total - off);
        await w.write(data.subarray(off, off + n));
        off += n;
      }
      assert.equal(w.bytesWritten, total);
      const info = await w.commit();
      assert.equal(info.size, total);
      const back = await b.get('big/data.bin');
      assert.equal(back.length, total);
      assert.equal(sha256(back), sha256(data));
      assert.equal((await b.stat('big/data.bin')).size, total);
    });

    test('openWriter: small object (under one part) commits', async () => {
      const w = await b.openWriter('small/writer.bin');
      await w.write(Buffer.from('hello '));
      await w.write(Buffer.from('world'));
      await w.commit();
      assert.equal((await b.get('small/writer.bin')).toString(), 'hello world');
    });

    test('openWriter: not visible before commit; abort leaves nothing visible', async () => {
      const w = await b.openWriter('pending/a.bin');
      await w.write(randomBytes(SUITE_PART_SIZE + 100)); // one part uploaded
      await assertStorageError(b.stat('pending/a.bin'), 'not-found');
      assert.deepEqual(await collect(b.list('pending/')), []);
      await w.abort();
      await w.abort(); // idempotent
      await assertStorageError(b.stat('pending/a.bin'), 'not-found');
      assert.deepEqual(await collect(b.list('pending/')), []);
    });

    test('ranged load', async () => {
      const body = Buffer.from('0123456789abcdefghij');
      await b.put('range/r.txt', body);
      assert.equal((await readAll(await b.load('range/r.txt', { offset: 5, length: 4 }))).toString(), '5678');
      assert.equal((await readAll(await b.load('range/r.txt', { offset: 15 }))).toString(), 'fghij');
      assert.equal((await readAll(await b.load('range/r.txt', { offset: 0, length: 1 }))).toString(), '0');
      assert.equal((await readAll(await b.load('range/r.txt'))).toString(), body.toString());
      // a read-size hint smaller than the object (the filesystem then reads 3 bytes at a time)
      assert.equal(
        (await readAll(await b.load('range/r.txt', undefined, { readBytes: 3 }))).toString(),
        body.toString(),
      );
      assert.equal(
        (await readAll(await b.load('range/r.txt', { offset: 4, length: 11 }, { readBytes: 3 }))).toString(),
        '456789abcde',
      );
    });

    test('stat size', async () => {
      await b.put('stat/s.bin', randomBytes(4321));
      const info = await b.stat('stat/s.bin');
      assert.equal(info.key, 'stat/s.bin');
      assert.equal(info.size, 4321);
    });

    test('missing key: stat, get, load are not-found', async () => {
      await assertStorageError(b.stat('missing/nope'), 'not-found');
      await assertStorageError(b.get('missing/nope'), 'not-found');
      await assertStorageError(b.load('missing/nope'), 'not-found');
    });

    test('list by prefix with pagination, sorted', async () => {
      const n = options.listCount ?? 25;
      const keys = Array.from({ length: n }, (_, i) => `list/p/${String(i).padStart(5, '0')}`);
      for (let i = 0; i < keys.length; i += 16) {
        await Promise.all(keys.slice(i, i + 16).map((k) => b.put(k, Buffer.from(k))));
      }
      await b.put('list/other', Buffer.from('x'));
      await b.put('listing-not-under', Buffer.from('x'));
      const listed = await collect(b.list('list/p/'));
      assert.deepEqual(
        listed.map((o) => o.key),
        keys,
      );
      assert.equal(listed[0]!.size, keys[0]!.length);
      const all = (await collect(b.list('list/'))).map((o) => o.key);
      assert.equal(all.length, n + 1);
      assert.ok(all.includes('list/other'));
      assert.ok(!all.includes('listing-not-under'));
      // prefix that is not a directory boundary
      assert.deepEqual(
        (await collect(b.list('list/p/0000'))).map((o) => o.key),
        keys.slice(0, Math.min(10, n)),
      );
      assert.deepEqual(await collect(b.list('nothing-here/')), []);
    });

    test('delete then not-found; deleting a missing key is fine', async () => {
      await b.put('del/x', Buffer.from('x'));
      await b.delete('del/x');
      await assertStorageError(b.stat('del/x'), 'not-found');
      await b.delete('del/x');
      await b.delete('del/never-existed');
    });

    test('keys with nested slashes', async () => {
      const key = 'a/b/c/d/e/f.json';
      await b.put(key, Buffer.from('{}'));
      assert.equal((await b.get(key)).toString(), '{}');
      const listed = await collect(b.list('a/b/'));
      assert.deepEqual(
        listed.map((o) => o.key),
        [key],
      );
      await b.delete(key);
      assert.deepEqual(await collect(b.list('a/')), []);
    });

    test('invalid keys are refused', async () => {
      await assertStorageError(b.put('/abs', Buffer.from('x')), 'permanent');
      await assertStorageError(b.put('a/../b', Buffer.from('x')), 'permanent');
    });
  });
}
