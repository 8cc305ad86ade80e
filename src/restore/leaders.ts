/**
 * Partition leaders of the target cluster, and one BrokerSender per broker (produce requests
 * shared by the partitions it leads). Leaders are looked up once and again after `invalidate`.
 */
import type { Admin, Connection } from '@platformatic/kafka';
import { KafkaError } from '../errors.ts';
import { describeTopics, pkey } from '../kafka/admin-helpers.ts';
import { rawProduceV11 } from '../kafka/produce-raw-v11.ts';
import { BrokerSender } from './broker-sender.ts';
import type { LeaderSource } from './producer.ts';

/** How long the broker may wait for acks=all before answering a Produce request. */
const PRODUCE_TIMEOUT_MS = 30_000;

export class Leaders implements LeaderSource {
  readonly admin: Admin;
  private map = new Map<string, number>();
  private refreshing: Promise<void> | null = null;
  private readonly senders = new Map<number, BrokerSender>();
  constructor(admin: Admin) {
    this.admin = admin;
  }
  /** Produce requests sent and the batches they carried (batches per request shows how well they share). */
  requestStats(): { produce_requests: number; produce_batches: number } {
    let produce_requests = 0;
    let produce_batches = 0;
    for (const s of this.senders.values()) {
      produce_requests += s.stats.requests;
      produce_batches += s.stats.batches;
    }
    return { produce_requests, produce_batches };
  }
  senderFor(brokerId: number): BrokerSender {
    let s = this.senders.get(brokerId);
    if (!s) {
      const connect = async (): Promise<Connection> => {
        const conn = (await this.admin.connectToBrokers([brokerId])).get(brokerId);
        if (!conn) throw new KafkaError(`no connection to broker ${brokerId}`, { canRetry: true });
        return conn;
      };
      s = new BrokerSender(connect, (conn, topics) => rawProduceV11.async(conn, -1, PRODUCE_TIMEOUT_MS, topics));
      this.senders.set(brokerId, s);
    }
    return s;
  }
  async leaderOf(topic: string, partition: number): Promise<number> {
    let l = this.map.get(pkey(topic, partition));
    if (l === undefined || l < 0) {
      await this.refresh([topic]);
      l = this.map.get(pkey(topic, partition));
    }
    if (l === undefined || l < 0) throw new KafkaError(`no leader for ${topic}-${partition}`, { canRetry: true });
    return l;
  }
  invalidate(): void {
    this.map.clear();
  }
  private async refresh(topics: string[]): Promise<void> {
    this.refreshing ??= describeTopics(this.admin, topics, true)
      .then((d) => {
        for (const t of d.values()) for (const p of t.partitions) this.map.set(pkey(t.name, p.partition), p.leader);
      })
      .finally(() => {
        this.refreshing = null;
      });
    await this.refreshing;
  }
}
