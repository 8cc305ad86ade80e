/**
 * In-memory fixtures for the inspect tests: a tiny StorageBackend over a Map, hand-made Kafka v2
 * batches (createRecordsBatch with the base offset patched in), and a small backup line written
 * with SegmentWriter and two manifest generations.
 */
import { Readable } from 'node:stream';
import { createRecordsBatch } from '@platformatic/kafka';
import { StorageError } from '../../../src/errors.ts';
import type { BlockCodec } from '../../../src/format/compression.ts';
import {
  encodeManifest,
  type FileEntry,
  type GapCause,
  keys,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type Manifest,
} from '../../../src/format/manifest.ts';
import { BLOCK_HEADER_SIZE, SegmentWriter } from '../../../src/format/segment.ts';
import type { ObjectInfo, ObjectWriter, StorageBackend } from '../../../src/storage/backend.ts';

export class MemoryStorage implements StorageBackend {
  readonly location = 'memory://test';
  readonly objects = new Map<string, Buffer>();

  async put(key: string, body: Uint8Array, options: { ifAbsent?: boolean } = {}): Promise<void> {
    if (options.ifAbsent && this.objects.has(key)) throw new StorageError(`${key} exists`, 'already-exists');
    this.objects.set(key, Buffer.from(body));
  }
  async openWriter(key: string): Promise<ObjectWriter> {
    const parts: Buffer[] = [];
    let n = 0;
    const objects = this.objects;
    return {
      async write(chunk: Uint8Array) {
        parts.push(Buffer.from(chunk));
        n += chunk.length;
      },
      async commit(): Promise<ObjectInfo> {
        objects.set(key, Buffer.concat(parts));
        return { key, size: n };
      },
      async abort() {},
      get bytesWritten() {
        return n;
      },
    };
  }
  private must(key: string): Buffer {
    const b = this.objects.get(key);
    if (!b) throw new StorageError(`memory ${key}: not found`, 'not-found');
    return b;
  }
  async load(key: string, range?: { offset: number; length?: number }): Promise<Readable> {
    const b = this.must(key);
    const slice = range
      ? b.subarray(range.offset, range.length === undefined ? undefined : range.offset + range.length)
      : b;
    // small chunks, so readers cross chunk boundaries
    const chunks: Buffer[] = [];
    for (let i = 0; i < slice.length; i += 97) chunks.push(slice.subarray(i, i + 97));
    return Readable.from(chunks);
  }
  async get(key: string): Promise<Buffer> {
    return Buffer.from(this.must(key));
  }
  async stat(key: string): Promise<ObjectInfo> {
    return { key, size: this.must(key).length };
  }
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for (const k of [...this.objects.keys()].sort())
      if (k.startsWith(prefix)) yield { key: k, size: this.objects.get(k)!.length };
  }
  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }
  async close(): Promise<void> {}

  /** Flips one bit of byte `at` of an object. */
  flip(key: string, at: number): void {
    const b = this.must(key);
    if (at < 0 || at >= b.length) throw new Error(`byte ${at} outside ${key} (${b.length} bytes)`);
    b[at] = b[at]! ^ 0x01;
  }
}

export interface Rec {
  ts: number;
  value?: string;
}

/** One Kafka v2 record batch at `baseOffset`, records at consecutive offsets. */
export function batch(
  baseOffset: number,
  recs: Rec[],
  compression: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd' = 'none',
): Buffer {
  const w = createRecordsBatch(
    recs.map((r, i) => ({
      key: Buffer.from(`k${baseOffset + i}`),
      value: Buffer.from(r.value ?? `value-${baseOffset + i}`),
      timestamp: BigInt(r.ts),
      topic: TOPIC,
      partition: 0,
    })),
    { compression } as never,
  );
  const b = Buffer.from(w.buffer);
  b.writeBigInt64BE(BigInt(baseOffset), 0); // outside the batch CRC
  return b;
}

export const recs = (n: number, ts0: number): Rec[] => Array.from({ length: n }, (_, i) => ({ ts: ts0 + i }));

export interface BlockSpec {
  batches: Buffer[];
  first: number;
  last: number;
  records: number;
  minTs: number;
  maxTs: number;
}

export const BACKUP = 'line1';
export const TOPIC = 'orders';
export const TOPIC_ID = 'AAAAAAAAAAAAAAAAAAAAAA';

/** Writes one data file and returns its manifest entry. */
export async function writeFile(
  storage: StorageBackend,
  partition: number,
  blocks: BlockSpec[],
  opts: {
    codec?: BlockCodec;
    first?: number;
    last?: number;
    skipped?: Partial<Record<GapCause, number>>;
    seq?: number;
  } = {},
): Promise<FileEntry> {
  const first = opts.first ?? blocks[0]!.first;
  const key = keys.dataFile(BACKUP, TOPIC, partition, first, 'run1', opts.seq ?? 0);
  const w = new SegmentWriter(await storage.openWriter(key), key, {
    format: 'kafka-backup/segment',
    version: 1,
    backup_id: BACKUP,
    run_id: 'run1',
    topic: TOPIC,
    topic_id: TOPIC_ID,
    partition,
    codec_chain: [{ type: 'compression', name: opts.codec ?? 'zstd' }],
    created_at: '2025-01-01T00:00:00.000Z',
  });
  for (const b of blocks)
    await w.appendBlock(Buffer.concat(b.batches), {
      firstOffset: b.first,
      lastOffset: b.last,
      recordCount: b.records,
      batchCount: b.batches.length,
      minTimestamp: b.minTs,
      maxTimestamp: b.maxTs,
    });
  const s = await w.finish();
  return {
    key,
    size: s.size,
    [s.checksum.kind]: s.checksum.value,
    run_id: 'run1',
    first_offset: first,
    last_offset: opts.last ?? blocks[blocks.length - 1]!.last,
    records: s.records,
    batches: s.batches,
    blocks: s.blocks,
    raw_bytes: s.raw_bytes,
    min_timestamp: s.min_timestamp,
    max_timestamp: s.max_timestamp,
    skipped: opts.skipped ?? {},
    created_at: '2025-01-01T00:00:00.000Z',
  };
}

export const T0 = Date.parse('2025-01-01T00:00:00.000Z');

export function manifest(generation: number, over: Partial<Manifest> = {}): Manifest {
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    backup_id: BACKUP,
    generation,
    created_at: new Date(T0 + generation * 1000).toISOString(),
    writer: { run_id: 'run1', host: 'h', pid: 1, tool_version: '0.1.0' },
    source: { cluster_id: 'cluster-1', bootstrap_servers: ['127.0.0.1:19092'] },
    topics: {},
    snapshots: [],
    retired_topics: [],
    ...over,
  };
}

export interface Fixture {
  storage: MemoryStorage;
  /** Data files: p0a = partition 0 offsets 0..9 (two blocks: plain and gzip batches), p0b = 15..24
   * (8 records, 2 control offsets skipped), p0c = 27..29 (one batch 25..29 read from its middle),
   * p1a = partition 1 offsets 0..2 (lz4 block codec). */
  files: Record<'p0a' | 'p0b' | 'p0c' | 'p1a', FileEntry>;
  gen1: Manifest;
  gen2: Manifest;
}

/**
 * A line with two generations. Generation 1: snapshot s1 (complete) with p0 at 10, p1 at 3.
 * Generation 2 adds p0b, p0c, a retention gap 10..14 and a gap 25..26, and snapshot s2
 * (complete) reaching p0 30.
 */
export async function buildLine(storage = new MemoryStorage()): Promise<Fixture> {
  const p0a = await writeFile(storage, 0, [
    { batches: [batch(0, recs(5, T0))], first: 0, last: 4, records: 5, minTs: T0, maxTs: T0 + 4 },
    { batches: [batch(5, recs(5, T0 + 5), 'gzip')], first: 5, last: 9, records: 5, minTs: T0 + 5, maxTs: T0 + 9 },
  ]);
  const p0b = await writeFile(
    storage,
    0,
    [
      {
        batches: [batch(15, recs(3, T0 + 15), 'zstd'), batch(18, recs(5, T0 + 18), 'lz4')],
        first: 15,
        last: 22,
        records: 8,
        minTs: T0 + 15,
        maxTs: T0 + 22,
      },
    ],
    { last: 24, skipped: { control: 2 } },
  );
  const p0c = await writeFile(storage, 0, [
    {
      batches: [batch(25, recs(5, T0 + 25), 'snappy')],
      first: 27,
      last: 29,
      records: 3,
      minTs: T0 + 27,
      maxTs: T0 + 29,
    },
  ]);
  const p1a = await writeFile(
    storage,
    1,
    [{ batches: [batch(0, recs(3, T0 + 100))], first: 0, last: 2, records: 3, minTs: T0 + 100, maxTs: T0 + 102 }],
    { codec: 'lz4' },
  );
  const s1 = {
    id: 's1',
    run_id: 'run1',
    mode: 'snapshot' as const,
    state: 'complete' as const,
    started_at: new Date(T0).toISOString(),
    finished_at: new Date(T0 + 1000).toISOString(),
    end_offsets: { [TOPIC]: { '0': 10, '1': 3 } },
  };
  const topic = (
    files0: FileEntry[],
    next0: number,
    gaps0: Manifest['topics'][string]['partitions'][string]['gaps'],
  ) => ({
    [TOPIC]: {
      topic_id: TOPIC_ID,
      partition_count: 2,
      replication_factor: 1,
      configs: { 'retention.ms': '86400000' },
      timestamp_type: 'CreateTime' as const,
      partitions: {
        '0': { start_offset: 0, next_offset: next0, files: files0, gaps: gaps0 },
        '1': { start_offset: 0, next_offset: 3, files: [p1a], gaps: [] },
      },
    },
  });
  const gen1 = manifest(1, { topics: topic([p0a], 10, []), snapshots: [s1] });
  const gen2 = manifest(2, {
    topics: topic([p0a, p0b, p0c], 30, [
      { start: 10, end: 15, cause: 'retention' },
      { start: 25, end: 27, cause: 'unknown' },
    ]),
    snapshots: [
      s1,
      {
        id: 's2',
        run_id: 'run2',
        mode: 'snapshot',
        state: 'complete',
        started_at: new Date(T0 + 2000).toISOString(),
        finished_at: new Date(T0 + 3000).toISOString(),
        end_offsets: { [TOPIC]: { '0': 30, '1': 3 } },
      },
    ],
  });
  await storage.put(keys.manifest(BACKUP, 1), encodeManifest(gen1));
  await storage.put(keys.manifest(BACKUP, 2), encodeManifest(gen2));
  return { storage, files: { p0a, p0b, p0c, p1a }, gen1, gen2 };
}

/** Byte positions inside a data file: block i's header and payload, and the footer. */
export function positions(file: Buffer): { blocks: { header: number; payload: number }[]; footer: number } {
  const footer = Number(file.readBigUInt64BE(file.length - 16));
  const json = JSON.parse(file.subarray(footer + 8, footer + 8 + file.readUInt32BE(footer + 4)).toString()) as {
    blocks: { position: number }[];
  };
  return {
    blocks: json.blocks.map((b) => ({ header: b.position, payload: b.position + BLOCK_HEADER_SIZE })),
    footer,
  };
}
