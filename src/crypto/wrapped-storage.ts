/**
 * A storage backend in front of another, passing every call through: the encryption layers
 * (storage.ts, state-storage.ts) override only the calls they change (put, get, openWriter).
 */
import {
  type ByteRange,
  incompleteOf,
  type LoadHints,
  type ObjectInfo,
  type ObjectWriter,
  type PutOptions,
  type StorageBackend,
} from '../storage/backend.ts';

/** The backup line a key belongs to: its first path segment, or null for a key at the top. */
export function lineOf(key: string): string | null {
  const i = key.indexOf('/');
  return i > 0 ? key.slice(0, i) : null;
}

export class WrappedStorage implements StorageBackend {
  readonly location: string;
  protected readonly inner: StorageBackend;

  constructor(inner: StorageBackend) {
    this.inner = inner;
    this.location = inner.location;
  }

  put(key: string, body: Uint8Array, options?: PutOptions): Promise<void> {
    return this.inner.put(key, body, options);
  }
  openWriter(key: string): Promise<ObjectWriter> {
    return this.inner.openWriter(key);
  }
  get(key: string): Promise<Buffer> {
    return this.inner.get(key);
  }
  load(key: string, range?: ByteRange, hints?: LoadHints) {
    return this.inner.load(key, range, hints);
  }
  stat(key: string): Promise<ObjectInfo> {
    return this.inner.stat(key);
  }
  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  // incomplete writes (../storage/backend.ts) hold nothing readable: the inner backend's, when it has them
  get listIncomplete() {
    return incompleteOf(this.inner).listIncomplete;
  }
  get abortIncomplete() {
    return incompleteOf(this.inner).abortIncomplete;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
