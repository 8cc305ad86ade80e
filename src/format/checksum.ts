/**
 * CRC-32C (Castagnoli), the checksum Kafka puts on every record batch and that our data files
 * put on every block. @node-rs/crc32 is the native (SSE4.2) implementation the Kafka client
 * itself loads; calling it directly avoids the client wrapper's copy of every buffer.
 *
 * Whole data files carry a second, file-level digest in the manifest (docs/format.md). It is
 * CRC-32C by default: the same check cloud object stores use for end-to-end integrity, about
 * ten times cheaper than SHA-256 on the backup's hot path. SHA-256 stays available
 * (`backup.file_checksum: sha256`) and both are verified on read. Neither is a signature: a
 * party that can rewrite data files can rewrite the manifest too.
 */
import { createHash } from 'node:crypto';
import { crc32c as native } from '@node-rs/crc32';

export function crc32c(data: Uint8Array): number {
  return native(data) >>> 0;
}

/** CRC-32C of the parts one after the other, as if concatenated. */
export function crc32cOfParts(parts: readonly Uint8Array[]): number {
  let state = 0;
  for (const p of parts) state = native(p, state);
  return state >>> 0;
}

export type FileChecksumKind = 'crc32c' | 'sha256';

/** A digest fed chunk by chunk, in file order. */
export interface RunningDigest {
  readonly kind: FileChecksumKind;
  update(chunk: Uint8Array): void;
  /** Lower-case hex: 8 digits for crc32c, 64 for sha256. */
  digest(): string;
}

export function runningDigest(kind: FileChecksumKind): RunningDigest {
  if (kind === 'sha256') {
    const h = createHash('sha256');
    return { kind, update: (c) => h.update(c), digest: () => h.digest('hex') };
  }
  let state = 0;
  return {
    kind,
    update: (c) => {
      state = native(c, state);
    },
    digest: () => (state >>> 0).toString(16).padStart(8, '0'),
  };
}
