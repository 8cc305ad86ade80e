/**
 * Idempotent producing of prepared batches, one writer per target partition.
 *
 * The producer id comes from InitProducerId (no transactional id); each target partition keeps
 * its own sequence. A request that fails on the network, times out or meets a leader change is
 * sent again unchanged (same producer id, epoch and sequences), so the broker drops what it
 * already appended (a duplicate counts as success). Errors that break the sequence (unknown
 * producer, fenced epoch, out of order) are raised as ResyncNeeded: the engine then re-reads the
 * target's end offset and continues from the matching source record with a new producer id.
 */
import { type Admin, initProducerIdV5 } from '@platformatic/kafka';
import { KafkaError } from '../errors.ts';
import { isRetriableKafkaError } from '../kafka/client.ts';
import type { RawProducePartitionResponse } from '../kafka/produce-raw-v11.ts';
import { retry } from '../util/retry.ts';
import type { BrokerSender } from './broker-sender.ts';

const DUPLICATE_SEQUENCE_NUMBER = 46;
const OUT_OF_ORDER_SEQUENCE = 45;
const SEQUENCE_BREAKERS = new Set([
  OUT_OF_ORDER_SEQUENCE,
  59 /* UNKNOWN_PRODUCER_ID */,
  47 /* INVALID_PRODUCER_EPOCH */,
]);
const LEADER_ERRORS = new Set([3, 5, 6, 7, 9, 19, 20, 56, 74, 75]);

export class ResyncNeeded extends Error {}

/** Longest wait for one InitProducerId answer before asking another broker. */
const INIT_ATTEMPT_MS = 3_000;

export interface ProducerIdentity {
  producerId: bigint;
  producerEpoch: number;
}

/**
 * A producer id from any broker. Retried on retriable errors: a broker that has just started
 * answers COORDINATOR_LOAD_IN_PROGRESS until it has its block of producer ids from the controller.
 */
export async function initProducerId(admin: Admin): Promise<ProducerIdentity> {
  let turn = Math.floor(Math.random() * 1024);
  return retry(
    async () => {
      const md = await admin.metadata({});
      const ids = [...md.brokers.keys()];
      // each attempt asks the next broker, and waits at most INIT_ATTEMPT_MS: a stalled broker
      // (stopped, GC, full disk) must not hold the restore for the whole request timeout
      const id = ids[turn++ % ids.length]!;
      const conns = await admin.connectToBrokers([id]);
      const conn = [...conns.values()][0]!;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new KafkaError(`InitProducerId on broker ${id} timed out`, { canRetry: true })),
          INIT_ATTEMPT_MS,
        );
      });
      try {
        const res = await Promise.race([initProducerIdV5.api.async(conn, null, 60_000), timeout]);
        return { producerId: res.producerId, producerEpoch: res.producerEpoch };
      } finally {
        clearTimeout(timer);
      }
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

/**
 * How long a batch the broker keeps refusing with a retriable error (leader moves, not enough
 * replicas) is retried when give_up_after_secs is 0: the Java producer's delivery.timeout.ms.
 */
const ANSWERED_RETRY_MS = 120_000;
/** Backoff between retries of one batch: the Java producer's retry.backoff.ms..retry.backoff.max.ms. */
const RETRY_BACKOFF_MS = 100;
const RETRY_BACKOFF_MAX_MS = 1_000;

/**
 * A failure of the request itself (not an answer from the broker): the batch may or may not
 * have been appended. Timeouts, resets, closed connections, no connection to the leader.
 * Errors that say the request never left (a bad argument, an unsupported API) are not.
 */
function inDoubt(e: unknown): boolean {
  if (e instanceof KafkaError) return e.canRetry;
  if (isRetriableKafkaError(e)) return true;
  const code = (e as { code?: unknown }).code;
  if (code === 'PLT_KFK_NETWORK' || code === 'PLT_KFK_TIMEOUT') return true; // NetworkError and TimeoutError of the client
  return /timed? ?out|ECONN|EPIPE|socket|closed|network/i.test((e as Error)?.message ?? '');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PartitionProducerOptions {
  /** Stop retrying an in-doubt batch after this long (0: retry forever); the run then fails. */
  giveUpAfterSecs?: number;
}

export class PartitionProducer {
  readonly topic: string;
  readonly partition: number;
  private readonly leaders: LeaderSource;
  private readonly id: ProducerIdentity;
  private readonly giveUpAfterMs: number;
  private sequence = 0;
  /** Settles (true: appended, false: failed for good) when the batch sent last settles. */
  private last: Promise<boolean> = Promise.resolve(true);

  constructor(
    topic: string,
    partition: number,
    id: ProducerIdentity,
    leaders: LeaderSource,
    options: PartitionProducerOptions = {},
  ) {
    this.topic = topic;
    this.partition = partition;
    this.id = id;
    this.leaders = leaders;
    this.giveUpAfterMs = (options.giveUpAfterSecs ?? 0) * 1000;
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
   * partitions) and resolves with its base offset (-1 when the broker does not say). Several
   * sends may be in flight on the same connection; the broker handles them in order.
   *
   * Why retries resend the same bytes: a request that timed out or lost its connection may
   * still be appended (it can sit in the broker's request queue, or be appended while its
   * response is lost). Sent again with the same producer id, epoch and sequence, the broker
   * recognises the second copy as a duplicate, whichever arrives first; sent as new records
   * under a new producer id it would be appended twice. So such a batch is retried here, in
   * order (after every earlier batch of the partition has settled, as the Java producer
   * re-queues in-flight batches by sequence), until it gets an answer. Only definite answers
   * that the batch was not appended and the sequence cannot continue (unknown producer id,
   * fenced epoch, out of order with nothing earlier in doubt) raise ResyncNeeded, after which
   * the engine may continue from the target log with a new producer id.
   */
  send(batch: Buffer): Promise<number> {
    const prev = this.last;
    let settled!: (ok: boolean) => void;
    this.last = new Promise<boolean>((r) => {
      settled = r;
    });
    return this.deliver(batch, prev).then(
      (offset) => {
        settled(true);
        return offset;
      },
      (e: unknown) => {
        settled(false);
        throw e;
      },
    );
  }

  private async deliver(batch: Buffer, prev: Promise<boolean>): Promise<number> {
    const started = Date.now();
    /** The last failure was the broker's answer (definite), not a lost request. */
    let answered = false;
    let prevDone = false;
    let lastReason = '';
    void prev.then(() => {
      prevDone = true;
    });
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        // retries go out in sequence order: an earlier batch of this partition first
        if (!(await prev))
          throw new ResyncNeeded(
            `an earlier batch of ${this.topic}-${this.partition} failed; this one was not appended`,
          );
        const limit = this.giveUpAfterMs > 0 ? this.giveUpAfterMs : answered ? ANSWERED_RETRY_MS : 0;
        // giving up stops the run (not a resync under a new producer id): an earlier copy may still be appended
        if (limit > 0 && Date.now() - started > limit)
          throw new KafkaError(
            `producing to ${this.topic}-${this.partition} failed for ${Math.round((Date.now() - started) / 1000)} s (${lastReason})`,
            { hint: 'check the target cluster; run the same command again: the restore resumes from the target log' },
          );
        await sleep(Math.min(RETRY_BACKOFF_MAX_MS, RETRY_BACKOFF_MS * 2 ** (attempt - 1)));
      }
      const earlierPending = !prevDone;
      let p: RawProducePartitionResponse;
      try {
        const leader = await this.leaders.leaderOf(this.topic, this.partition);
        p = await this.leaders.senderFor(leader).send(this.topic, this.partition, batch);
      } catch (e) {
        if (!inDoubt(e)) throw e;
        this.leaders.invalidate();
        answered = false;
        lastReason = (e as Error).message;
        continue;
      }
      answered = true;
      lastReason = `Kafka error ${p.errorCode}`;
      if (p.errorCode === 0 || p.errorCode === DUPLICATE_SEQUENCE_NUMBER) return Number(p.baseOffset);
      if (LEADER_ERRORS.has(p.errorCode)) {
        this.leaders.invalidate();
        continue;
      }
      // out of order while an earlier batch was still unanswered: that one goes first, then this one again
      if (p.errorCode === OUT_OF_ORDER_SEQUENCE && earlierPending) continue;
      if (SEQUENCE_BREAKERS.has(p.errorCode))
        throw new ResyncNeeded(`producer sequence lost (Kafka error ${p.errorCode})`);
      throw produceError(this.topic, this.partition, p.errorCode, p.errorMessage ?? p.recordErrors[0]?.message ?? null);
    }
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
