/**
 * Kafka record batches (magic v2) handled as raw bytes.
 *
 * The backup stores batches exactly as the broker sent them, so this module reads only what it
 * needs from the 61-byte batch header, and walks records without building objects when it must
 * (timestamps, offsets of compacted batches). Decoding of full records for restore lives in
 * records.ts.
 *
 * RecordBatch v2 header (big-endian), from the Kafka protocol spec:
 *   baseOffset: int64            @0
 *   batchLength: int32           @8   bytes after this field
 *   partitionLeaderEpoch: int32  @12
 *   magic: int8                  @16  (2)
 *   crc: uint32                  @17  CRC-32C of attributes..end
 *   attributes: int16            @21  bits 0-2 compression, 3 timestampType (1 = LogAppendTime),
 *                                     4 isTransactional, 5 isControlBatch, 6 hasDeleteHorizonMs
 *   lastOffsetDelta: int32       @23
 *   baseTimestamp: int64         @27
 *   maxTimestamp: int64          @35
 *   producerId: int64            @43
 *   producerEpoch: int16         @51
 *   baseSequence: int32          @53
 *   recordsCount: int32          @57
 *   records                      @61
 * Record: length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
 *   keyLength varint (-1 = null), key, valueLength varint, value, headerCount varint,
 *   headers: keyLength varint, key, valueLength varint (-1 = null), value.
 */
import { crc32c } from './checksum.ts';
import { decompressKafkaRecords } from './compression.ts';

export const BATCH_HEADER_SIZE = 61;
/** Bytes of baseOffset + batchLength: the part before what batchLength counts. */
export const BATCH_LOG_OVERHEAD = 12;

export const ATTR_COMPRESSION_MASK = 0x07;
export const ATTR_LOG_APPEND_TIME = 0x08;
export const ATTR_TRANSACTIONAL = 0x10;
export const ATTR_CONTROL = 0x20;
export const ATTR_DELETE_HORIZON = 0x40;

export const CompressionType = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export const COMPRESSION_NAMES = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;

export interface BatchHeader {
  /** Position of the batch in the buffer it was read from. */
  position: number;
  /** Total bytes of the batch, header included. */
  size: number;
  baseOffset: bigint;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordsCount: number;
}

export function lastOffsetOf(h: BatchHeader): bigint {
  return h.baseOffset + BigInt(h.lastOffsetDelta);
}
export function compressionOf(h: BatchHeader): number {
  return h.attributes & ATTR_COMPRESSION_MASK;
}
export function isControl(h: BatchHeader): boolean {
  return (h.attributes & ATTR_CONTROL) !== 0;
}
export function isTransactional(h: BatchHeader): boolean {
  return (h.attributes & ATTR_TRANSACTIONAL) !== 0;
}
export function isLogAppendTime(h: BatchHeader): boolean {
  return (h.attributes & ATTR_LOG_APPEND_TIME) !== 0;
}

export function readBatchHeader(buf: Buffer, position: number): BatchHeader {
  return {
    position,
    size: BATCH_LOG_OVERHEAD + buf.readInt32BE(position + 8),
    baseOffset: buf.readBigInt64BE(position),
    partitionLeaderEpoch: buf.readInt32BE(position + 12),
    magic: buf.readInt8(position + 16),
    crc: buf.readUInt32BE(position + 17),
    attributes: buf.readInt16BE(position + 21),
    lastOffsetDelta: buf.readInt32BE(position + 23),
    baseTimestamp: buf.readBigInt64BE(position + 27),
    maxTimestamp: buf.readBigInt64BE(position + 35),
    producerId: buf.readBigInt64BE(position + 43),
    producerEpoch: buf.readInt16BE(position + 51),
    baseSequence: buf.readInt32BE(position + 53),
    recordsCount: buf.readInt32BE(position + 57),
  };
}

export class BatchFormatError extends Error {}

/**
 * Splits a records section (as returned by Fetch) into complete batches. A trailing partial
 * batch, which the broker sends when a response is cut at max bytes, is not returned: the
 * next fetch starts at it again. Batches with a magic other than 2 are refused (Kafka 4 brokers
 * only store v2; older formats would need conversion we do not do).
 */
export function splitBatches(buf: Buffer): BatchHeader[] {
  const out: BatchHeader[] = [];
  let pos = 0;
  while (pos + BATCH_HEADER_SIZE <= buf.length) {
    const batchLength = buf.readInt32BE(pos + 8);
    const size = BATCH_LOG_OVERHEAD + batchLength;
    if (pos + size > buf.length) break;
    const h = readBatchHeader(buf, pos);
    if (h.magic !== 2)
      throw new BatchFormatError(`record batch at offset ${h.baseOffset} has magic ${h.magic}, expected 2`);
    out.push(h);
    pos += size;
  }
  return out;
}

/** Checks a batch's own CRC-32C (over attributes..end). */
export function batchCrcOk(buf: Buffer, h: BatchHeader): boolean {
  return crc32c(buf.subarray(h.position + 21, h.position + h.size)) >>> 0 === h.crc >>> 0;
}

// --- varints (zig-zag, as in Kafka's record format) -------------------------------------------

/** Reads a zig-zag varint at pos; returns value and the position after it. Max 5 bytes. */
export function readVarInt(buf: Buffer, pos: number): [number, number] {
  let raw = 0;
  let shift = 0;
  let b: number;
  do {
    if (pos >= buf.length) throw new BatchFormatError('truncated varint');
    b = buf[pos++]!;
    raw |= (b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80 && shift < 35);
  return [(raw >>> 1) ^ -(raw & 1), pos];
}

/** Reads a zig-zag varlong; returns it as a number (timestamp deltas fit easily in 53 bits). */
export function readVarLong(buf: Buffer, pos: number): [number, number] {
  let raw = 0n;
  let shift = 0n;
  let b: number;
  // fast path for small values
  let small = 0;
  let smallShift = 0;
  const start = pos;
  do {
    if (pos >= buf.length) throw new BatchFormatError('truncated varlong');
    b = buf[pos++]!;
    if (smallShift < 28) small |= (b & 0x7f) << smallShift;
    smallShift += 7;
  } while (b & 0x80 && smallShift < 70);
  if (smallShift <= 28) return [(small >>> 1) ^ -(small & 1), pos];
  pos = start;
  do {
    b = buf[pos++]!;
    raw |= BigInt(b & 0x7f) << shift;
    shift += 7n;
  } while (b & 0x80);
  const v = (raw >> 1n) ^ -(raw & 1n);
  return [Number(v), pos];
}

export function writeVarInt(value: number, out: number[]): void {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}

export function writeVarLong(value: bigint, out: number[]): void {
  let v = BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

export interface RecordRange {
  /** Records whose offset is inside [from, to]. */
  records: number;
  /** Their smallest and largest timestamp (-1 / -1 when there is none). */
  minTs: number;
  maxTs: number;
}

/** Position after the last zig-zag varint read by `zigzag` (module state: no tuple per call). */
let cursor = 0;

/** A zig-zag varint/varlong at pos as a number (exact below 2^53; Kafka deltas are far smaller). */
function zigzag(buf: Buffer, pos: number): number {
  let raw = 0;
  let scale = 1;
  let b: number;
  do {
    if (pos >= buf.length) throw new BatchFormatError('truncated varint');
    b = buf[pos++]!;
    raw += (b & 0x7f) * scale;
    scale *= 128;
  } while (b & 0x80 && scale < 2 ** 70);
  cursor = pos;
  return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
}

/**
 * Counts the records of an uncompressed records section whose offsets fall in [from, to] and
 * finds their timestamp range. Reads only length, timestamp delta and offset delta of each record,
 * without allocating per record: this runs once per record in backup and in validate --deep.
 */
export function recordRange(
  records: Buffer,
  count: number,
  baseOffset: number,
  baseTimestamp: number,
  from: number,
  to: number,
): RecordRange {
  let pos = 0;
  let n = 0;
  let minTs = Number.MAX_SAFE_INTEGER;
  let maxTs = -1;
  for (let i = 0; i < count; i++) {
    const len = zigzag(records, pos);
    const end = cursor + len;
    if (len < 0 || end > records.length) throw new BatchFormatError('record length out of bounds');
    const tsDelta = zigzag(records, cursor + 1); // + 1: the attributes byte
    const off = baseOffset + zigzag(records, cursor);
    pos = end;
    if (off < from || off > to) continue;
    n++;
    const ts = baseTimestamp + tsDelta;
    if (ts < minTs) minTs = ts;
    if (ts > maxTs) maxTs = ts;
  }
  return { records: n, minTs: n ? minTs : -1, maxTs: n ? maxTs : -1 };
}

/**
 * The records of batch h (inside buf) whose offsets fall in [from, to], and their timestamp
 * range: what a block header records. The backup computes it to write block headers and
 * validate --deep recomputes it to check them. A whole LogAppendTime batch needs no walk (every
 * record carries the batch's max timestamp); any other batch is walked, after decompression
 * when the producer compressed it, because only the records hold the exact minimum timestamp.
 */
export function batchRange(buf: Buffer, h: BatchHeader, from: number, to: number): RecordRange {
  const base = Number(h.baseOffset);
  const appendTime = isLogAppendTime(h);
  if (appendTime && base >= from && Number(lastOffsetOf(h)) <= to) {
    const ts = Number(h.maxTimestamp);
    return h.recordsCount > 0
      ? { records: h.recordsCount, minTs: ts, maxTs: ts }
      : { records: 0, minTs: -1, maxTs: -1 };
  }
  let section = buf.subarray(h.position + BATCH_HEADER_SIZE, h.position + h.size);
  const codec = compressionOf(h);
  if (codec !== 0) section = decompressKafkaRecords(codec, section);
  const r = recordRange(section, h.recordsCount, base, Number(h.baseTimestamp), from, to);
  if (appendTime && r.records > 0)
    return { records: r.records, minTs: Number(h.maxTimestamp), maxTs: Number(h.maxTimestamp) };
  return r;
}

/** Control record key: version int16, type int16 (0 = ABORT, 1 = COMMIT). */
export function controlTypeOf(records: Buffer): number {
  // first record: length, attributes, tsDelta, offsetDelta, keyLength, key
  let [, pos] = readVarInt(records, 0);
  pos += 1;
  [, pos] = readVarLong(records, pos);
  [, pos] = readVarInt(records, pos);
  const [keyLen, kpos] = readVarInt(records, pos);
  if (keyLen < 4) throw new BatchFormatError('control record key too short');
  return records.readInt16BE(kpos + 2);
}
export const CONTROL_ABORT = 0;
export const CONTROL_COMMIT = 1;
