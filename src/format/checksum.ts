/**
 * CRC-32C (Castagnoli), the checksum Kafka puts on every record batch and that our data files
 * put on every block. @node-rs/crc32 is the native (SSE4.2) implementation the Kafka client
 * itself loads; calling it directly avoids the client wrapper's copy of every buffer.
 */
import { crc32c as native } from '@node-rs/crc32';

export function crc32c(data: Uint8Array): number {
  return native(data) >>> 0;
}
