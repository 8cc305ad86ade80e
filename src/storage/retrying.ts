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
 *
 * A create-if-absent put (ifAbsent) that failed transiently may have been applied, its answer
 * lost (a reset or timeout after the server stored it); the retry then finds the key taken. An
 * 'already-exists' after such a failure is checked by reading the object back: our own bytes
 * mean the earlier attempt won, and the put succeeds; other bytes are another writer's, and the
 * 'already-exists' stands. Without it, a lost answer was a false "someone else wrote this":
 * commits and checkpoints were saved by putImmutable's own comparison (src/repository/
 * immutable.ts), but the consumer-offset capture was dropped from the snapshot and a restore
 * failed writing its plan ("plan.json: already exists"). An 'already-exists' on the first
 * attempt is never second-guessed.
 */
import { isAlreadyExists, StorageError } from '../errors.ts';
import type { Logger } from '../util/log.ts';
import { type RetryInfo, retry } from '../util/retry.ts';
import { incompleteOf, type ObjectInfo, type ObjectWriter, type StorageBackend } from './backend.ts';
import type { RetryOptions } from './options.ts';

export interface RetryingHooks {
  logger?: Logger;
  /** Called before each retry (tests count them; metrics can too). */
  onRetry?: (info: RetryInfo & { op: string; key: string }) => void;
  signal?: AbortSignal;
  /**
   * When the breaker refuses a call after the retries ran out, wait for its next trial and try
   * again instead of failing (the breaker's give-up deadline then bounds the wait).
   */
  waitForBreaker?: boolean;
  /** Breaker cycles a call may wait through (default MAX_BREAKER_WAITS; unbounded when the breaker never gives up). */
  maxBreakerWaits?: number;
}

export function isTransient(error: unknown): boolean {
  return error instanceof StorageError && error.storageKind === 'transient';
}

/** When the breaker refused a call: the time it lets trial calls through again. */
function breakerRetryAt(error: unknown): number | null {
  if (!(error instanceof StorageError) || error.code !== 'CIRCUIT_OPEN') return null;
  const at = (error.cause as { retryAt?: Date } | undefined)?.retryAt;
  return at instanceof Date ? at.getTime() : Date.now() + 1000;
}

/**
 * Breaker cycles a call may wait through after its retries ran out on an open breaker. The
 * breaker's own give-up deadline (give_up_after_secs) ends the wait earlier when configured.
 */
const MAX_BREAKER_WAITS = 100;

export function retrying(inner: StorageBackend, options: RetryOptions, hooks: RetryingHooks = {}): StorageBackend {
  // An open breaker is not a failed attempt: wait until it lets trial calls through, then
  // retry with a fresh budget, so a storage outage longer than the retries does not end the run
  // while the breaker is still cycling (its give-up deadline does).
  const run = async <T>(op: string, key: string, fn: () => Promise<T>): Promise<T> => {
    for (let waits = 0; ; waits++) {
      try {
        return await runOnce(op, key, fn);
      } catch (error) {
        const at = breakerRetryAt(error);
        if (
          at === null ||
          !hooks.waitForBreaker ||
          waits >= (hooks.maxBreakerWaits ?? MAX_BREAKER_WAITS) ||
          hooks.signal?.aborted
        )
          throw error;
        const delay = Math.max(0, at - Date.now()) + Math.floor(Math.random() * 100);
        hooks.logger?.info('storage circuit breaker is open; waiting for its next trial', { op, key, delay_ms: delay });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  };
  const runOnce = <T>(op: string, key: string, fn: () => Promise<T>): Promise<T> =>
    retry(fn, {
      maxRetries: options.max_retries,
      initialDelayMs: options.initial_delay_ms,
      maxDelayMs: options.max_delay_ms,
      isRetryable: (e) => isTransient(e) && (!hooks.waitForBreaker || breakerRetryAt(e) === null),
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
    put: async (key, body, opts) => {
      if (!opts?.ifAbsent) return run('put', key, () => inner.put(key, body, opts));
      let uncertain = false;
      try {
        await run('put', key, async () => {
          try {
            await inner.put(key, body, opts);
          } catch (e) {
            if (isTransient(e)) uncertain = true;
            throw e;
          }
        });
      } catch (e) {
        if (!uncertain || !isAlreadyExists(e)) throw e;
        const stored = await run('get', key, () => inner.get(key));
        if (Buffer.compare(stored, body) !== 0) throw e;
        hooks.logger?.info('create-if-absent put found its own earlier attempt applied (its answer was lost)', {
          key,
          location: inner.location,
        });
      }
    },
    openWriter: async (key) => wrapWriter(key, await run('openWriter', key, () => inner.openWriter(key))),
    load: (key, range, hints) => run('load', key, () => inner.load(key, range, hints)),
    get: (key) => run('get', key, () => inner.get(key)),
    stat: (key) => run('stat', key, () => inner.stat(key)),
    delete: (key) => run('delete', key, () => inner.delete(key)),
    close: () => inner.close(),
    ...incompleteOf(inner),
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
