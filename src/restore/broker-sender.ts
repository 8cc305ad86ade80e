/**
 * Sends prepared batches to one broker, many partitions per Produce request, the way the Java
 * producer's Sender drains one batch per ready partition into each request for a node.
 *
 * Why: the broker handles the requests of one connection one at a time, so a restore that sent
 * one ~64 KB batch per request paid the broker's per-request cost (request parsing, purgatory,
 * response) once per batch, 8 to 64 times more often than ProducerPerformance does.
 *
 * Rules, each needed for idempotent producing in order:
 * - at most one batch per partition per request (the broker refuses more for magic v2);
 * - a partition's batches leave in the order they were given, so a batch that does not fit in
 *   this request holds back every later batch of its partition;
 * - requests go out in order on one connection (the broker answers them in order), at most
 *   MAX_REQUESTS_IN_FLIGHT at a time.
 * A request that fails as a whole rejects each of its batches; per-partition errors are returned
 * to the caller of that batch, which knows what they mean for its sequence.
 */
import type { Connection } from '@platformatic/kafka';
import type { RawProducePartitionResponse, RawProduceResponse, RawProduceTopic } from '../kafka/produce-raw-v11.ts';

/** Requests in flight per broker: the Java producer's max.in.flight.requests.per.connection limit for idempotence. */
export const MAX_REQUESTS_IN_FLIGHT = 5;
/** Batch bytes per request: the Java producer's max.request.size default. One larger batch still goes alone. */
export const MAX_REQUEST_BYTES = 1 << 20;

export type ProduceRequestFn = (conn: Connection, topics: RawProduceTopic[]) => Promise<RawProduceResponse>;

interface Queued {
  topic: string;
  partition: number;
  batch: Buffer;
  resolve: (r: RawProducePartitionResponse) => void;
  reject: (e: unknown) => void;
}

export interface BrokerSenderLimits {
  maxRequestsInFlight: number;
  maxRequestBytes: number;
}

export class BrokerSender {
  private readonly connect: () => Promise<Connection>;
  private readonly produce: ProduceRequestFn;
  private readonly limits: BrokerSenderLimits;
  private queue: Queued[] = [];
  private inFlight = 0;
  private flushing = false;
  /** Requests sent and batches carried, for tests and debug logs. */
  readonly stats = { requests: 0, batches: 0 };

  constructor(
    connect: () => Promise<Connection>,
    produce: ProduceRequestFn,
    limits: BrokerSenderLimits = { maxRequestsInFlight: MAX_REQUESTS_IN_FLIGHT, maxRequestBytes: MAX_REQUEST_BYTES },
  ) {
    this.connect = connect;
    this.produce = produce;
    this.limits = limits;
  }

  /** Queues one batch for topic-partition; resolves with the broker's answer for that partition. */
  send(topic: string, partition: number, batch: Buffer): Promise<RawProducePartitionResponse> {
    return new Promise<RawProducePartitionResponse>((resolve, reject) => {
      this.queue.push({ topic, partition, batch, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Flushes on the next turn of the event loop, so that the batches other partitions queue in
   * reaction to the same responses travel in the same request.
   */
  private schedule(): void {
    if (this.flushing || this.inFlight >= this.limits.maxRequestsInFlight || this.queue.length === 0) return;
    this.flushing = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    let conn: Connection;
    try {
      conn = await this.connect();
    } catch (e) {
      const failed = this.queue;
      this.queue = [];
      for (const q of failed) q.reject(e);
      this.flushing = false;
      return;
    }
    // Requests are handed to the connection synchronously, one after another: that is their order on the wire.
    while (this.inFlight < this.limits.maxRequestsInFlight && this.queue.length > 0) this.dispatch(conn, this.take());
    this.flushing = false;
    this.schedule();
  }

  /** Removes and returns the batches of the next request, at most one per partition, in queue order. */
  private take(): Queued[] {
    const picked: Queued[] = [];
    const rest: Queued[] = [];
    const held = new Set<string>();
    let bytes = 0;
    for (const q of this.queue) {
      const key = `${q.topic}\u0000${q.partition}`;
      if (held.has(key) || (picked.length > 0 && bytes + q.batch.length > this.limits.maxRequestBytes)) {
        held.add(key);
        rest.push(q);
        continue;
      }
      held.add(key);
      picked.push(q);
      bytes += q.batch.length;
    }
    this.queue = rest;
    return picked;
  }

  private dispatch(conn: Connection, items: Queued[]): void {
    const byTopic = new Map<string, RawProduceTopic>();
    for (const q of items) {
      let t = byTopic.get(q.topic);
      if (!t) {
        t = { topic: q.topic, partitions: [] };
        byTopic.set(q.topic, t);
      }
      t.partitions.push({ partition: q.partition, batches: [q.batch] });
    }
    this.inFlight++;
    this.stats.requests++;
    this.stats.batches += items.length;
    let sent: Promise<RawProduceResponse>;
    try {
      sent = this.produce(conn, [...byTopic.values()]);
    } catch (e) {
      sent = Promise.reject(e);
    }
    sent
      .then(
        (res) => {
          const answers = new Map<string, RawProducePartitionResponse>();
          for (const t of res.responses) for (const p of t.partitions) answers.set(`${t.name}\u0000${p.index}`, p);
          for (const q of items) {
            const a = answers.get(`${q.topic}\u0000${q.partition}`);
            if (a) q.resolve(a);
            else q.reject(new Error(`produce response has no answer for ${q.topic}-${q.partition}`));
          }
        },
        (e: unknown) => {
          for (const q of items) q.reject(e);
        },
      )
      .finally(() => {
        this.inFlight--;
        this.schedule();
      });
  }
}
