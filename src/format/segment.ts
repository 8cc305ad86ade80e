/**
 * Data files ("segments"): one partition's record batches, in offset order, in checksummed,
 * compressed blocks. Spec: docs/format.md ("Data files"). Layout:
 *
 *   file    = preamble block* footer trailer
 *   preamble= "KBSEG\0\0\1" (8) | u32 headerLen | header JSON | u32 crc32c(header JSON)
 *   block   = block header (64 bytes) | payload (storedLength bytes)
 *     block header: "KBBK" | u8 codec | u8 flags | u16 reserved | u32 storedLength | u32 rawLength
 *                   | i64 firstOffset | i64 lastOffset | u32 recordCount | u32 batchCount
 *                   | i64 minTimestamp | i64 maxTimestamp | u32 crc32c(payload) | u32 crc32c(header[0..60))
 *     payload: the block codec applied to Kafka v2 record batches, concatenated, exactly as fetched.
 *     [firstOffset, lastOffset] is the block's logical range: a reader ignores records outside it
 *     (a batch fetched from the middle of a compressed batch, or past a snapshot's end).
 *   footer  = "KBFT" | u32 len | footer JSON (block index and totals) | u32 crc32c(footer JSON)
 *   trailer = u64 footer position | "KBSEGEND"
 *
 * The payload checksum is verified before decompression, so corruption is reported as such and
 * never reaches a decompressor. The whole file's digest (CRC-32C, or SHA-256 when configured) is
 * recorded in the manifest.
 */
import { AuthenticationError } from '../crypto/aead.ts';
import { type BlockSealer, blockOpener, blockSealer, type EncryptionStep } from '../crypto/blocks.ts';
import { isEncryptedLineKey } from '../crypto/keyring.ts';
import { dataEncryptionOf } from '../crypto/storage.ts';
import type { ObjectWriter } from '../storage/backend.ts';
import type { BlockLease, BlockPool } from './block-pool.ts';
import { ByteReader } from './byte-reader.ts';
import { crc32c, crc32cOfParts, type FileChecksumKind, type RunningDigest, runningDigest } from './checksum.ts';
import { type BlockCodec, decompressBlock, withCompressedBlock } from './compression.ts';
import { ZstdDecompressor } from './zstd-decompressor.ts';

export const SEGMENT_MAGIC = Buffer.from('KBSEG\0\0\x01', 'latin1');
export const SEGMENT_END_MAGIC = Buffer.from('KBSEGEND', 'latin1');
const BLOCK_MAGIC = Buffer.from('KBBK', 'latin1');
const FOOTER_MAGIC = Buffer.from('KBFT', 'latin1');
export const BLOCK_HEADER_SIZE = 64;
/** The block header bytes an encrypted block's tag covers: all but its two checksums. */
export const BLOCK_AAD_BYTES = 56;
/** Block header flags bit 0: the payload is sealed (AES-256-GCM, the file's encryption step). */
const FLAG_ENCRYPTED = 1;
const CODEC_IDS: Record<BlockCodec, number> = { none: 0, gzip: 1, lz4: 3, zstd: 4 };
const CODEC_BY_ID: Record<number, BlockCodec> = { 0: 'none', 1: 'gzip', 3: 'lz4', 4: 'zstd' };

export interface SegmentHeader {
  format: 'kafka-backup/segment';
  version: 1;
  backup_id: string;
  run_id: string;
  topic: string;
  topic_id: string;
  partition: number;
  /** Applied in order when writing, reversed when reading: compression, then (encrypted lines) encryption. */
  codec_chain: ({ type: 'compression'; name: BlockCodec; level?: number } | EncryptionStep)[];
  created_at: string;
}

export interface BlockMeta {
  firstOffset: number;
  lastOffset: number;
  recordCount: number;
  batchCount: number;
  minTimestamp: number;
  maxTimestamp: number;
}

export interface BlockIndexEntry extends BlockMeta {
  position: number;
  storedLength: number;
  rawLength: number;
}

export interface SegmentSummary {
  key: string;
  size: number;
  /** The whole file's digest, under the name of its kind (`crc32c` or `sha256`). */
  checksum: { kind: FileChecksumKind; value: string };
  first_offset: number;
  last_offset: number;
  records: number;
  batches: number;
  blocks: number;
  raw_bytes: number;
  min_timestamp: number;
  max_timestamp: number;
}

export class SegmentWriter {
  private readonly hash: RunningDigest;
  private position = 0;
  private readonly index: BlockIndexEntry[] = [];
  private rawBytes = 0;
  private readonly codec: BlockCodec;
  private readonly level: number | undefined;
  private started = false;
  /** Seals each block when the line is encrypted (the storage layer hands over the key). */
  private readonly sealer: BlockSealer | undefined;
  /**
   * The last sealed block's tag, not written yet: it goes out with the next block header (or
   * before the footer), so a sealed block costs neither a copy to join ciphertext and tag nor a
   * write of its own.
   */
  private tail: Buffer | null = null;

  private readonly out: ObjectWriter;
  readonly key: string;
  private readonly header: SegmentHeader;

  constructor(out: ObjectWriter, key: string, header: SegmentHeader, checksum: FileChecksumKind = 'crc32c') {
    this.hash = runningDigest(checksum);
    this.out = out;
    this.key = key;
    const enc = dataEncryptionOf(out);
    if (enc) {
      const { sealer, step } = blockSealer(enc.keyId, enc.masterKey);
      this.sealer = sealer;
      this.header = { ...header, codec_chain: [...header.codec_chain.filter((s) => s.type !== 'encryption'), step] };
    } else this.header = header;
    const c = header.codec_chain.find((s) => s.type === 'compression');
    this.codec = c?.type === 'compression' ? c.name : 'none';
    this.level = c?.type === 'compression' ? c.level : undefined;
  }

  get blockCount(): number {
    return this.index.length;
  }
  /** Whether the blocks are sealed (the file's line is encrypted). */
  get encrypted(): boolean {
    return this.sealer !== undefined;
  }
  get bytesWritten(): number {
    return this.position + (this.tail?.length ?? 0);
  }
  get rawBytesWritten(): number {
    return this.rawBytes;
  }

  private async emit(buf: Buffer): Promise<void> {
    this.hash.update(buf);
    this.position += buf.length;
    await this.out.write(buf);
  }

  private async start(): Promise<void> {
    this.started = true;
    const json = Buffer.from(JSON.stringify(this.header));
    const pre = Buffer.allocUnsafe(8 + 4 + json.length + 4);
    SEGMENT_MAGIC.copy(pre, 0);
    pre.writeUInt32BE(json.length, 8);
    json.copy(pre, 12);
    pre.writeUInt32BE(crc32c(json) >>> 0, 12 + json.length);
    await this.emit(pre);
  }

  /**
   * Compresses and appends one block of raw record batches. `raw` is not read once this resolves
   * (callers may reuse its memory); before, it must not change.
   */
  async appendBlock(raw: Buffer, meta: BlockMeta): Promise<void> {
    await withCompressedBlock(this.codec, raw, this.level, (stored) => this.appendCompressed(stored, raw.length, meta));
  }

  /**
   * Appends a block already compressed with this file's codec (lets callers compress ahead),
   * given whole or in pieces (a zstd frame as the compressor handed it out), written in order.
   */
  async appendCompressed(compressed: Buffer | readonly Buffer[], rawLength: number, meta: BlockMeta): Promise<void> {
    if (!this.started) await this.start();
    let pieces = Buffer.isBuffer(compressed) ? [compressed] : compressed;
    let storedLength = 0;
    for (const p of pieces) storedLength += p.length;
    // the previous block's tag, then this block's header: one write
    const tail = this.tail;
    this.tail = null;
    const out = Buffer.alloc((tail?.length ?? 0) + BLOCK_HEADER_SIZE);
    tail?.copy(out, 0);
    const h = out.subarray(out.length - BLOCK_HEADER_SIZE);
    BLOCK_MAGIC.copy(h, 0);
    h.writeUInt8(CODEC_IDS[this.codec], 4);
    if (this.sealer) h.writeUInt8(FLAG_ENCRYPTED, 5);
    h.writeUInt32BE(storedLength + (this.sealer?.overhead ?? 0), 8);
    h.writeUInt32BE(rawLength, 12);
    h.writeBigInt64BE(BigInt(meta.firstOffset), 16);
    h.writeBigInt64BE(BigInt(meta.lastOffset), 24);
    h.writeUInt32BE(meta.recordCount, 32);
    h.writeUInt32BE(meta.batchCount, 36);
    h.writeBigInt64BE(BigInt(meta.minTimestamp), 40);
    h.writeBigInt64BE(BigInt(meta.maxTimestamp), 48);
    // the header (but its checksums) is the associated data: offsets and counts cannot be edited either
    let tag: Buffer | null = null;
    if (this.sealer) {
      const [sealed, t] = this.sealer.seal(this.index.length, pieces, h.subarray(0, BLOCK_AAD_BYTES));
      pieces = sealed;
      tag = t;
      h.writeUInt32BE(crc32cOfParts([...sealed, t]), 56);
    } else h.writeUInt32BE(crc32cOfParts(pieces), 56);
    h.writeUInt32BE(crc32c(h.subarray(0, 60)) >>> 0, 60);
    const position = this.position + out.length - BLOCK_HEADER_SIZE;
    this.index.push({ ...meta, position, storedLength: h.readUInt32BE(8), rawLength });
    this.rawBytes += rawLength;
    await this.emit(out);
    for (const p of pieces) await this.emit(p);
    this.tail = tag;
  }

  /** Writes footer and trailer, commits the object, and returns what the manifest lists. */
  async finish(): Promise<SegmentSummary> {
    if (!this.started) await this.start();
    if (this.tail) await this.emit(this.tail);
    this.tail = null;
    const first = this.index[0];
    const last = this.index[this.index.length - 1];
    const totals = {
      records: this.index.reduce((s, b) => s + b.recordCount, 0),
      batches: this.index.reduce((s, b) => s + b.batchCount, 0),
      raw_bytes: this.rawBytes,
      first_offset: first?.firstOffset ?? -1,
      last_offset: last?.lastOffset ?? -1,
      min_timestamp: this.index.reduce((m, b) => Math.min(m, b.minTimestamp), Number.MAX_SAFE_INTEGER),
      max_timestamp: this.index.reduce((m, b) => Math.max(m, b.maxTimestamp), -1),
    };
    const json = Buffer.from(JSON.stringify({ blocks: this.index, totals }));
    const footerPos = this.position;
    const f = Buffer.allocUnsafe(8 + json.length + 4 + 16);
    FOOTER_MAGIC.copy(f, 0);
    f.writeUInt32BE(json.length, 4);
    json.copy(f, 8);
    f.writeUInt32BE(crc32c(json) >>> 0, 8 + json.length);
    f.writeBigUInt64BE(BigInt(footerPos), 12 + json.length);
    SEGMENT_END_MAGIC.copy(f, 20 + json.length);
    await this.emit(f);
    await this.out.commit();
    return {
      key: this.key,
      size: this.position,
      checksum: { kind: this.hash.kind, value: this.hash.digest() },
      first_offset: totals.first_offset,
      last_offset: totals.last_offset,
      records: totals.records,
      batches: totals.batches,
      blocks: this.index.length,
      raw_bytes: this.rawBytes,
      min_timestamp: totals.min_timestamp === Number.MAX_SAFE_INTEGER ? -1 : totals.min_timestamp,
      max_timestamp: totals.max_timestamp,
    };
  }

  async abort(): Promise<void> {
    await this.out.abort();
  }
}

export class SegmentCorruptError extends Error {
  readonly key: string;
  readonly detail: string;
  constructor(key: string, detail: string) {
    super(`data file ${key} is corrupt: ${detail}`);
    this.key = key;
    this.detail = detail;
  }
}

export interface ReadBlock extends BlockMeta {
  /** Uncompressed Kafka record batches. */
  raw: Buffer;
  index: number;
  /**
   * With `options.pool`: the pooled buffer `raw` lives in, lent to the reader of this block.
   * Release it (once) when done with the block, after retaining it for anything that keeps
   * `raw` or a view of it longer. Absent when the block's bytes are the reader's own.
   */
  lease?: BlockLease;
}

export interface SegmentReadResult {
  header: SegmentHeader;
  checksum: { kind: FileChecksumKind; value: string };
  size: number;
}

/** What the manifest recorded for a file, checked after the last byte is read. */
export interface ExpectedFile {
  size?: number;
  crc32c?: string;
  sha256?: string;
}

/**
 * Reads a data file front to back, verifying every checksum: the preamble CRC, each block
 * header's CRC, each payload's CRC before decompression, the footer, and the whole file's size
 * and digest against what the manifest recorded (`expected`). Yields decompressed blocks.
 */
export async function* readSegment(
  key: string,
  source: AsyncIterable<Buffer | Uint8Array>,
  options: {
    expected?: ExpectedFile;
    onHeader?: (h: SegmentHeader) => void;
    /** Decompress zstd blocks into buffers of this pool (see ReadBlock.lease), reading payloads into one reused buffer. */
    pool?: BlockPool;
  } = {},
): AsyncGenerator<ReadBlock, SegmentReadResult> {
  const expected = options.expected ?? {};
  const hash = runningDigest(expected.sha256 ? 'sha256' : 'crc32c');
  const r = new ByteReader(source, (b) => hash.update(b));
  const pool = options.pool;
  const zstd = pool ? new ZstdDecompressor() : null;
  /** Payloads spanning stream chunks are copied here instead of into a new Buffer each. */
  let scratch: Buffer | undefined;
  const bad = (detail: string): never => {
    throw new SegmentCorruptError(key, detail);
  };
  try {
    const magic = await r.readExact(8, 'magic');
    if (!magic.equals(SEGMENT_MAGIC)) bad('not a kafka-backup data file (bad magic)');
    const hlen = (await r.readExact(4, 'header length')).readUInt32BE(0);
    if (hlen > 1 << 20) bad('header length out of range');
    const hjson = await r.readExact(hlen, 'header');
    const hcrc = (await r.readExact(4, 'header checksum')).readUInt32BE(0);
    if (crc32c(hjson) >>> 0 !== hcrc) bad('header checksum mismatch');
    const header = JSON.parse(hjson.toString('utf8')) as SegmentHeader;
    const steps = header.codec_chain ?? [];
    const unknown = steps.find((s) => s.type !== 'compression' && s.type !== 'encryption');
    if (unknown)
      bad(`codec step ${JSON.stringify(unknown)} is not one this tool knows; read it with a newer kafka-backup`);
    const encryption = steps.find((s): s is EncryptionStep => s.type === 'encryption');
    if (!encryption && isEncryptedLineKey(key))
      bad('its blocks are not encrypted, but its backup line is: not written by kafka-backup with the line’s key');
    // throws KeyError (not corruption) when the master key it names is not unlocked
    const opener = encryption ? blockOpener(key, encryption) : undefined;
    options.onHeader?.(header);
    let i = 0;
    for (;;) {
      const tag = await r.readExact(4, 'block or footer');
      if (tag.equals(FOOTER_MAGIC)) break;
      if (!tag.equals(BLOCK_MAGIC)) bad(`block ${i}: bad block marker at byte ${r.position - 4}`);
      const rest = await r.readExact(BLOCK_HEADER_SIZE - 4, `block ${i} header`);
      const h = Buffer.concat([tag, rest]);
      if (crc32c(h.subarray(0, 60)) >>> 0 !== h.readUInt32BE(60)) bad(`block ${i}: header checksum mismatch`);
      const codec = CODEC_BY_ID[h.readUInt8(4)];
      if (!codec) bad(`block ${i}: unknown codec ${h.readUInt8(4)}`);
      const storedLength = h.readUInt32BE(8);
      const rawLength = h.readUInt32BE(12);
      const flags = h.readUInt8(5);
      // an unencrypted uncompressed payload is the block itself, so it must not be overwritten
      const reuse = pool !== undefined && (codec !== 'none' || flags !== 0);
      if (reuse && (scratch?.length ?? 0) < storedLength) scratch = Buffer.allocUnsafe(storedLength);
      const stored = await r.readExact(storedLength, `block ${i} payload`, reuse ? scratch : undefined);
      if (crc32c(stored) >>> 0 !== h.readUInt32BE(56)) bad(`block ${i}: payload checksum mismatch`);
      if (flags !== (opener ? FLAG_ENCRYPTED : 0))
        bad(
          `block ${i}: flags ${flags} do not match the file's codec chain (${opener ? 'encrypted' : 'not encrypted'})`,
        );
      let payload = stored;
      if (opener)
        try {
          payload = opener.open(i, stored, h.subarray(0, BLOCK_AAD_BYTES));
        } catch (e) {
          if (!(e instanceof AuthenticationError)) throw e;
          bad(`block ${i}: ${e.message}`);
        }
      let raw: Buffer;
      let lease: BlockLease | undefined;
      try {
        if (zstd && codec === 'zstd') {
          // one spare byte: output that fills the buffer is longer than the header says
          lease = pool!.acquire(rawLength + 1);
          raw = lease.buffer.subarray(0, await zstd.decompressInto(payload, lease.buffer.subarray(0, rawLength + 1)));
        } else raw = await decompressBlock(codec!, payload, rawLength);
      } catch (e) {
        lease?.release();
        return bad(`block ${i}: cannot decompress (${(e as Error).message})`);
      }
      if (raw.length !== rawLength) {
        lease?.release();
        bad(`block ${i}: decompressed to ${raw.length} bytes, expected ${rawLength}`);
      }
      yield {
        index: i,
        raw,
        ...(lease ? { lease } : {}),
        firstOffset: Number(h.readBigInt64BE(16)),
        lastOffset: Number(h.readBigInt64BE(24)),
        recordCount: h.readUInt32BE(32),
        batchCount: h.readUInt32BE(36),
        minTimestamp: Number(h.readBigInt64BE(40)),
        maxTimestamp: Number(h.readBigInt64BE(48)),
      };
      i++;
    }
    const flen = (await r.readExact(4, 'footer length')).readUInt32BE(0);
    const fjson = await r.readExact(flen, 'footer');
    const fcrc = (await r.readExact(4, 'footer checksum')).readUInt32BE(0);
    if (crc32c(fjson) >>> 0 !== fcrc) bad('footer checksum mismatch');
    const footer = JSON.parse(fjson.toString('utf8')) as { blocks: BlockIndexEntry[] };
    if (footer.blocks.length !== i) bad(`footer lists ${footer.blocks.length} blocks, file has ${i}`);
    await r.readExact(8, 'trailer');
    const end = await r.readExact(8, 'end marker');
    if (!end.equals(SEGMENT_END_MAGIC)) bad('bad end marker');
    if (!(await r.atEnd())) bad('trailing bytes after end marker');
    const size = r.position;
    const digest = hash.digest();
    if (expected.size !== undefined && size !== expected.size)
      bad(`size ${size} differs from the manifest's ${expected.size}`);
    const want = hash.kind === 'sha256' ? expected.sha256 : expected.crc32c;
    if (want && digest !== want)
      bad(`${hash.kind === 'sha256' ? 'SHA-256' : 'CRC-32C'} of the file differs from the manifest's`);
    return { header, checksum: { kind: hash.kind, value: digest }, size };
  } catch (e) {
    if (e instanceof SegmentCorruptError) throw e;
    if (e instanceof SyntaxError) throw new SegmentCorruptError(key, `unreadable JSON (${e.message})`);
    if (e instanceof Error && e.name === 'TruncatedError') throw new SegmentCorruptError(key, e.message);
    if (e instanceof RangeError) throw new SegmentCorruptError(key, e.message);
    throw e;
  } finally {
    zstd?.close();
  }
}
