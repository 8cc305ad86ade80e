/**
 * The order of partitions in a fetch request.
 *
 * A broker fills a Fetch response in request order: each partition gets up to its
 * partition_max_bytes until fetch_max_bytes is used up, and the partitions after that get
 * nothing. With a fixed order, the first partitions of the list (those with large batches, or
 * just more data) took the whole response on every request and the later ones waited until
 * they were done: a snapshot finished them last, a continuous backup could starve them.
 *
 * Like Kafka's Java consumer (a partition that returned data moves to the end of the fetchable
 * list), a partition that returned records goes behind every partition that did not since; the
 * ones served longest ago, or never, lead the next request. Ties keep the caller's order.
 */
export class FetchOrder<T extends object> {
  private readonly turns = new WeakMap<T, number>();
  private clock = 0;

  /** `parts` reordered: least recently served first. */
  order(parts: readonly T[]): T[] {
    return parts
      .map((p, i) => ({ p, i, t: this.turns.get(p) ?? 0 }))
      .sort((a, b) => a.t - b.t || a.i - b.i)
      .map((x) => x.p);
  }

  /** `p` returned records in a response: it goes to the back of the next requests. */
  served(p: T): void {
    this.turns.set(p, ++this.clock);
  }
}
