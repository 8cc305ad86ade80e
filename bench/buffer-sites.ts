/**
 * Which code holds the Buffers when a process's Buffers peak: loaded with
 * `node --import bench/buffer-sites.ts` (or `--node-options "--import bench/buffer-sites.ts"` of
 * bench/object-stores.ts), it wraps Buffer.alloc/allocUnsafe/allocUnsafeSlow/concat/from, counts
 * the bytes of every backing store of 64 KiB or more by the three stack frames that allocated it,
 * and subtracts them when V8 collects the store (FinalizationRegistry). Every 10 ms it compares
 * process.memoryUsage().arrayBuffers with the highest seen; at exit it writes the census taken at
 * that peak to KB_BUFFER_SITES_FILE (text, MiB per site, largest first).
 *
 * A count is "allocated and not yet collected": garbage waiting for the GC is included, as it is
 * in RSS. Buffers made in C++ (socket reads, zlib's output slices) do not pass through these
 * functions: the difference between the peak and the sum of the sites is theirs. Capturing a
 * stack per large allocation slows the process a little; do not quote its times.
 */
import { writeFileSync } from 'node:fs';

const file = process.env['KB_BUFFER_SITES_FILE'];
if (file) {
  const MIN_BYTES = 64 * 1024;
  const MiB = 1024 * 1024;
  const live = new Map<string, number>();
  const counted = new WeakSet<ArrayBufferLike>();
  const collected = new FinalizationRegistry<{ site: string; bytes: number }>(({ site, bytes }) =>
    live.set(site, (live.get(site) ?? 0) - bytes),
  );
  const siteOf = (): string =>
    (new Error().stack ?? '')
      .split('\n')
      .slice(4, 7)
      .map((l) => l.trim().replace(/^at /, ''))
      .join(' < ');
  const track = (buf: unknown, name: string): void => {
    if (!(buf instanceof Uint8Array)) return;
    const store = buf.buffer;
    if (store.byteLength < MIN_BYTES || counted.has(store)) return;
    counted.add(store);
    const site = `Buffer.${name} ${siteOf()}`;
    live.set(site, (live.get(site) ?? 0) + store.byteLength);
    collected.register(store, { site, bytes: store.byteLength });
  };
  const B = Buffer as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow', 'concat', 'from']) {
    const original = B[name]!;
    B[name] = function (this: unknown, ...args: unknown[]) {
      const buf = original.apply(this, args);
      track(buf, name);
      return buf;
    };
  }
  let peak = 0;
  let census: [string, number][] = [];
  setInterval(() => {
    const ab = process.memoryUsage().arrayBuffers;
    if (ab <= peak) return;
    peak = ab;
    census = [...live].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  }, 10).unref();
  process.on('exit', () => {
    const mib = (n: number) => (n / MiB).toFixed(1);
    const sum = census.reduce((s, [, n]) => s + n, 0);
    const lines = [
      `arrayBuffers at peak ${mib(peak)} MiB; by site ${mib(sum)} MiB; not through these functions ${mib(peak - sum)} MiB`,
      ...census.slice(0, 15).map(([site, n]) => `${mib(n)}\t${site}`),
    ];
    writeFileSync(file, `${lines.join('\n')}\n`);
  });
}
