/**
 * Block compression for data files. zstd and gzip come from node:zlib and run on libuv's thread
 * pool (async), so compressing one partition's block overlaps with fetching and with other
 * partitions. lz4 uses the Kafka client's implementation (LZ4 frame, synchronous).
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { compressionsAlgorithms } from '@platformatic/kafka';
import { withZstdFrame } from './zstd-compressor.ts';

export type BlockCodec = 'none' | 'zstd' | 'gzip' | 'lz4';
export const BLOCK_CODECS: readonly BlockCodec[] = ['none', 'zstd', 'gzip', 'lz4'];

const zstdDecompress = promisify(zlib.zstdDecompress);
const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

export const DEFAULT_LEVELS: Record<BlockCodec, number | undefined> = {
  none: undefined,
  zstd: 1,
  gzip: 1,
  lz4: undefined,
};

/** zlib output chunk size covering a whole block (within zlib's allowed range). */
function blockChunk(bytes: number): number {
  return Math.min(Math.max(bytes + 1024, 64 * 1024), 64 * 1024 * 1024);
}

/**
 * Compresses a block and hands the stored payload, in pieces in order, to `use`, where it is
 * valid until `use` settles (zstd: one frame in a reused buffer, src/format/zstd-compressor.ts;
 * the others: one piece). With `none` the piece is `data` itself.
 */
export async function withCompressedBlock<T>(
  codec: BlockCodec,
  data: Buffer,
  level: number | undefined,
  use: (stored: Buffer[]) => Promise<T>,
): Promise<T> {
  switch (codec) {
    case 'none':
      return use([data]);
    case 'zstd':
      return withZstdFrame(data, level ?? DEFAULT_LEVELS.zstd!, use);
    case 'gzip':
      return use([await gzip(data, { level: level ?? DEFAULT_LEVELS.gzip!, chunkSize: blockChunk(data.length) })]);
    case 'lz4':
      return use([compressionsAlgorithms.lz4.compressSync(data)]);
  }
}

export async function decompressBlock(codec: BlockCodec, data: Buffer, rawLength: number): Promise<Buffer> {
  switch (codec) {
    case 'none':
      return data;
    case 'zstd':
      return zstdDecompress(data, { maxOutputLength: Math.max(rawLength, 1), chunkSize: blockChunk(rawLength) });
    case 'gzip':
      return gunzip(data, { maxOutputLength: Math.max(rawLength, 1), chunkSize: blockChunk(rawLength) });
    case 'lz4':
      return compressionsAlgorithms.lz4.decompressSync(data);
  }
}

/** Decompresses the records section of a Kafka batch compressed by the producer (codec id 1-4). */
export function decompressKafkaRecords(codecId: number, data: Buffer): Buffer {
  switch (codecId) {
    case 0:
      return data;
    case 1:
      return zlib.gunzipSync(data);
    case 2:
      return compressionsAlgorithms.snappy.decompressSync(data);
    case 3:
      return compressionsAlgorithms.lz4.decompressSync(data);
    case 4:
      return zlib.zstdDecompressSync(data);
    default:
      throw new Error(`unknown Kafka compression codec ${codecId}`);
  }
}
