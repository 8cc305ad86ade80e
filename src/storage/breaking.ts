/**
 * Circuit-breaker wrapper: every call of the inner backend (each writer call and each list
 * page too) goes through one CircuitBreaker (src/util/circuit-breaker.ts).
 *
 * Only real failures count: 'not-found' and 'already-exists' are answers, and an invalid key
 * is our own mistake, so they pass through without touching the breaker. Whatever the
 * breaker's own isFailure says, this holds, so one breaker can be shared with other users.
 *
 * A call refused by the breaker fails with StorageError code CIRCUIT_OPEN ('transient': the
 * retry wrapper outside will try again after its backoff) or, once the breaker gave up
 * (giveUpAfterSecs), CIRCUIT_GAVE_UP ('permanent').
 */
import { StorageError } from '../errors.ts';
import { type CircuitBreaker, CircuitOpenError } from '../util/circuit-breaker.ts';
import { incompleteOf, type ObjectInfo, type ObjectWriter, type StorageBackend } from './backend.ts';

function counts(error: unknown): boolean {
  if (!(error instanceof StorageError)) return true;
  return (
    error.storageKind !== 'not-found' && error.storageKind !== 'already-exists' && error.code !== 'STORAGE_BAD_KEY'
  );
}

class Passed {
  readonly error: unknown;
  constructor(error: unknown) {
    this.error = error;
  }
}

export function breaking(inner: StorageBackend, breaker: CircuitBreaker): StorageBackend {
  const call = async <T>(op: string, key: string, fn: () => Promise<T>): Promise<T> => {
    let out: T | Passed;
    try {
      out = await breaker.call(async () => {
        try {
          return await fn();
        } catch (error) {
          if (counts(error)) throw error;
          return new Passed(error);
        }
      });
    } catch (error) {
      if (error instanceof CircuitOpenError) {
        throw new StorageError(
          `storage ${op} '${key}' in ${inner.location} not attempted: ${error.message}`,
          error.gaveUp ? 'permanent' : 'transient',
          {
            cause: error,
            code: error.gaveUp ? 'CIRCUIT_GAVE_UP' : 'CIRCUIT_OPEN',
            ...(error.hint ? { hint: error.hint } : {}),
          },
        );
      }
      throw error;
    }
    if (out instanceof Passed) throw out.error;
    return out;
  };

  const wrapWriter = (key: string, w: ObjectWriter): ObjectWriter => ({
    get bytesWritten() {
      return w.bytesWritten;
    },
    write: (chunk) => call('write', key, () => w.write(chunk)),
    commit: () => call('commit', key, () => w.commit()),
    // abort must be able to clean up even while the breaker is open
    abort: () => w.abort(),
  });

  return {
    location: inner.location,
    put: (key, body, opts) => call('put', key, () => inner.put(key, body, opts)),
    openWriter: async (key) => wrapWriter(key, await call('openWriter', key, () => inner.openWriter(key))),
    load: (key, range, hints) => call('load', key, () => inner.load(key, range, hints)),
    get: (key) => call('get', key, () => inner.get(key)),
    stat: (key) => call('stat', key, () => inner.stat(key)),
    delete: (key) => call('delete', key, () => inner.delete(key)),
    close: () => inner.close(),
    ...incompleteOf(inner),
    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      const it = inner.list(prefix)[Symbol.asyncIterator]();
      while (true) {
        const r = await call('list', prefix, () => it.next());
        if (r.done) return;
        yield r.value;
      }
    },
  };
}
