/**
 * Dry run: writes and deletes are logged and skipped; reads pass through. A writer accepts and
 * counts bytes, and its commit logs what would have been written.
 */
import type { Logger } from '../util/log.ts';
import type { ObjectWriter, StorageBackend } from './backend.ts';

export function dryRun(inner: StorageBackend, logger?: Logger): StorageBackend {
  const log = (msg: string, fields: Record<string, unknown>) =>
    logger?.info(msg, { location: inner.location, ...fields });
  return {
    location: inner.location,
    async put(key, body, opts) {
      log('dry run: would write object', { key, bytes: body.length, ifAbsent: opts?.ifAbsent ?? false });
    },
    async openWriter(key): Promise<ObjectWriter> {
      let written = 0;
      return {
        get bytesWritten() {
          return written;
        },
        async write(chunk) {
          written += chunk.length;
        },
        async commit() {
          log('dry run: would write object', { key, bytes: written });
          return { key, size: written };
        },
        async abort() {},
      };
    },
    async delete(key) {
      log('dry run: would delete object', { key });
    },
    load: (key, range, hints) => inner.load(key, range, hints),
    get: (key) => inner.get(key),
    stat: (key) => inner.stat(key),
    list: (prefix) => inner.list(prefix),
    close: () => inner.close(),
    ...(inner.listIncomplete && inner.abortIncomplete
      ? {
          listIncomplete: (prefix: string) => inner.listIncomplete!(prefix),
          abortIncomplete: async (w) => log('dry run: would discard incomplete write', { key: w.key, id: w.id }),
        }
      : {}),
  };
}
