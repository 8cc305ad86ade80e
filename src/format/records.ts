/**
 * Full record decoding and batch encoding (Kafka RecordBatch v2), used by restore when a batch
 * cannot be produced as stored: a window or point in time cuts it, headers are added,
 * LogAppendTime becomes CreateTime, a compacted batch has offset holes, or the compression
 * changes. Keys, values and header values keep null distinct from empty; headers keep their
 * order and duplicates (a Map would lose both).
 */

import {
  ATTR_COMPRESSION_MASK,
  BATCH_HEADER_SIZE,
  type BatchHeader,
  compressionOf,
  isLogAppendTime,
  readVarInt,
  readVarLong,
  writeVarInt,
  writeVarLong,
} from './batch.ts';
import { crc32c } from './checksum.ts';
import { decompressKafkaRecords } from './compression.ts';
import { compressKafkaRecords } from './kafka-compression.ts';

export interface KafkaRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: [Buffer, Buffer | null][];
}

function readBytes(buf: Buffer, pos: number): [Buffer | null, number] {
  const [len, p] = readVarInt(buf, pos);
  if (len < 0) return [null, p];
  return [buf.subarray(p, p + len), p + len];
}

/** Decodes every record of a batch (decompressing it if needed). */
export function decodeRecords(batch: Buffer, h: BatchHeader): KafkaRecord[] {
  let records = batch.subarray(h.position + BATCH_HEADER_SIZE, h.position + h.size);
  const codec = compressionOf(h);
  if (codec !== 0) records = decompressKafkaRecords(codec, records);
  const base = Number(h.baseOffset);
  const baseTs = Number(h.baseTimestamp);
  const lat = isLogAppendTime(h);
  const out: KafkaRecord[] = new Array(h.recordsCount);
  let pos = 0;
  for (let i = 0; i < h.recordsCount; i++) {
    const [len, p0] = readVarInt(records, pos);
    const end = p0 + len;
    // p0 + 1 skips the record attributes (unused in v2)
    const [tsDelta, p1] = readVarLong(records, p0 + 1);
    const [offDelta, p2] = readVarInt(records, p1);
    const [key, p3] = readBytes(records, p2);
    const [value, p4] = readBytes(records, p3);
    const [hc, p5] = readVarInt(records, p4);
    let p = p5;
    const headers: [Buffer, Buffer | null][] = [];
    for (let j = 0; j < hc; j++) {
      let hk: Buffer | null;
      let hv: Buffer | null;
      [hk, p] = readBytes(records, p);
      [hv, p] = readBytes(records, p);
      headers.push([hk ?? Buffer.alloc(0), hv]);
    }
    out[i] = {
      offset: base + offDelta,
      timestamp: lat ? Number(h.maxTimestamp) : baseTs + tsDelta,
      key,
      value,
      headers,
    };
    pos = end;
  }
  return out;
}

export interface EncodeOptions {
  /** Kafka codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd. */
  compression: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
}

function pushBytes(out: number[], b: Buffer | null): void {
  if (b === null) {
    writeVarInt(-1, out);
    return;
  }
  writeVarInt(b.length, out);
  for (let i = 0; i < b.length; i++) out.push(b[i]!);
}

/** Encodes one record body (without its length prefix) into a Buffer. */
function encodeRecord(r: KafkaRecord, index: number, baseTs: number): Buffer {
  const head: number[] = [0];
  writeVarLong(BigInt(r.timestamp - baseTs), head);
  writeVarInt(index, head);
  // key/value/headers may be large: build them as separate buffers to avoid huge number arrays
  const parts: Buffer[] = [Buffer.from(head)];
  const lenPrefix = (b: Buffer | null) => {
    const a: number[] = [];
    writeVarInt(b === null ? -1 : b.length, a);
    parts.push(Buffer.from(a));
    if (b) parts.push(b);
  };
  lenPrefix(r.key);
  lenPrefix(r.value);
  const hc: number[] = [];
  writeVarInt(r.headers.length, hc);
  parts.push(Buffer.from(hc));
  for (const [k, v] of r.headers) {
    const a: number[] = [];
    pushBytes(a, k);
    parts.push(Buffer.from(a));
    lenPrefix(v);
  }
  const body = Buffer.concat(parts);
  const len: number[] = [];
  writeVarInt(body.length, len);
  return Buffer.concat([Buffer.from(len), body]);
}

/**
 * Encodes records as one v2 batch with base offset 0, CreateTime, and the given producer
 * identity and sequence (idempotent produce). Offsets become consecutive: the broker assigns them.
 */
export function encodeBatch(records: KafkaRecord[], o: EncodeOptions): Buffer {
  if (records.length === 0) throw new Error('cannot encode an empty batch');
  const baseTs = records[0]!.timestamp;
  let maxTs = baseTs;
  const encoded: Buffer[] = [];
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (r.timestamp > maxTs) maxTs = r.timestamp;
    encoded.push(encodeRecord(r, i, baseTs));
  }
  let body: Buffer = Buffer.concat(encoded);
  if (o.compression !== 0) body = compressKafkaRecords(o.compression, body);
  const h = Buffer.alloc(BATCH_HEADER_SIZE);
  h.writeBigInt64BE(0n, 0);
  h.writeInt32BE(BATCH_HEADER_SIZE - 12 + body.length, 8);
  h.writeInt32BE(-1, 12);
  h.writeInt8(2, 16);
  h.writeInt16BE(o.compression & ATTR_COMPRESSION_MASK, 21);
  h.writeInt32BE(records.length - 1, 23);
  h.writeBigInt64BE(BigInt(baseTs), 27);
  h.writeBigInt64BE(BigInt(maxTs), 35);
  h.writeBigInt64BE(o.producerId, 43);
  h.writeInt16BE(o.producerEpoch, 51);
  h.writeInt32BE(o.baseSequence, 53);
  h.writeInt32BE(records.length, 57);
  const batch = Buffer.concat([h, body]);
  batch.writeUInt32BE(crc32c(batch.subarray(21)) >>> 0, 17);
  return batch;
}

/**
 * Re-stamps a stored batch for idempotent produce without touching its records: base offset 0,
 * no leader epoch, our producer id/epoch/sequence, not transactional, then a new CRC. Valid only
 * for batches whose offsets are consecutive and CreateTime (the caller checks).
 *
 * Rewrites the batch inside `buf` and returns a view of it, saving a copy of every byte a restore
 * produces: the caller must own `buf` (a block it decompressed or read for itself) and not read
 * the batch's old bytes again.
 */
export function restampBatch(buf: Buffer, h: BatchHeader, o: Omit<EncodeOptions, 'compression'>): Buffer {
  const b = buf.subarray(h.position, h.position + h.size);
  b.writeBigInt64BE(0n, 0);
  b.writeInt32BE(-1, 12);
  const attrs = b.readInt16BE(21) & ATTR_COMPRESSION_MASK; // drops transactional/control/timestamp-type bits
  b.writeInt16BE(attrs, 21);
  b.writeBigInt64BE(o.producerId, 43);
  b.writeInt16BE(o.producerEpoch, 51);
  b.writeInt32BE(o.baseSequence, 53);
  b.writeUInt32BE(crc32c(b.subarray(21)) >>> 0, 17);
  return b;
}
