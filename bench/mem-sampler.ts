/**
 * Where a process's memory goes at its peak: loaded with `node --import bench/mem-sampler.ts`
 * (or NODE_OPTIONS), it samples process.memoryUsage() every 10 ms and, at exit, writes the
 * sample with the highest RSS and the highest value of each part to KB_MEM_SAMPLE_FILE (JSON).
 * RSS − (heap committed + array buffers) is what neither the JS heap nor Buffers explain:
 * the runtime itself, native modules, WASM memories, code and stacks.
 */
import { writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

const file = process.env['KB_MEM_SAMPLE_FILE'];
if (file) {
  const MiB = 1024 * 1024;
  const mib = (n: number) => Math.round((n / MiB) * 10) / 10;
  let atPeak = process.memoryUsage();
  let spacesAtPeak = getHeapSpaceStatistics();
  const max = { ...atPeak };
  const sample = () => {
    const m = process.memoryUsage();
    if (m.rss > atPeak.rss) {
      atPeak = m;
      spacesAtPeak = getHeapSpaceStatistics();
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
      JSON.stringify({ at_peak_rss: part(atPeak), max_of_each: part(max), heap_spaces_at_peak: spaces }),
    );
  });
}
