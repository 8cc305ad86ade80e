/** Compression of a Kafka batch's records section with Kafka's own codec ids (producer side). */
import zlib from 'node:zlib';
import { compressionsAlgorithms } from '@platformatic/kafka';

export const KAFKA_CODEC_IDS = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export type KafkaCodecName = keyof typeof KAFKA_CODEC_IDS;

export function compressKafkaRecords(codecId: number, data: Buffer): Buffer {
  switch (codecId) {
    case 0:
      return data;
    case 1:
      return zlib.gzipSync(data, { level: 6 });
    case 2:
      return compressionsAlgorithms.snappy.compressSync(data);
    case 3:
      return compressionsAlgorithms.lz4.compressSync(data);
    case 4:
      return zlib.zstdCompressSync(data);
    default:
      throw new Error(`unknown Kafka compression codec ${codecId}`);
  }
}
