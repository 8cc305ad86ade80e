/** The wrappers and the error classification, against an in-memory fake backend. */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { StorageError } from '../../../src/errors.ts';
import { azureError } from '../../../src/storage/azure.ts';
import type { ObjectInfo, StorageBackend } from '../../../src/storage/backend.ts';
import { breaking } from '../../../src/storage/breaking.ts';
import { dryRun } from '../../../src/storage/dry-run.ts';
import { fsError } from '../../../src/storage/filesystem.ts';
import { gcsError } from '../../../src/storage/gcs.ts';
import { limiting } from '../../../src/storage/limiting.ts';
import { metered } from '../../../src/storage/metered.ts';
import { PartWriter } from '../../../src/storage/part-writer.ts';
import { retrying } from '../../../src/storage/retrying.ts';
import { s3Error } from '../../../src/storage/s3.ts';
import { CircuitBreaker } from '../../../src/util/circuit-breaker.ts';

class Fake implements StorageBackend {
  readonly location = 'fake://x';
  objects = new Map<string, Buffer>();
  calls = 0;
  inFlight = 0;
  maxInFlight = 0;
  /** Errors to throw on the next calls. */
  failures: StorageError[] = [];
  listFailAt: number | undefined;
  private async step() {
    this.calls++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, 2));
    this.inFlight--;
    const f = this.failures.shift();
    if (f) throw f;
  }
  async put(key: string, body: Uint8Array) {
    await this.step();
    this.objects.set(key, Buffer.from(body));
  }
  async openWriter(key: string) {
    await this.step();
    const parts: Buffer[] = [];
    return new PartWriter(
      4,
      {
        uploadPart: async (i, d) => {
          await this.step();
          parts[i] = Buffer.from(d); // the part buffer is reused after this resolves
        },
        finish: async (n, rest, total) => {
          await this.step();
          this.objects.set(key, Buffer.concat([...parts.slice(0, n), rest]));
          return { key, size: total };
        },
        discard: async () => {},
      },
      key,
    );
  }
  /** Arguments of the last load(), to check that wrappers pass them through. */
  lastLoad: unknown[] = [];
  async load(...args: unknown[]): Promise<Readable> {
    await this.step();
    this.lastLoad = args;
    return Readable.from([]);
  }
  async get(key: string) {
    await this.step();
    const v = this.objects.get(key);
    if (!v) throw new StorageError('nf', 'not-found');
    return v;
  }
  async stat(key: string) {
    return { key, size: (await this.get(key)).length };
  }
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let i = 0;
    for (const k of [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort()) {
      if (this.listFailAt !== undefined && i++ === this.listFailAt) {
        this.listFailAt = undefined;
        throw new StorageError('page failed', 'transient');
      }
      yield { key: k, size: this.objects.get(k)!.length };
    }
  }
  async delete(key: string) {
    await this.step();
    this.objects.delete(key);
  }
  async close() {}
}

const fastRetry = { max_retries: 5, initial_delay_ms: 1, max_delay_ms: 2 };
const t = () => new StorageError('blip', 'transient');

describe('storage wrappers', () => {
  test('retrying: transient retried, others not; writer parts resume with the same chunk', async () => {
    const f = new Fake();
    let retries = 0;
    const s = retrying(f, fastRetry, { onRetry: () => retries++ });
    f.failures = [t(), t()];
    await s.put('a', Buffer.from('A'));
    assert.equal(retries, 2);
    await assert.rejects(s.get('missing'), (e: unknown) => (e as StorageError).storageKind === 'not-found');
    assert.equal(retries, 2);
    const w = await s.openWriter('w');
    f.failures = [t()]; // first part upload fails once
    await w.write(Buffer.from('0123456789'));
    f.failures = [t()];
    await w.commit();
    assert.equal(f.objects.get('w')?.toString(), '0123456789');
    assert.equal(retries, 4);
  });

  test('retrying: a list page failure restarts after the last key yielded', async () => {
    const f = new Fake();
    for (const k of ['a', 'b', 'c', 'd']) f.objects.set(k, Buffer.from(k));
    f.listFailAt = 2;
    const keys: string[] = [];
    for await (const o of retrying(f, fastRetry).list('')) keys.push(o.key);
    assert.deepEqual(keys, ['a', 'b', 'c', 'd']);
  });

  test('part writer refuses a different chunk after a failed write', async () => {
    const f = new Fake();
    const w = await f.openWriter('x');
    f.failures = [t()];
    await assert.rejects(w.write(Buffer.from('12345')));
    await assert.rejects(w.write(Buffer.from('other')), /previous write failed/);
  });

  test('breaking: not-found does not count; transient failures open it', async () => {
    const f = new Fake();
    const breaker = new CircuitBreaker({ name: 'fake', failureThreshold: 2, resetTimeoutSecs: 60 });
    const s = breaking(f, breaker);
    for (let i = 0; i < 5; i++) await assert.rejects(s.get('nope'));
    assert.equal(breaker.state, 'closed');
    f.failures = [t(), t()];
    await assert.rejects(s.put('a', Buffer.from('a')));
    await assert.rejects(s.put('a', Buffer.from('a')));
    assert.equal(breaker.state, 'open');
    const calls = f.calls;
    await assert.rejects(s.put('a', Buffer.from('a')), (e: unknown) => {
      assert.ok(e instanceof StorageError);
      assert.equal(e.code, 'CIRCUIT_OPEN');
      assert.equal(e.storageKind, 'transient');
      return true;
    });
    assert.equal(f.calls, calls);
  });

  test('limiting: never more than max calls in flight', async () => {
    const f = new Fake();
    const s = limiting(f, 3);
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.put(`k${i}`, Buffer.from('x'))));
    assert.equal(f.maxInFlight, 3);
  });

  test("every wrapper passes load()'s range and read hints to the backend", async () => {
    const f = new Fake();
    const quiet = { info() {}, warn() {}, error() {}, debug() {}, child: () => quiet };
    const sink = { request() {}, retry() {}, breaker() {} };
    const chain = metered(
      dryRun(limiting(breaking(retrying(f, fastRetry), new CircuitBreaker({ name: 'fake' })), 2), quiet),
      'fake',
      sink,
    );
    await chain.load('k', { offset: 3, length: 5 }, { readBytes: 262_144 });
    assert.deepEqual(f.lastLoad, ['k', { offset: 3, length: 5 }, { readBytes: 262_144 }]);
  });

  test('dry run: writes and deletes skipped, reads pass through', async () => {
    const f = new Fake();
    f.objects.set('existing', Buffer.from('e'));
    const logged: string[] = [];
    const log = {
      info: (m: string, fields?: Record<string, unknown>) => logged.push(`${m} ${fields?.['key']}`),
      warn() {},
      error() {},
      debug() {},
      child() {
        return log;
      },
    };
    const s = dryRun(f, log);
    await s.put('new', Buffer.from('n'));
    await s.delete('existing');
    const w = await s.openWriter('big');
    await w.write(Buffer.from('abc'));
    assert.equal((await w.commit()).size, 3);
    assert.deepEqual([...f.objects.keys()], ['existing']);
    assert.equal((await s.get('existing')).toString(), 'e');
    assert.equal(logged.length, 3);
  });
});

describe('error classification', () => {
  const s3 = (name: string, status?: number, extra: object = {}) =>
    s3Error(
      Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status }, ...extra }),
      'get',
      'bkt',
      'k',
    );
  test('s3', () => {
    assert.equal(s3('NoSuchKey', 404).storageKind, 'not-found');
    assert.equal(s3('NotFound', 404).storageKind, 'not-found');
    const nb = s3('NoSuchBucket', 404);
    assert.equal(nb.storageKind, 'permanent');
    assert.match(nb.message, /bucket bkt does not exist/);
    for (const n of ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch']) {
      const e = s3(n, 403);
      assert.equal(e.storageKind, 'permanent');
      assert.equal(e.code, 'STORAGE_AUTH');
    }
    assert.equal(s3('PreconditionFailed', 412).storageKind, 'already-exists');
    for (const [n, st] of [
      ['SlowDown', 503],
      ['InternalError', 500],
      ['Whatever', 502],
      ['TooMany', 429],
    ] as const) {
      assert.equal(s3(n, st).storageKind, 'transient', n);
    }
    assert.equal(
      s3Error(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'get', 'b').storageKind,
      'transient',
    );
    assert.equal(s3Error(Object.assign(new Error('t'), { name: 'TimeoutError' }), 'get', 'b').storageKind, 'transient');
    assert.equal(s3('InvalidArgument', 400).storageKind, 'permanent');
  });

  test('filesystem', () => {
    const e = (code: string) => fsError(Object.assign(new Error(code), { code }), 'put', '/data/x', 'x');
    assert.equal(e('ENOENT').storageKind, 'not-found');
    for (const c of ['EACCES', 'EROFS']) {
      const err = e(c);
      assert.equal(err.storageKind, 'permanent');
      assert.match(err.message, /\/data\/x/);
      assert.match(err.hint ?? '', /check the permissions of \/data\/x/);
    }
    assert.match(e('ENOSPC').message, /disk full/);
    assert.equal(e('ENOSPC').storageKind, 'permanent');
  });

  test('azure and gcs', () => {
    const az = (code: string, statusCode?: number) =>
      azureError(
        Object.assign(new Error('Server failed: Signature=abc'), { statusCode, code, details: { errorCode: code } }),
        'put',
        'azure://a/c',
        'c',
        'k',
      );
    assert.equal(az('BlobNotFound', 404).storageKind, 'not-found');
    assert.match(az('ContainerNotFound', 404).message, /container c does not exist/);
    assert.equal(az('AuthenticationFailed', 403).code, 'STORAGE_AUTH');
    assert.ok(!az('AuthenticationFailed', 403).message.includes('Signature'));
    assert.equal(az('BlobAlreadyExists', 409).storageKind, 'already-exists');
    assert.equal(az('ServerBusy', 503).storageKind, 'transient');
    assert.equal(az('REQUEST_SEND_ERROR').storageKind, 'transient');
    const g = (code: number, msg = 'x') => gcsError(Object.assign(new Error(msg), { code }), 'get', 'b', 'k');
    assert.equal(g(404, 'No such object: b/k').storageKind, 'not-found');
    assert.match(g(404, 'The specified bucket does not exist.').message, /bucket b does not exist/);
    assert.equal(g(412).storageKind, 'already-exists');
    assert.equal(g(403).code, 'STORAGE_AUTH');
    assert.equal(g(503).storageKind, 'transient');
    assert.equal(g(429).storageKind, 'transient');
  });
});
