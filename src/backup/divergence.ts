/**
 * KIP-320, the backup's side (pure): what a leader's diverging-epoch answer means for the
 * offsets already read. Kafka's leader compares the fetch's last_fetched_epoch with its own
 * epoch history; when the log the backup read from was truncated (an unclean leader election
 * elected a replica that had not copied the newest records), it answers with the end offset of
 * that epoch on its log instead of records. Records read at or after that offset are not in the
 * partition any more, and the leader's records at those offsets are another history.
 */
import { KafkaError } from '../errors.ts';

export type Divergence =
  /** Nothing read was lost: continue from the position, fetching with the leader's epoch. */
  | { lost: false; epoch: number }
  /** Offsets [from, to) were read from a history the partition no longer has. */
  | { lost: true; from: number; to: number };

export function divergenceOf(position: number, diverging: { epoch: number; endOffset: bigint }): Divergence {
  const end = Number(diverging.endOffset);
  if (end >= position) return { lost: false, epoch: diverging.epoch };
  return { lost: true, from: Math.max(0, end), to: position };
}

/** The error a partition whose log was truncated under the backup fails with (exit 4 with the run's other topics). */
export function truncatedLogError(
  topic: string,
  partition: number,
  lost: { from: number; to: number },
  readEpoch: number,
): KafkaError {
  return new KafkaError(
    `the log of ${topic}-${partition} was truncated below what the backup had read: offsets [${lost.from}, ${lost.to}) were read under leader epoch ${readEpoch} and are no longer in the partition (an unclean leader election?); the partition's records from offset ${lost.from} on are another history, which this backup line does not mix in`,
    {
      hint: `the line keeps the records it had read (the only copy of [${lost.from}, ${lost.to}) left, restorable from its snapshots); to back up the partition's new history, use a new backup_id for the topic (docs/operations.md, "Truncated logs")`,
      code: 'LOG_TRUNCATED',
    },
  );
}
