/**
 * Produce v11 carrying record batches we built or re-stamped ourselves.
 *
 * The client's produce API builds batches from message objects (headers as a Map, which loses
 * duplicates and order); restore sends prepared v2 batches so it controls sequence numbers,
 * timestamps and headers exactly.
 *
 * Produce Request (Version: 11) => transactional_id acks timeout_ms [topic_data] TAG_BUFFER
 *   transactional_id => COMPACT_NULLABLE_STRING
 *   acks => INT16
 *   timeout_ms => INT32
 *   topic_data => name [partition_data] TAG_BUFFER
 *     name => COMPACT_STRING
 *     partition_data => index records TAG_BUFFER
 *       index => INT32
 *       records => COMPACT_RECORDS
 * Produce Response (Version: 11) => [responses] throttle_time_ms TAG_BUFFER
 *   responses => name [partition_responses] TAG_BUFFER
 *     partition_responses => index error_code base_offset log_append_time_ms log_start_offset
 *                            [record_errors] error_message TAG_BUFFER (tag 0: current_leader)
 *       record_errors => batch_index batch_index_error_message TAG_BUFFER
 */
import { createAPI, type Reader, Writer } from '@platformatic/kafka';

export interface RawProducePartition {
  partition: number;
  /** v2 record batches, sent back to back (no copy into one buffer). */
  batches: Buffer[];
}

export interface RawProduceTopic {
  topic: string;
  partitions: RawProducePartition[];
}

export interface RawProducePartitionResponse {
  index: number;
  errorCode: number;
  baseOffset: bigint;
  logStartOffset: bigint;
  recordErrors: { batchIndex: number; message: string | null }[];
  errorMessage: string | null;
  currentLeader: { leaderId: number; leaderEpoch: number };
}

export interface RawProduceResponse {
  responses: { name: string; partitions: RawProducePartitionResponse[] }[];
  throttleTimeMs: number;
}

export function createRawProduceRequest(acks: number, timeoutMs: number, topics: RawProduceTopic[]): Writer {
  return Writer.create()
    .appendString(null)
    .appendInt16(acks)
    .appendInt32(timeoutMs)
    .appendArray(topics, (w, t) => {
      w.appendString(t.topic).appendArray(t.partitions, (w, p) => {
        let size = 0;
        for (const b of p.batches) size += b.length;
        w.appendInt32(p.partition).appendUnsignedVarInt(size + 1);
        for (const b of p.batches) w.append(b);
      });
    })
    .appendTaggedFields();
}

function readTagged(r: Reader, known: Record<number, (r: Reader) => void> = {}): void {
  const n = r.readUnsignedVarInt();
  for (let i = 0; i < n; i++) {
    const tag = r.readUnsignedVarInt();
    const size = r.readUnsignedVarInt();
    const h = known[tag];
    if (h) h(r);
    else r.skip(size);
  }
}

export function parseRawProduceResponse(_c: number, _k: number, _v: number, reader: Reader): RawProduceResponse {
  const responses = reader.readArray((r) => {
    const name = r.readString();
    const partitions = r.readArray(
      (r) => {
        const p: RawProducePartitionResponse = {
          index: r.readInt32(),
          errorCode: r.readInt16(),
          baseOffset: r.readInt64(),
          logStartOffset: 0n,
          recordErrors: [],
          errorMessage: null,
          currentLeader: { leaderId: -1, leaderEpoch: -1 },
        };
        r.readInt64(); // log_append_time_ms
        p.logStartOffset = r.readInt64();
        p.recordErrors = r.readArray((r) => ({ batchIndex: r.readInt32(), message: r.readNullableString() }));
        p.errorMessage = r.readNullableString();
        readTagged(r, {
          0: (r) => {
            p.currentLeader = { leaderId: r.readInt32(), leaderEpoch: r.readInt32() };
          },
        });
        return p;
      },
      true,
      false,
    );
    return { name, partitions };
  });
  const throttleTimeMs = reader.readInt32();
  readTagged(reader);
  return { responses, throttleTimeMs };
}

export const rawProduceV11 = createAPI<
  [acks: number, timeoutMs: number, topics: RawProduceTopic[]],
  RawProduceResponse
>(0, 11, createRawProduceRequest, parseRawProduceResponse);
