/**
 * Hand-made Kafka v2 batches for the backup unit tests: data batches (optionally transactional)
 * and COMMIT/ABORT control batches, at a given base offset, with a valid CRC-32C; and a
 * RawFetchPartition around them, as the raw Fetch parser returns it.
 */
import { crc32c } from '../../../src/format/checksum.ts';
import { encodeBatch } from '../../../src/format/records.ts';
import type { RawFetchPartition } from '../../../src/kafka/fetch-raw-v17.ts';

const ATTR_TRANSACTIONAL = 0x10;
const ATTR_CONTROL = 0x20;

function seal(b: Buffer, base: number, attributes: number): Buffer {
  b.writeBigInt64BE(BigInt(base), 0); // outside the CRC
  b.writeInt16BE(b.readInt16BE(21) | attributes, 21);
  b.writeUInt32BE(crc32c(b.subarray(21)) >>> 0, 17);
  return b;
}

/** `count` records at offsets base..base+count-1; transactional when `producerId` is given. */
export function dataBatch(base: number, count: number, producerId?: bigint): Buffer {
  const records = Array.from({ length: count }, (_, i) => ({
    offset: i,
    timestamp: 1_700_000_000_000 + base + i,
    key: Buffer.from(`k${base + i}`),
    value: Buffer.from(`value-${base + i}`),
    headers: [] as [Buffer, Buffer | null][],
  }));
  const b = encodeBatch(records, { compression: 0, producerId: producerId ?? -1n, producerEpoch: 0, baseSequence: 0 });
  return seal(b, base, producerId === undefined ? 0 : ATTR_TRANSACTIONAL);
}

/** A control batch (one record: key version 0 + type, 0 ABORT / 1 COMMIT) at `offset`. */
export function markerBatch(offset: number, producerId: bigint, type: 'commit' | 'abort'): Buffer {
  const key = Buffer.alloc(4);
  key.writeInt16BE(0, 0);
  key.writeInt16BE(type === 'commit' ? 1 : 0, 2);
  const value = Buffer.alloc(6); // version int16, coordinator epoch int32
  const b = encodeBatch([{ offset: 0, timestamp: 1_700_000_000_000 + offset, key, value, headers: [] }], {
    compression: 0,
    producerId,
    producerEpoch: 0,
    baseSequence: -1,
  });
  return seal(b, offset, ATTR_TRANSACTIONAL | ATTR_CONTROL);
}

export function fetched(
  batches: Buffer[],
  o: { aborted?: { producerId: bigint; firstOffset: bigint }[]; hw?: number } = {},
): RawFetchPartition {
  return {
    partitionIndex: 0,
    errorCode: 0,
    highWatermark: BigInt(o.hw ?? 1_000_000),
    lastStableOffset: BigInt(o.hw ?? 1_000_000),
    logStartOffset: 0n,
    currentLeader: { leaderId: 1, leaderEpoch: 0 },
    divergingEpoch: null,
    abortedTransactions: o.aborted ?? [],
    preferredReadReplica: -1,
    records: batches.length ? Buffer.concat(batches) : null,
  };
}
