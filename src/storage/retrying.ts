/**
 * Retry wrapper: every call of the inner backend is retried with exponential backoff and full
 * jitter (src/util/retry.ts) when it fails with StorageError 'transient' — and only then.
 *
 *   put, get, stat, delete, openWriter   the whole call
 *   writer.write(chunk)                  the same chunk again; the backend kept the part buffer
 *                                        and resumes (src/storage/part-writer.ts)
 *   writer.commit(), writer.abort()      the whole call (backends make them idempotent)
 *   load                                 opening the stream; errors while reading it are not retried
 *   list                                 a page that fails mid-way restarts the listing after the
 *                                        last key already yielded
 */
import { StorageError } from '../errors.ts';
import type { Logger } from '../util/log.ts';
import { type RetryInfo, retry } from '../util/retry.ts';
import type { ObjectInfo, ObjectWriter, StorageBackend } from './backend.ts';
import type { RetryOptions } from './options.ts';

export interface RetryingHooks {
  logger?: Logger;
  /** Called before each retry (tests count them; metrics can too). */
  onRetry?: (info: RetryInfo & { op: string; key: string }) => void;
  signal?: AbortSignal;
}

export function isTransient(error: unknown): boolean {
  return error instanceof StorageError && error.storageKind === 'transient';
}

export function retrying(inner: StorageBackend, options: RetryOptions, hooks: RetryingHooks = {}): StorageBackend {
  const run = <T>(op: string, key: string, fn: () => Promise<T>): Promise<T> =>
    retry(fn, {
      maxRetries: options.max_retries,
      initialDelayMs: options.initial_delay_ms,
      maxDelayMs: options.max_delay_ms,
      isRetryable: isTransient,
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      onRetry: (info) => {
        hooks.logger?.warn('storage call failed, retrying', {
          op,
          key,
          location: inner.location,
          attempt: info.attempt,
          maxRetries: options.max_retries,
          delayMs: info.delayMs,
          error: info.error instanceof Error ? info.error.message : String(info.error),
        });
        hooks.onRetry?.({ ...info, op, key });
      },
    });

  const wrapWriter = (key: string, w: ObjectWriter): ObjectWriter => ({
    get bytesWritten() {
      return w.bytesWritten;
    },
    write: (chunk) => run('write', key, () => w.write(chunk)),
    commit: () => run('commit', key, () => w.commit()),
    abort: () => run('abort', key, () => w.abort()),
  });

  return {
    location: inner.location,
    put: (key, body, opts) => run('put', key, () => inner.put(key, body, opts)),
    openWriter: async (key) => wrapWriter(key, await run('openWriter', key, () => inner.openWriter(key))),
    load: (key, range) => run('load', key, () => inner.load(key, range)),
    get: (key) => run('get', key, () => inner.get(key)),
    stat: (key) => run('stat', key, () => inner.stat(key)),
    delete: (key) => run('delete', key, () => inner.delete(key)),
    close: () => inner.close(),
    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      let it = inner.list(prefix)[Symbol.asyncIterator]();
      let broken = false;
      let last: string | undefined;
      const next = async (): Promise<IteratorResult<ObjectInfo>> => {
        try {
          if (!broken) return await it.next();
          // The previous page failed: list again and skip what was already yielded.
          it = inner.list(prefix)[Symbol.asyncIterator]();
          broken = false;
          while (true) {
            const r = await it.next();
            if (r.done || last === undefined || r.value.key > last) return r;
          }
        } catch (error) {
          broken = true;
          throw error;
        }
      };
      while (true) {
        const r = await run('list', prefix, next);
        if (r.done) return;
        last = r.value.key;
        yield r.value;
      }
    },
  };
}
