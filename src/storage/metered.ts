/**
 * Metering wrapper: times every call of the inner backend and reports it, with its outcome, to a
 * StorageMetrics sink (src/metrics/ implements one for Prometheus).
 *
 * It sits innermost in the assembly (src/storage/open.ts), directly around the backend, so each
 * attempt is measured on its own: time spent waiting for a concurrency slot or a retry backoff is
 * not counted, and a call retried three times is three observations.
 *
 *   put, get, stat, delete, openWriter, load    the call (load: opening the stream)
 *   write, commit, abort                        each writer call
 *   list                                        the whole listing, each page, summed: one observation per listing
 */
import type { CircuitState } from '../util/circuit-breaker.ts';
import { incompleteOf, type ObjectInfo, type ObjectWriter, type StorageBackend } from './backend.ts';

export type StorageOp =
  | 'put'
  | 'get'
  | 'stat'
  | 'delete'
  | 'openWriter'
  | 'load'
  | 'list'
  | 'write'
  | 'commit'
  | 'abort';

/** Receives what the storage stack observes; every method must be cheap and must not throw. */
export interface StorageMetrics {
  /** One attempt of one call; `error` is set when it failed (a StorageError's storageKind classifies it). */
  request(backend: string, op: StorageOp, key: string, seconds: number, error?: unknown): void;
  /** A call is about to be retried (from the retry wrapper). */
  retry(backend: string, op: string): void;
  /** The backend's circuit breaker changed state (and once with 'closed' when it is created). */
  breaker(backend: string, state: CircuitState): void;
}

export function metered(inner: StorageBackend, backend: string, sink: StorageMetrics): StorageBackend {
  const since = (started: bigint): bigint => process.hrtime.bigint() - started;
  const report = (op: StorageOp, key: string, elapsed: bigint, error?: unknown): void => {
    try {
      sink.request(backend, op, key, Number(elapsed) / 1e9, error);
    } catch {
      // metrics never break storage calls
    }
  };
  const time = async <T>(op: StorageOp, key: string, fn: () => Promise<T>): Promise<T> => {
    const started = process.hrtime.bigint();
    try {
      const out = await fn();
      report(op, key, since(started));
      return out;
    } catch (error) {
      report(op, key, since(started), error);
      throw error;
    }
  };

  const wrapWriter = (key: string, w: ObjectWriter): ObjectWriter => ({
    get bytesWritten() {
      return w.bytesWritten;
    },
    write: (chunk) => time('write', key, () => w.write(chunk)),
    commit: () => time('commit', key, () => w.commit()),
    abort: () => time('abort', key, () => w.abort()),
  });

  return {
    location: inner.location,
    put: (key, body, opts) => time('put', key, () => inner.put(key, body, opts)),
    openWriter: async (key) => wrapWriter(key, await time('openWriter', key, () => inner.openWriter(key))),
    load: (key, range, hints) => time('load', key, () => inner.load(key, range, hints)),
    get: (key) => time('get', key, () => inner.get(key)),
    stat: (key) => time('stat', key, () => inner.stat(key)),
    delete: (key) => time('delete', key, () => inner.delete(key)),
    close: () => inner.close(),
    ...incompleteOf(inner),
    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      // Time spent inside the backend only (not the caller's work between items), reported once.
      let inside = 0n;
      const it = inner.list(prefix)[Symbol.asyncIterator]();
      while (true) {
        const t0 = process.hrtime.bigint();
        let r: IteratorResult<ObjectInfo>;
        try {
          r = await it.next();
        } catch (error) {
          report('list', prefix, inside + since(t0), error);
          throw error;
        }
        inside += since(t0);
        if (r.done) {
          report('list', prefix, inside);
          return;
        }
        yield r.value;
      }
    },
  };
}
