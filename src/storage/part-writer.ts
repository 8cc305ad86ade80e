/**
 * The buffering shared by the object-store writers (S3 multipart, Azure blocks, GCS resumable
 * chunks): bytes are collected until `partSize`, then handed to `uploadPart` as one part.
 *
 * Memory: each writer owns ONE part buffer, into which chunks are copied (so the caller's chunk,
 * often a view of a larger allocation, is not kept alive) and which is reused for every part and
 * handed to the SDK as is (no concatenated copy per part). It starts small and doubles up to
 * partSize, so a file smaller than a part costs about its own size; it is dropped at commit or
 * abort. An open writer therefore holds at most partSize bytes: the memory budget counts
 * `open data files × storage.buffer_size` (src/config/memory.ts).
 *
 * Retry contract (see ObjectWriter): a write() that failed may be called again with the SAME
 * chunk object; it resumes where it stopped (parts already uploaded are not sent again, the
 * failed part is rebuilt from the kept buffer and sent again under the same part number).
 * Calling write() with a different chunk after a failure is refused: the caller must retry or
 * abort. commit() may be retried too; `finish` must tolerate that.
 */

import { StorageError } from '../errors.ts';
import type { ObjectInfo, ObjectWriter } from './backend.ts';

export interface PartSink {
  /**
   * Uploads part `index` (0-based); all parts but the last are exactly partSize bytes. `data` is
   * the writer's part buffer: it is refilled once the promise resolves, so keep no reference.
   */
  uploadPart(index: number, data: Buffer): Promise<void>;
  /** Called by commit(): `partsUploaded` full parts were sent; `rest` is the tail (may be empty). */
  finish(partsUploaded: number, rest: Buffer, totalSize: number): Promise<ObjectInfo>;
  /** Discards what was uploaded. */
  discard(partsUploaded: number): Promise<void>;
}

export class PartWriter implements ObjectWriter {
  private readonly partSize: number;
  private readonly sink: PartSink;
  private readonly what: string;
  /** The part being filled; reused after each upload, dropped at commit/abort. */
  private part: Buffer | undefined;
  private filled = 0;
  private parts = 0;
  private written = 0;
  private resume: { chunk: Uint8Array; pos: number } | undefined;
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private info: ObjectInfo | undefined;

  constructor(partSize: number, sink: PartSink, what: string) {
    this.partSize = partSize;
    this.sink = sink;
    this.what = what;
  }

  get bytesWritten(): number {
    return this.written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.checkOpen('write to');
    let pos = 0;
    if (this.resume) {
      if (this.resume.chunk !== chunk) {
        throw new StorageError(
          `writer for ${this.what}: a previous write failed; retry it with the same chunk or abort`,
          'permanent',
        );
      }
      pos = this.resume.pos;
    }
    for (;;) {
      // A full part is uploaded before anything more is copied (after a failure it is still full).
      if (this.filled === this.partSize) {
        try {
          await this.sink.uploadPart(this.parts, this.ensureCapacity(this.partSize));
        } catch (error) {
          this.resume = { chunk, pos };
          throw error;
        }
        this.parts++;
        this.filled = 0;
      }
      if (pos >= chunk.length) break;
      const take = Math.min(chunk.length - pos, this.partSize - this.filled);
      const part = this.ensureCapacity(this.filled + take);
      part.set(chunk.subarray(pos, pos + take), this.filled);
      this.filled += take;
      pos += take;
    }
    this.resume = undefined;
    this.written += chunk.length;
  }

  async commit(): Promise<ObjectInfo> {
    if (this.state === 'committed' && this.info) return this.info;
    this.checkOpen('commit');
    if (this.resume) {
      throw new StorageError(`writer for ${this.what}: a write failed and was not retried; abort it`, 'permanent');
    }
    const rest = this.part ? this.part.subarray(0, this.filled) : Buffer.alloc(0);
    this.info = await this.sink.finish(this.parts, rest, this.written);
    this.state = 'committed';
    this.part = undefined;
    return this.info;
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.part = undefined;
    this.resume = undefined;
    await this.sink.discard(this.parts);
  }

  /** The part buffer with room for `bytes` (bytes <= partSize), grown by doubling. */
  private ensureCapacity(bytes: number): Buffer {
    if (this.part && this.part.length >= bytes) return this.part;
    let size = Math.min(this.partSize, Math.max(PartWriter.FIRST_CAPACITY, this.part?.length ?? 0));
    while (size < bytes) size = Math.min(this.partSize, size * 2);
    const grown = Buffer.allocUnsafeSlow(size);
    if (this.part) this.part.copy(grown, 0, 0, this.filled);
    this.part = grown;
    return grown;
  }

  /** The first allocation of a writer's part buffer. */
  static readonly FIRST_CAPACITY = 256 * 1024;

  private checkOpen(action: string): void {
    if (this.state !== 'open') {
      throw new StorageError(`cannot ${action} writer for ${this.what}: it was already ${this.state}`, 'permanent');
    }
  }
}
