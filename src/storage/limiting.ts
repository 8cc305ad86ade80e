/**
 * Concurrency limit: at most `max` calls of the inner backend in flight at once
 * (max_concurrent_requests). A load holds its slot only until the stream is returned; a list
 * holds one per page; each writer call holds one.
 */
import { incompleteOf, type ObjectInfo, type ObjectWriter, type StorageBackend } from './backend.ts';

export class Semaphore {
  private available: number;
  private readonly waiters: (() => void)[] = [];
  constructor(max: number) {
    this.available = Math.max(1, Math.floor(max));
  }
  get waiting(): number {
    return this.waiters.length;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.available > 0) this.available--;
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.available++;
    }
  }
}

export function limiting(inner: StorageBackend, max: number): StorageBackend {
  const sem = new Semaphore(max);
  const wrapWriter = (w: ObjectWriter): ObjectWriter => ({
    get bytesWritten() {
      return w.bytesWritten;
    },
    write: (chunk) => sem.run(() => w.write(chunk)),
    commit: () => sem.run(() => w.commit()),
    abort: () => sem.run(() => w.abort()),
  });
  return {
    location: inner.location,
    put: (key, body, opts) => sem.run(() => inner.put(key, body, opts)),
    openWriter: async (key) => wrapWriter(await sem.run(() => inner.openWriter(key))),
    load: (key, range, hints) => sem.run(() => inner.load(key, range, hints)),
    get: (key) => sem.run(() => inner.get(key)),
    stat: (key) => sem.run(() => inner.stat(key)),
    delete: (key) => sem.run(() => inner.delete(key)),
    close: () => inner.close(),
    ...incompleteOf(inner),
    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      const it = inner.list(prefix)[Symbol.asyncIterator]();
      while (true) {
        const r = await sem.run(() => it.next());
        if (r.done) return;
        yield r.value;
      }
    },
  };
}
