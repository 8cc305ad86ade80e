/**
 * Where a process's memory goes at its peak: loaded with `node --import bench/mem-sampler.ts`
 * (or NODE_OPTIONS), it samples process.memoryUsage() every 10 ms and, at exit, writes the
 * sample with the highest RSS and the highest value of each part to KB_MEM_SAMPLE_FILE (JSON).
 * RSS − (heap committed + array buffers) is what neither the JS heap nor Buffers explain:
 * the runtime itself, native modules, WASM memories, code and stacks.
 *
 * At each new peak (2 MiB above the last) it also reads /proc/self/smaps and sums the resident
 * memory by kind of mapping (`smaps_at_peak`): glibc's main heap (`[heap]`, the brk area: the
 * Buffers below malloc's mmap threshold, and what malloc keeps after they are freed), its
 * per-thread arenas (64 MiB-aligned anonymous regions: libuv's thread pool, V8's threads), other
 * anonymous mappings (V8's heap pages, mmapped Buffers) and file-backed pages (the binary and
 * libraries). Linux only; elsewhere the field is absent.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

const file = process.env['KB_MEM_SAMPLE_FILE'];
if (file) {
  const MiB = 1024 * 1024;
  const mib = (n: number) => Math.round((n / MiB) * 10) / 10;
  let atPeak = process.memoryUsage();
  let spacesAtPeak = getHeapSpaceStatistics();
  let smapsAtPeak: Record<string, number> | undefined;
  let smapsPeakRss = 0;
  const max = { ...atPeak };
  const sample = () => {
    const m = process.memoryUsage();
    if (m.rss > atPeak.rss) {
      atPeak = m;
      spacesAtPeak = getHeapSpaceStatistics();
      if (m.rss > smapsPeakRss + 2 * MiB) {
        smapsPeakRss = m.rss;
        smapsAtPeak = residentByMapping(mib);
      }
    }
    for (const k of Object.keys(max) as (keyof NodeJS.MemoryUsage)[]) max[k] = Math.max(max[k], m[k]);
  };
  setInterval(sample, 10).unref();
  process.on('exit', () => {
    sample();
    const part = (m: NodeJS.MemoryUsage) => ({
      rss_mib: mib(m.rss),
      heap_total_mib: mib(m.heapTotal),
      heap_used_mib: mib(m.heapUsed),
      external_mib: mib(m.external),
      array_buffers_mib: mib(m.arrayBuffers),
      unexplained_mib: mib(m.rss - m.heapTotal - m.arrayBuffers),
    });
    const spaces = Object.fromEntries(
      spacesAtPeak.map((s) => [s.space_name, { size_mib: mib(s.space_size), used_mib: mib(s.space_used_size) }]),
    );
    writeFileSync(
      file,
      JSON.stringify({
        at_peak_rss: part(atPeak),
        max_of_each: part(max),
        heap_spaces_at_peak: spaces,
        ...(smapsAtPeak ? { smaps_at_peak: smapsAtPeak } : {}),
      }),
    );
  });
}

/** Resident MiB of /proc/self/smaps by kind of mapping; undefined where there is no procfs. */
function residentByMapping(mib: (n: number) => number): Record<string, number> | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return undefined;
  }
  const kib: Record<string, number> = {};
  let kind = '';
  const ARENA = 64n << 20n; // glibc's HEAP_MAX_SIZE on 64-bit: thread arenas are aligned to it
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (m) {
      const start = BigInt(`0x${m[1]}`);
      const size = BigInt(`0x${m[2]}`) - start;
      const name = m[3] ?? '';
      if (name === '[heap]') kind = 'malloc_main_heap_mib';
      else if (name.startsWith('/')) kind = 'file_backed_mib';
      else if (name !== '') kind = 'other_mib';
      else if (start % ARENA === 0n && size <= ARENA) kind = 'malloc_thread_arenas_mib';
      else kind = 'other_anonymous_mib';
      kib[kind] ??= 0;
    } else if (kind && line.startsWith('Rss:')) kib[kind]! += Number(line.slice(4).trim().split(' ')[0]);
  }
  return Object.fromEntries(Object.entries(kib).map(([k, v]) => [k, mib(v * 1024)]));
}
