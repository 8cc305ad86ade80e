/**
 * Idempotent producing of prepared batches, one writer per target partition.
 *
 * The producer id comes from InitProducerId (no transactional id); each target partition keeps
 * its own sequence. A request that fails on the network or times out is sent again unchanged
 * (same producer id, epoch and sequences), so the broker drops what it already appended
 * (DUPLICATE_SEQUENCE_NUMBER counts as success). Errors that break the sequence (unknown
 * producer, out of order) are raised as ResyncNeeded: the engine then re-reads the target's end
 * offset and continues from the matching source record with a new producer id.
 */
import { type Admin, initProducerIdV5 } from '@platformatic/kafka';
import { KafkaError } from '../errors.ts';
import { isRetriableKafkaError } from '../kafka/client.ts';
import type { RawProducePartitionResponse } from '../kafka/produce-raw-v11.ts';
import { retry } from '../util/retry.ts';
import type { BrokerSender } from './broker-sender.ts';

const DUPLICATE_SEQUENCE_NUMBER = 46;
const SEQUENCE_BREAKERS = new Set([
  45 /* OUT_OF_ORDER_SEQUENCE */, 59 /* UNKNOWN_PRODUCER_ID */, 47 /* INVALID_PRODUCER_EPOCH */,
]);
const LEADER_ERRORS = new Set([3, 5, 6, 7, 9, 19, 20, 56, 74, 75]);

export class ResyncNeeded extends Error {}

export interface ProducerIdentity {
  producerId: bigint;
  producerEpoch: number;
}

/**
 * A producer id from any broker. Retried on retriable errors: a broker that has just started
 * answers COORDINATOR_LOAD_IN_PROGRESS until it has its block of producer ids from the controller.
 */
export async function initProducerId(admin: Admin): Promise<ProducerIdentity> {
  return retry(
    async () => {
      const md = await admin.metadata({});
      const ids = [...md.brokers.keys()];
      const conns = await admin.connectToBrokers([ids[Math.floor(Math.random() * ids.length)]!]);
      const conn = [...conns.values()][0]!;
      const res = await initProducerIdV5.api.async(conn, null, 60_000);
      return { producerId: res.producerId, producerEpoch: res.producerEpoch };
    },
    { maxRetries: 12, initialDelayMs: 250, maxDelayMs: 4_000, isRetryable: isRetriableKafkaError },
  );
}

export interface LeaderSource {
  leaderOf(topic: string, partition: number): Promise<number>;
  invalidate(): void;
  /** The sender that batches produce requests to this broker. */
  senderFor(brokerId: number): BrokerSender;
  admin: Admin;
}

export class PartitionProducer {
  readonly topic: string;
  readonly partition: number;
  private readonly leaders: LeaderSource;
  private readonly id: ProducerIdentity;
  private sequence = 0;

  constructor(topic: string, partition: number, id: ProducerIdentity, leaders: LeaderSource) {
    this.topic = topic;
    this.partition = partition;
    this.id = id;
    this.leaders = leaders;
  }

  get identity(): ProducerIdentity {
    return this.id;
  }

  /** Sequence the next batch must carry. */
  get nextSequence(): number {
    return this.sequence;
  }

  /** Reserves sequence numbers for a batch of `count` records and returns its base sequence. */
  reserve(count: number): number {
    const base = this.sequence;
    this.sequence = (this.sequence + count) % 2 ** 31;
    return base;
  }

  /**
   * Sends one batch (through the leader's BrokerSender, which shares requests with other
   * partitions) and resolves with its base offset. Several sends may be in flight on the same
   * connection; the broker handles them in order. Any failure that may have left the sequence
   * unknown raises ResyncNeeded: the engine then continues from the target log.
   */
  async send(batch: Buffer): Promise<number> {
    let p: RawProducePartitionResponse;
    try {
      const leader = await this.leaders.leaderOf(this.topic, this.partition);
      p = await this.leaders.senderFor(leader).send(this.topic, this.partition, batch);
    } catch (e) {
      if (e instanceof KafkaError && !e.canRetry) throw e;
      this.leaders.invalidate();
      throw new ResyncNeeded(`producing to ${this.topic}-${this.partition} failed: ${(e as Error).message}`);
    }
    if (p.errorCode === 0 || p.errorCode === DUPLICATE_SEQUENCE_NUMBER) return Number(p.baseOffset);
    if (SEQUENCE_BREAKERS.has(p.errorCode))
      throw new ResyncNeeded(`producer sequence lost (Kafka error ${p.errorCode})`);
    if (LEADER_ERRORS.has(p.errorCode)) {
      this.leaders.invalidate();
      throw new ResyncNeeded(`leader of ${this.topic}-${this.partition} moved (Kafka error ${p.errorCode})`);
    }
    throw produceError(this.topic, this.partition, p.errorCode, p.errorMessage ?? p.recordErrors[0]?.message ?? null);
  }
}

function produceError(topic: string, partition: number, code: number, message: string | null): KafkaError {
  const detail = message ? `: ${message}` : '';
  switch (code) {
    case 10:
    case 18:
      return new KafkaError(`a batch is too large for ${topic}-${partition} (Kafka error ${code})${detail}`, {
        hint: `raise max.message.bytes on topic ${topic} (restore.topic_configs) and message.max.bytes on the brokers`,
      });
    case 29:
      return new KafkaError(`not authorized to write to topic ${topic}${detail}`, {
        hint: 'grant this principal Write (and IdempotentWrite on the cluster) ACLs',
      });
    case 87:
      return new KafkaError(`the broker refused records of ${topic}-${partition} as invalid${detail}`, {
        hint: 'check the topic timestamp settings (message.timestamp.*.max.ms) against the backup time range',
      });
    default:
      return new KafkaError(`producing to ${topic}-${partition} failed with Kafka error ${code}${detail}`);
  }
}
