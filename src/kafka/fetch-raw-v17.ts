/**
 * Fetch v17 with the records section kept as raw bytes.
 *
 * The client's own fetch API decodes every record into objects; a backup stores batches as
 * fetched, so this parser keeps each partition's records section as one Buffer and leaves the
 * batch walk to src/format/batch.ts. The request encoder is the client's own (fetch-v17).
 *
 * Fetch Response (Version: 17) => throttle_time_ms error_code session_id [responses] node_endpoints TAG_BUFFER
 *   responses => topic_id [partitions] TAG_BUFFER
 *     partitions => partition_index error_code high_watermark last_stable_offset log_start_offset
 *                   diverging_epoch(tag 0) current_leader(tag 1) snapshot_id(tag 2)
 *                   [aborted_transactions] preferred_read_replica records TAG_BUFFER
 *       aborted_transactions => producer_id first_offset TAG_BUFFER
 *       records => COMPACT_RECORDS (unsigned varint length + 1, then the record batches)
 */
import { createAPI, fetchV17, type Reader } from '@platformatic/kafka';

export interface RawFetchPartition {
  partitionIndex: number;
  errorCode: number;
  highWatermark: bigint;
  lastStableOffset: bigint;
  logStartOffset: bigint;
  currentLeader: { leaderId: number; leaderEpoch: number };
  /**
   * KIP-320: set when the request's last_fetched_epoch and fetch offset are not on the leader's
   * log: the leader's last offset of that epoch (or the largest epoch below it). Records at or
   * after `endOffset` read under that epoch are not in the leader's log (it was truncated).
   */
  divergingEpoch: { epoch: number; endOffset: bigint } | null;
  abortedTransactions: { producerId: bigint; firstOffset: bigint }[];
  preferredReadReplica: number;
  /** The record batches exactly as sent; may end with a partial batch. */
  records: Buffer | null;
  /**
   * rawFetchV17Views only (records is null there): the same bytes as views of the response's
   * socket chunks, in order, not copied; absent when the partition returned no records.
   */
  recordViews?: Buffer[];
}

export interface RawFetchResponse {
  throttleTimeMs: number;
  errorCode: number;
  sessionId: number;
  responses: { topicId: string; partitions: RawFetchPartition[] }[];
}

function skipTaggedFields(r: Reader, known: Record<number, (r: Reader) => void> = {}): void {
  const count = r.readUnsignedVarInt();
  for (let i = 0; i < count; i++) {
    const tag = r.readUnsignedVarInt();
    const size = r.readUnsignedVarInt();
    const handler = known[tag];
    if (!handler) {
      r.skip(size);
      continue;
    }
    // a tagged field is a struct with its own tagged fields: whatever the handler left unread
    // (fields of a newer version) is skipped by the size, so the next tag is read in the right place
    const start = r.position;
    handler(r);
    r.skip(start + size - r.position);
  }
}

export function parseRawFetchResponse(
  _correlationId: number,
  _apiKey: number,
  _apiVersion: number,
  reader: Reader,
): RawFetchResponse {
  return parseResponse(reader, false);
}

/**
 * The records as views of the socket chunks (recordViews): no copy of the records section when
 * it spans several chunks, as it does for any sizeable fetch. The chunks stay alive as long as
 * the views do; a backup copies the batches it keeps into its block buffers and drops them.
 */
export function parseRawFetchResponseViews(
  _correlationId: number,
  _apiKey: number,
  _apiVersion: number,
  reader: Reader,
): RawFetchResponse {
  return parseResponse(reader, true);
}

function parseResponse(reader: Reader, views: boolean): RawFetchResponse {
  const throttleTimeMs = reader.readInt32();
  const errorCode = reader.readInt16();
  const sessionId = reader.readInt32();
  const responses = reader.readArray((r) => {
    const topicId = r.readUUID();
    const partitions = r.readArray(
      (r) => {
        const p: RawFetchPartition = {
          partitionIndex: r.readInt32(),
          errorCode: r.readInt16(),
          highWatermark: r.readInt64(),
          lastStableOffset: r.readInt64(),
          logStartOffset: r.readInt64(),
          currentLeader: { leaderId: -1, leaderEpoch: -1 },
          divergingEpoch: null,
          abortedTransactions: [],
          preferredReadReplica: -1,
          records: null,
        };
        p.abortedTransactions =
          r.readNullableArray((r) => ({ producerId: r.readInt64(), firstOffset: r.readInt64() })) ?? [];
        p.preferredReadReplica = r.readInt32();
        const size = r.readUnsignedVarInt();
        if (size > 1) {
          const length = size - 1;
          // slice() is a view when the bytes sit in one socket chunk, a copy when they span several.
          if (views) p.recordViews = r.buffer.subarray(r.position, r.position + length).buffers;
          else p.records = r.buffer.slice(r.position, r.position + length);
          r.skip(length);
        }
        skipTaggedFields(r, {
          0: (r) => {
            p.divergingEpoch = { epoch: r.readInt32(), endOffset: r.readInt64() };
          },
          1: (r) => {
            p.currentLeader = { leaderId: r.readInt32(), leaderEpoch: r.readInt32() };
          },
        });
        return p;
      },
      true,
      false,
    ); // the partition's tagged fields are read above, not discarded
    return { topicId, partitions };
  });
  skipTaggedFields(reader);
  // Errors are returned, not thrown: the backup handles each partition's error on its own.
  return { throttleTimeMs, errorCode, sessionId, responses };
}

export const rawFetchV17 = createAPI<Parameters<typeof fetchV17.createRequest>, RawFetchResponse>(
  1,
  17,
  fetchV17.createRequest,
  parseRawFetchResponse,
);

/** rawFetchV17 with the records as views of the socket chunks (the backup's fetch path). */
export const rawFetchV17Views = createAPI<Parameters<typeof fetchV17.createRequest>, RawFetchResponse>(
  1,
  17,
  fetchV17.createRequest,
  parseRawFetchResponseViews,
);
