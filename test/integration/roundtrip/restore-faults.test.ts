/**
 * Restore exactly-once under faults (issue 14 item 3), against the real broker.
 *
 * The restore runs in this process so a fault can be injected at the connection layer: the
 * Produce API function (rawProduceV11.async) and InitProducerId are wrapped, every Produce
 * request's producer id, epoch and base sequence per partition is recorded, and one request is
 * made to fail the way a network does. The target is then read with Kafka's Java consumer and
 * must hold every source record exactly once.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { initProducerIdV5, TimeoutError } from '@platformatic/kafka';
import { type RawProduceResponse, type RawProduceTopic, rawProduceV11 } from '../../../src/kafka/produce-raw-v11.ts';
import { runRestore } from '../../../src/restore/engine.ts';
import { type RestoreOptions, restoreDefaults } from '../../../src/restore/options.ts';
import { openStorage } from '../../../src/storage/open.ts';
import { cli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, deleteTopics, KAFKA_BOOTSTRAP, uniqueTopic } from '../../helpers/kafka.ts';
import { type DumpedRecord, dumpTopic, produceSpec, type SpecLine } from '../../helpers/peers.ts';

const view = (r: DumpedRecord) => `${r.partition}|${r.timestamp}|${r.key}|${r.value}|${JSON.stringify(r.headers)}`;

/** What one batch of a Produce request carried (v2 batch header fields). */
interface SentBatch {
  call: number;
  partition: number;
  producerId: bigint;
  epoch: number;
  baseSequence: number;
  records: number;
}

function batchesOf(call: number, topics: RawProduceTopic[]): SentBatch[] {
  return topics.flatMap((t) =>
    t.partitions.flatMap((p) =>
      p.batches.map((b) => ({
        call,
        partition: p.partition,
        producerId: b.readBigInt64BE(43),
        epoch: b.readInt16BE(51),
        baseSequence: b.readInt32BE(53),
        records: b.readInt32BE(57),
      })),
    ),
  );
}

/** A batch sent again with the same producer id and epoch but a lower sequence than that identity already used. */
function sequenceResets(sent: SentBatch[]): string[] {
  const highest = new Map<string, number>();
  const out: string[] = [];
  for (const b of sent) {
    const k = `${b.partition}/${b.producerId}/${b.epoch}`;
    const h = highest.get(k);
    if (h !== undefined && b.baseSequence === 0 && h > 0)
      out.push(`call ${b.call}: partition ${b.partition} pid ${b.producerId} epoch ${b.epoch} restarted at sequence 0`);
    highest.set(k, Math.max(h ?? -1, b.baseSequence));
  }
  return out;
}

type ProduceFn = typeof rawProduceV11.async;
const realProduce: ProduceFn = rawProduceV11.async;
const realInit = initProducerIdV5.api.async;

describe('restore exactly-once under produce faults', { timeout: 300_000 }, () => {
  let topic: string;
  let dir: string;
  let source: DumpedRecord[];
  const targets: string[] = [];

  before(async () => {
    topic = await createTopic(uniqueTopic('rfault'), { partitions: 1 });
    // 20 batches of 50 records (a flush ends each batch)
    const spec: SpecLine[] = [];
    for (let i = 0; i < 1000; i++) {
      spec.push({ partition: 0, key: `k${i}`, value: `value-${i}`, timestamp: 1_700_000_000_000 + i });
      if (i % 50 === 49) spec.push({ flush: true });
    }
    await produceSpec(topic, spec);
    source = await dumpTopic(topic);
    assert.equal(source.length, 1000);
    dir = tempDir('rfault');
    const config = writeConfig(dir, 'backup.yaml', {
      backup_id: 'rfault',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
    });
    const b = await cli(['backup', '-c', config]);
    assert.equal(b.code, 0, b.stderr);
  });

  after(async () => {
    rawProduceV11.async = realProduce;
    initProducerIdV5.api.async = realInit;
    await deleteTopics(targets).catch(() => undefined);
  });

  async function restoreTo(target: string): Promise<void> {
    targets.push(target);
    const storage = await openStorage({ backend: 'filesystem', path: join(dir, 'backups') });
    const o: RestoreOptions = {
      ...restoreDefaults,
      backupId: 'rfault',
      storage,
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      topics: { include: [topic] },
      topicMapping: { [topic]: target },
      giveUpAfterSecs: 60,
    };
    try {
      await runRestore(o);
    } finally {
      await storage.close();
    }
  }

  test('a produce that times out after reaching the broker is retried with the same producer id, epoch and sequence', async () => {
    const target = `${topic}-timeout`;
    const sent: SentBatch[] = [];
    let calls = 0;
    let held: { batch: SentBatch; send: () => Promise<RawProduceResponse> } | null = null;
    let heldDone = false;
    let gate: Promise<void> = Promise.resolve();
    // Call 3 is held back: the client sees a timeout, the broker gets the request later (as when
    // it sat in the broker's request queue). It arrives just before the first request that
    // carries its records again: the same identity and sequence (a correct retry) or another
    // producer id (a resend as new records).
    rawProduceV11.async = (async (conn, acks, timeout, topics) => {
      const call = calls++;
      const batches = batchesOf(call, topics);
      sent.push(...batches);
      if (call === 3) {
        held = { batch: batches[0]!, send: () => realProduce(conn, acks, timeout, topics) };
        throw new TimeoutError('Request timed out (injected)');
      }
      if (held && !heldDone) {
        const h = held as { batch: SentBatch; send: () => Promise<RawProduceResponse> };
        const again = batches.find(
          (b) =>
            b.producerId !== h.batch.producerId ||
            (b.epoch === h.batch.epoch && b.baseSequence === h.batch.baseSequence),
        );
        if (again) {
          heldDone = true;
          gate = h.send().then(() => undefined);
        }
      }
      // requests wait for the held one, in their order, so the wire order stays the engine's
      await gate;
      return realProduce(conn, acks, timeout, topics);
    }) as ProduceFn;
    try {
      await restoreTo(target);
    } finally {
      rawProduceV11.async = realProduce;
    }
    assert.ok(held, 'the fault was injected');
    const restored = await dumpTopic(target);
    assert.deepEqual(restored.map(view), source.map(view), 'every record exactly once (Java consumer)');
    const h = held as { batch: SentBatch };
    const retry = sent.find((b) => b.call > 3 && b.baseSequence === h.batch.baseSequence);
    const resentAs = sent.filter((b) => b.call > 3 && b.producerId !== h.batch.producerId);
    assert.deepEqual(
      resentAs.map((b) => `call ${b.call}: pid ${b.producerId} seq ${b.baseSequence}`),
      [],
      'no batch re-sent under a new producer id',
    );
    assert.ok(retry, 'the timed-out batch was sent again');
    assert.deepEqual(
      { pid: retry.producerId, epoch: retry.epoch, seq: retry.baseSequence, records: retry.records },
      { pid: h.batch.producerId, epoch: h.batch.epoch, seq: h.batch.baseSequence, records: h.batch.records },
      'the retry carries the same producer id, epoch and sequence',
    );
  });

  test('a failed InitProducerId never makes the restore reuse its old identity with sequences from 0', async () => {
    const target = `${topic}-initfail`;
    const sent: SentBatch[] = [];
    let calls = 0;
    let inits = 0;
    // Call 4 is answered UNKNOWN_PRODUCER_ID without reaching the broker (a definite "not
    // appended" that needs a new producer id); the next InitProducerId fails once.
    rawProduceV11.async = (async (conn, acks, timeout, topics) => {
      const call = calls++;
      sent.push(...batchesOf(call, topics));
      if (call === 4)
        return {
          throttleTimeMs: 0,
          responses: topics.map((t) => ({
            name: t.topic,
            partitions: t.partitions.map((p) => ({
              index: p.partition,
              errorCode: 59,
              baseOffset: -1n,
              logStartOffset: -1n,
              recordErrors: [],
              errorMessage: 'injected',
              currentLeader: { leaderId: -1, leaderEpoch: -1 },
            })),
          })),
        };
      return realProduce(conn, acks, timeout, topics);
    }) as ProduceFn;
    initProducerIdV5.api.async = (async (...args: Parameters<typeof realInit>) => {
      if (inits++ === 1) throw new TimeoutError('InitProducerId timed out (injected)');
      return realInit(...args);
    }) as typeof realInit;
    try {
      await restoreTo(target);
    } finally {
      rawProduceV11.async = realProduce;
      initProducerIdV5.api.async = realInit;
    }
    const restored = await dumpTopic(target);
    assert.deepEqual(restored.map(view), source.map(view), 'every record exactly once (Java consumer)');
    assert.deepEqual(sequenceResets(sent), [], 'no identity restarts its sequence on a partition it wrote');
    assert.ok(inits >= 3, `InitProducerId was retried (${inits} calls)`);
  });
});
