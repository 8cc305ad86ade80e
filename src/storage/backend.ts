/**
 * The storage interface every backend implements (filesystem, S3, Azure Blob, GCS).
 *
 * Small on purpose, after restic's backend: whole-object put (with create-if-absent for
 * manifests and leases), a streaming writer for large data files that only becomes visible
 * when committed, ranged load, paginated list, stat, delete. Cross-cutting behaviour
 * (retry with backoff, circuit breaker, concurrency limit, logging, dry-run) lives in thin
 * wrappers that take a StorageBackend and return one; they are assembled in one place
 * (src/storage/open.ts), never repeated inside a backend.
 *
 * Keys are relative, '/'-separated, never starting with '/'. A backend maps them under its
 * own root (a directory, or bucket + prefix).
 *
 * Errors: every method throws StorageError (src/errors.ts) whose `storageKind` classifies it:
 *   'not-found'      the object (or bucket/container) does not exist;
 *   'already-exists' a create-if-absent put found the key taken;
 *   'permanent'      retrying cannot help (auth, permission, bad request);
 *   'transient'      retrying may help (timeouts, resets, 5xx, 429/SlowDown).
 * Messages name the backend and the key, and never carry credentials.
 */
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  size: number;
  lastModified?: Date;
}

export interface PutOptions {
  /** Fail with storageKind 'already-exists' if the key exists (S3 If-None-Match, Azure/GCS preconditions, O_EXCL). */
  ifAbsent?: boolean;
}

export interface ByteRange {
  offset: number;
  /** Bytes to read; to the end of the object when absent. */
  length?: number;
}

/**
 * A large object written in order, chunk by chunk, with bounded memory.
 * Nothing is visible under `key` until commit() resolves (filesystem: temp file, fsync,
 * rename, fsync dir; S3: multipart complete; Azure: commit block list; GCS: resumable upload
 * finalised). abort() discards everything written; it is safe to call after a failure.
 * Each chunk handed to write() may be retried by the backend, so it must not be mutated
 * by the caller until that write() has resolved (then the backend holds no reference to it: the
 * backup reuses its block buffers); after a failed write(), not before it is retried or the
 * writer aborted.
 */
export interface ObjectWriter {
  write(chunk: Uint8Array): Promise<void>;
  commit(): Promise<ObjectInfo>;
  abort(): Promise<void>;
  /** Bytes accepted so far. */
  readonly bytesWritten: number;
}

/** Hints a backend may use when it reads an object in chunks of its choosing. */
export interface LoadHints {
  /** Bytes per read from a file (the filesystem backend; object stores read what the socket delivers). */
  readBytes?: number;
}

/**
 * A write that began and never completed (the writer was killed): a filesystem temporary file,
 * an S3 multipart upload. Readers never see one; prune removes them after its grace period.
 */
export interface IncompleteWrite {
  /** The key the write was for. */
  key: string;
  /** What identifies this write to abortIncomplete (a temporary file's path, an upload id). */
  id: string;
  /** Bytes it holds, when the backend says (0 when unknown). */
  size: number;
  /** When the write began (or was last written); a write without it is never removed on a guess. */
  startedAt?: Date;
}

export interface StorageBackend {
  /** Human-readable location for messages, e.g. `s3://bucket/prefix`, without credentials. */
  readonly location: string;

  /** Writes a whole object atomically. The buffer may be sent more than once on retry. */
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<void>;

  /** Streams a large object; see ObjectWriter. */
  openWriter(key: string): Promise<ObjectWriter>;

  /** Reads an object, or a byte range of it, as a stream. */
  load(key: string, range?: ByteRange, hints?: LoadHints): Promise<Readable>;

  /** Reads a whole (small) object into memory. */
  get(key: string): Promise<Buffer>;

  stat(key: string): Promise<ObjectInfo>;

  /** Lists every object whose key starts with `prefix`, following pagination, in lexical order per page. */
  list(prefix: string): AsyncIterable<ObjectInfo>;

  /** Deletes an object; deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Optional, for backends whose killed writes leave something behind that costs space and no
   * listing shows (filesystem: temporary files; S3: incomplete multipart uploads): the incomplete
   * writes for keys under `prefix`. Azure discards uncommitted blocks by itself after 7 days and
   * a GCS resumable upload session expires after a week, so those backends do not implement it.
   */
  listIncomplete?(prefix: string): AsyncIterable<IncompleteWrite>;
  /** Discards an incomplete write found by listIncomplete; one already gone is not an error. */
  abortIncomplete?(write: IncompleteWrite): Promise<void>;

  close(): Promise<void>;
}

/** For wrappers: the optional incomplete-write methods of `inner`, passed through when it has them. */
export function incompleteOf(inner: StorageBackend): Pick<StorageBackend, 'listIncomplete' | 'abortIncomplete'> {
  if (!inner.listIncomplete || !inner.abortIncomplete) return {};
  return {
    listIncomplete: (prefix) => inner.listIncomplete!(prefix),
    abortIncomplete: (w) => inner.abortIncomplete!(w),
  };
}
