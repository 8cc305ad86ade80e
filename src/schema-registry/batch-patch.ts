/**
 * Rewrites the schema ids of every key and value of a stored record batch, without decoding
 * records into objects. An uncompressed batch is patched in place (4 bytes per key or value);
 * a compressed one is decompressed, patched, and recompressed with the same codec only when a
 * byte changed. The batch CRC is recomputed when anything changed.
 */
import {
  BATCH_HEADER_SIZE,
  type BatchHeader,
  compressionOf,
  readBatchHeader,
  readVarInt,
  readVarLong,
} from '../format/batch.ts';
import { crc32c } from '../format/checksum.ts';
import { decompressKafkaRecords } from '../format/compression.ts';
import { compressKafkaRecords } from '../format/kafka-compression.ts';
import type { SchemaIdRewriter } from './rewriter.ts';

/**
 * Calls fn with the position and length of each non-null key and value of the records section,
 * and the record's offset delta.
 */
export function forEachKeyAndValue(
  records: Buffer,
  count: number,
  fn: (at: number, len: number, offsetDelta: number, part: 'key' | 'value') => void,
): void {
  let pos = 0;
  for (let i = 0; i < count; i++) {
    const [len, p0] = readVarInt(records, pos);
    const [, p1] = readVarLong(records, p0 + 1); // attributes (1 byte), timestamp delta
    const [delta, p2] = readVarInt(records, p1);
    const [keyLen, p3] = readVarInt(records, p2);
    if (keyLen >= 0) fn(p3, keyLen, delta, 'key');
    const p4 = p3 + Math.max(0, keyLen);
    const [valueLen, p5] = readVarInt(records, p4);
    if (valueLen >= 0) fn(p5, valueLen, delta, 'value');
    pos = p0 + len;
  }
}

export interface PatchedBatch {
  /** The buffer holding the batch: the input one (patched in place) or a new one. */
  buf: Buffer;
  h: BatchHeader;
}

/**
 * Applies the rewriter to the batch at h in buf. Returns the batch to produce: the same buffer
 * and header when nothing changed (not even the CRC is touched), the same buffer patched in
 * place for an uncompressed batch, a new buffer for a compressed one.
 */
/** The records section of a batch, decompressed. */
export function recordsOf(buf: Buffer, h: BatchHeader): Buffer {
  const section = buf.subarray(h.position + BATCH_HEADER_SIZE, h.position + h.size);
  const codec = compressionOf(h);
  return codec === 0 ? section : decompressKafkaRecords(codec, section);
}

export function patchBatchIds(
  buf: Buffer,
  h: BatchHeader,
  rw: SchemaIdRewriter,
  where: (index: number) => string,
): PatchedBatch {
  const codec = compressionOf(h);
  const records = recordsOf(buf, h);
  let changed = false;
  forEachKeyAndValue(records, h.recordsCount, (at, len, i) => {
    if (rw.patch(records, at, len, () => where(i))) changed = true;
  });
  if (!changed) return { buf, h };
  if (codec === 0) {
    buf.writeUInt32BE(crc32c(buf.subarray(h.position + 21, h.position + h.size)) >>> 0, h.position + 17);
    return { buf, h: readBatchHeader(buf, h.position) };
  }
  const body = compressKafkaRecords(codec, records);
  const out = Buffer.allocUnsafe(BATCH_HEADER_SIZE + body.length);
  buf.copy(out, 0, h.position, h.position + BATCH_HEADER_SIZE);
  body.copy(out, BATCH_HEADER_SIZE);
  out.writeInt32BE(BATCH_HEADER_SIZE - 12 + body.length, 8);
  out.writeUInt32BE(crc32c(out.subarray(21)) >>> 0, 17);
  return { buf: out, h: readBatchHeader(out, 0) };
}
