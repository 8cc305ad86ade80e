/**
 * In-doubt appends at the start of a (resumed) restore job: records the partition leader has
 * appended (log end offset) but that are not yet committed (high watermark).
 *
 * Why: a resumed job counts the records already restored as `end - baseline`, with `end` from
 * ListOffsets, which is the high watermark. With acks=all a batch is appended to the leader's
 * log first and acknowledged once the in-sync followers have it; if the restore was killed in
 * between, the batch sits above the high watermark. A resume that skipped only up to the high
 * watermark would send those records again under a new producer id, and once the followers
 * caught up (or left the ISR) both copies would be committed: duplicates.
 *
 * So before a job reads its resume point it waits until, for each of its partitions, the high
 * watermark has reached the log end offset: every in-doubt batch is then either committed
 * (counted, skipped) or truncated by a leader change (absent, written again). The log end
 * offset is what ListOffsets answers for replica id -2 (the "debugging" replica id, for which
 * the broker applies no isolation level and reads the log end); brokers that refuse it make
 * the wait a no-op, with a warning.
 */
import { type Admin, listOffsetsV9 } from '@platformatic/kafka';
import { KafkaError } from '../errors.ts';
import { logger } from '../util/log.ts';

const log = logger('restore');
const DEBUGGING_REPLICA_ID = -2;
const CONSUMER_REPLICA_ID = -1;
const LATEST = -1n;
const IN_DOUBT_TIMEOUT = 'IN_DOUBT_TIMEOUT';

/** The wait below ran out (not worth retrying at once). */
export function isInDoubtTimeout(e: unknown): boolean {
  return e instanceof KafkaError && e.code === IN_DOUBT_TIMEOUT;
}

export interface LogEnds {
  /** High watermark: committed records (what a consumer and ListOffsets latest see). */
  highWatermark: number;
  /** Log end offset of the leader: appended, possibly not yet committed. */
  logEnd: number;
}

/** High watermark and log end offset of each partition, read from its leader. Null log end: unknown. */
export async function readLogEnds(
  admin: Admin,
  leaderOf: (partition: number) => Promise<number>,
  topic: string,
  partitions: number[],
): Promise<Map<number, { highWatermark: number; logEnd: number | null }>> {
  const byLeader = new Map<number, number[]>();
  for (const p of partitions) {
    const l = await leaderOf(p);
    byLeader.set(l, [...(byLeader.get(l) ?? []), p]);
  }
  const out = new Map<number, { highWatermark: number; logEnd: number | null }>();
  for (const [leader, ps] of byLeader) {
    const conn = (await admin.connectToBrokers([leader])).get(leader);
    if (!conn) throw new KafkaError(`no connection to broker ${leader}`, { canRetry: true });
    const req = [
      { name: topic, partitions: ps.map((p) => ({ partitionIndex: p, currentLeaderEpoch: -1, timestamp: LATEST })) },
    ];
    const [hw, leo] = await Promise.all([
      listOffsetsV9.api.async(conn, CONSUMER_REPLICA_ID, 0, req),
      listOffsetsV9.api.async(conn, DEBUGGING_REPLICA_ID, 0, req).catch((e: unknown) => e as Error),
    ]);
    for (const p of hw.topics[0]?.partitions ?? []) {
      const l =
        leo instanceof Error ? undefined : leo.topics[0]?.partitions.find((x) => x.partitionIndex === p.partitionIndex);
      out.set(p.partitionIndex, {
        highWatermark: Number(p.offset),
        logEnd: l && l.errorCode === 0 ? Number(l.offset) : null,
      });
    }
  }
  return out;
}

/**
 * Waits until no partition has appended records above its high watermark (see the header),
 * re-reading leaders between rounds. Gives up after `maxWaitMs` with an error that says how
 * many records are in doubt where.
 */
export async function waitForInDoubtAppends(
  admin: Admin,
  leaderOf: (partition: number) => Promise<number>,
  invalidate: () => void,
  topic: string,
  partitions: number[],
  maxWaitMs: number,
): Promise<void> {
  const started = Date.now();
  let warnedUnknown = false;
  for (let round = 0; ; round++) {
    const ends = await readLogEnds(admin, leaderOf, topic, partitions);
    const pending: string[] = [];
    for (const [p, e] of ends) {
      if (e.logEnd === null) {
        if (!warnedUnknown)
          log.warn('the broker does not tell the log end offset; in-doubt appends cannot be waited for', {
            topic,
            partition: p,
          });
        warnedUnknown = true;
        continue;
      }
      if (e.logEnd > e.highWatermark) pending.push(`${topic}-${p}: ${e.logEnd - e.highWatermark} records`);
    }
    if (pending.length === 0) return;
    if (Date.now() - started > maxWaitMs)
      throw new KafkaError(
        `records appended to the target but not yet replicated did not commit within ${Math.round(maxWaitMs / 1000)} s (${pending.join(', ')}); resuming now could write them twice`,
        {
          hint: 'check the in-sync replicas of the target partitions (a stopped or slow follower), then run the same command again',
          code: IN_DOUBT_TIMEOUT,
        },
      );
    if (round === 0)
      log.warn('waiting for records appended by the interrupted run to be replicated before resuming', {
        in_doubt: pending,
      });
    await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** round)));
    invalidate();
  }
}
