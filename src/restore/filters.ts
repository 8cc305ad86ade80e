/**
 * Which stored records a restore produces (pure logic).
 *
 *  - offset range: [from, to) per source partition (snapshot end, offset_window);
 *  - point_in_time: per partition, the prefix before the first record whose timestamp is later
 *    than the point in time (the running maximum passes it there); a record exactly at the
 *    point in time is kept. Later records are not produced even if their timestamp is earlier;
 *  - time window: a filter, start <= timestamp < end, record by record.
 * LogAppendTime records are judged by their append time (the batch's max timestamp).
 */
import { type BatchHeader, isLogAppendTime, lastOffsetOf } from '../format/batch.ts';
import type { KafkaRecord } from '../format/records.ts';

export interface SelectionRules {
  from: number;
  to: number;
  pointInTime?: number | undefined;
  windowStart?: number | undefined;
  windowEnd?: number | undefined;
}

export class RecordSelector {
  readonly rules: SelectionRules;
  /** Set once point_in_time was passed: nothing more is selected from this partition. */
  stopped = false;

  constructor(rules: SelectionRules) {
    this.rules = rules;
  }

  /** 'all' when every record of the batch is selected without looking at them, 'none' when none is, else 'some'. */
  judgeBatch(h: BatchHeader, block?: { firstOffset: number; lastOffset: number }): 'all' | 'none' | 'some' {
    const r = this.rules;
    if (this.stopped) return 'none';
    const base = Number(h.baseOffset);
    const last = Number(lastOffsetOf(h));
    const from = block ? Math.max(r.from, block.firstOffset) : r.from;
    const to = block ? Math.min(r.to, block.lastOffset + 1) : r.to;
    if (last < from || base >= to) return 'none';
    if (base < from || last >= to) return 'some';
    if (r.windowStart !== undefined || r.windowEnd !== undefined) {
      if (isLogAppendTime(h)) {
        const ts = Number(h.maxTimestamp);
        const inside =
          (r.windowStart === undefined || ts >= r.windowStart) && (r.windowEnd === undefined || ts < r.windowEnd);
        if (!inside) return 'none';
      } else return 'some';
    }
    if (r.pointInTime !== undefined && Number(h.maxTimestamp) > r.pointInTime) return 'some';
    return 'all';
  }

  /** Record-level decision, in offset order. */
  accept(rec: KafkaRecord, block?: { firstOffset: number; lastOffset: number }): boolean {
    const r = this.rules;
    if (this.stopped) return false;
    if (rec.offset < r.from || rec.offset >= r.to) return false;
    if (block && (rec.offset < block.firstOffset || rec.offset > block.lastOffset)) return false;
    if (r.pointInTime !== undefined && rec.timestamp > r.pointInTime) {
      this.stopped = true;
      return false;
    }
    if (r.windowStart !== undefined && rec.timestamp < r.windowStart) return false;
    if (r.windowEnd !== undefined && rec.timestamp >= r.windowEnd) return false;
    return true;
  }
}
