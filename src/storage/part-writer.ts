/**
 * The buffering shared by the object-store writers (S3 multipart, Azure blocks, GCS resumable
 * chunks): bytes are collected until `partSize`, then handed to `uploadPart` as one part.
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
  /** Uploads part `index` (0-based); all parts but the last are exactly partSize bytes. */
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
  private buffered: Uint8Array[] = [];
  private bufferedSize = 0;
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
    while (this.bufferedSize + (chunk.length - pos) >= this.partSize) {
      const take = this.partSize - this.bufferedSize;
      const data = Buffer.concat([...this.buffered, chunk.subarray(pos, pos + take)], this.partSize);
      try {
        await this.sink.uploadPart(this.parts, data);
      } catch (error) {
        this.resume = { chunk, pos };
        throw error;
      }
      this.parts++;
      this.buffered = [];
      this.bufferedSize = 0;
      pos += take;
    }
    if (pos < chunk.length) {
      this.buffered.push(chunk.subarray(pos));
      this.bufferedSize += chunk.length - pos;
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
    const rest = Buffer.concat(this.buffered, this.bufferedSize);
    this.info = await this.sink.finish(this.parts, rest, this.written);
    this.state = 'committed';
    this.buffered = [];
    return this.info;
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.buffered = [];
    this.resume = undefined;
    await this.sink.discard(this.parts);
  }

  private checkOpen(action: string): void {
    if (this.state !== 'open') {
      throw new StorageError(`cannot ${action} writer for ${this.what}: it was already ${this.state}`, 'permanent');
    }
  }
}
