/**
 * The global memory budget. Buffers that grow with concurrency are estimated from the config and
 * compared with max_memory_bytes before anything starts, so a config that would exhaust the heap
 * is refused with the settings to lower instead of crashing mid-run:
 *
 *   partitions × 2 × backup.max_batch_bytes      (a block being filled and one being written, per partition)
 * + backup.fetch_max_bytes                       (one fetch response in flight; backup only)
 * + backup.max_concurrent_partitions × storage.buffer_size
 *                                                (backup to an object store: each open data file owns one
 *                                                 upload part buffer, which is also what the SDK sends;
 *                                                 src/storage/part-writer.ts. The filesystem writes through.)
 * + 128 MiB                                      (runtime baseline: Node, the Kafka client and one storage
 *                                                 SDK, connected; see RUNTIME_BASELINE_BYTES)
 *
 * where partitions is backup.max_concurrent_partitions for a backup and
 * restore.max_concurrent_partitions for a restore. Uploads in flight are bounded by the open
 * files (a writer waits for its part), so storage.max_concurrent_requests adds no term.
 */
import { ConfigError } from '../errors.ts';
import { type Config, MiB, STORAGE_DEFAULTS } from './schema.ts';

/**
 * Node, the Kafka client and one storage SDK, connected: a backup of 1 MiB peaks at 136 MiB of
 * RSS on local disk and 145–151 MiB on the object stores (bench/object-stores.ts, 2026-12-02),
 * its own few buffers and not yet collected garbage included.
 */
export const RUNTIME_BASELINE_BYTES = 128 * MiB;

export type MemoryOperation = 'backup' | 'restore';

export interface MemoryTerm {
  /** What the term is for. */
  label: string;
  /** The config keys the term is computed from (empty for the fixed baseline). */
  keys: string[];
  /** e.g. `backup.max_concurrent_partitions × 2 × backup.max_batch_bytes` */
  formula: string;
  /** e.g. `16 × 2 × 1048576` */
  values: string;
  bytes: number;
}

export interface MemoryEstimate {
  operation: MemoryOperation;
  terms: MemoryTerm[];
  totalBytes: number;
  limitBytes: number;
  fits: boolean;
}

/** "256 MiB", "1.5 GiB", "900 KiB", "12 B". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const text = Number.isInteger(v) ? String(v) : v.toFixed(1).replace(/\.0$/, '');
  return `${text} ${units[u]}`;
}

/** The estimate for one operation, term by term. */
export function estimateMemory(config: Config, operation: MemoryOperation = 'backup'): MemoryEstimate {
  const partitions =
    operation === 'backup' ? config.backup.max_concurrent_partitions : config.restore.max_concurrent_partitions;
  const partitionsKey = `${operation}.max_concurrent_partitions`;
  const batch = config.backup.max_batch_bytes;
  const fetch = config.backup.fetch_max_bytes;
  const buffer = config.storage?.buffer_size ?? STORAGE_DEFAULTS.buffer_size;
  const objectStore = config.storage !== undefined && config.storage.backend !== 'filesystem';
  const terms: MemoryTerm[] = [
    {
      label: 'record blocks (two per partition)',
      keys: [partitionsKey, 'backup.max_batch_bytes'],
      formula: `${partitionsKey} × 2 × backup.max_batch_bytes`,
      values: `${partitions} × 2 × ${batch}`,
      bytes: partitions * 2 * batch,
    },
  ];
  if (operation === 'backup') {
    terms.push({
      label: 'fetch response in flight',
      keys: ['backup.fetch_max_bytes'],
      formula: 'backup.fetch_max_bytes',
      values: String(fetch),
      bytes: fetch,
    });
    if (objectStore)
      terms.push({
        label: 'upload part buffers (one per open data file)',
        keys: [partitionsKey, 'storage.buffer_size'],
        formula: `${partitionsKey} × storage.buffer_size`,
        values: `${partitions} × ${buffer}`,
        bytes: partitions * buffer,
      });
  }
  terms.push({
    label: 'runtime baseline',
    keys: [],
    formula: 'runtime baseline',
    values: String(RUNTIME_BASELINE_BYTES),
    bytes: RUNTIME_BASELINE_BYTES,
  });
  const totalBytes = terms.reduce((sum, t) => sum + t.bytes, 0);
  return {
    operation,
    terms,
    totalBytes,
    limitBytes: config.max_memory_bytes,
    fits: totalBytes <= config.max_memory_bytes,
  };
}

/** One line per term: `backup.fetch_max_bytes = 16777216 = 16 MiB`. */
export function describeTerm(term: MemoryTerm): string {
  if (term.keys.length === 0) return `${term.formula} = ${formatBytes(term.bytes)}`;
  const plain = term.values === String(term.bytes) ? term.values : `${term.values} = ${term.bytes}`;
  return `${term.formula} = ${plain} = ${formatBytes(term.bytes)}`;
}

/** Throws ConfigError when the estimate for any of `operations` exceeds max_memory_bytes. */
export function checkMemoryBudget(config: Config, operations: MemoryOperation[] = ['backup', 'restore']): void {
  const over = operations.map((op) => estimateMemory(config, op)).filter((e) => !e.fits);
  if (over.length === 0) return;
  const limit = `max_memory_bytes (${config.max_memory_bytes} = ${formatBytes(config.max_memory_bytes)})`;
  const message = `estimated memory ${over
    .map((e) => `for ${e.operation} is ${formatBytes(e.totalBytes)}`)
    .join(' and ')}, above ${limit}`;
  const problems: string[] = [];
  for (const e of over) {
    const prefix = over.length > 1 ? `${e.operation}: ` : '';
    for (const t of e.terms) problems.push(prefix + describeTerm(t));
    problems.push(`${prefix}total = ${e.totalBytes} = ${formatBytes(e.totalBytes)}`);
  }
  const keys = [
    ...new Set(
      over
        .flatMap((e) => e.terms)
        .sort((a, b) => b.bytes - a.bytes)
        .flatMap((t) => t.keys),
    ),
  ];
  throw new ConfigError(message, problems, {
    hint: `lower ${keys.join(', ')} (largest terms first), or raise max_memory_bytes if the machine has the memory`,
    code: 'CONFIG_MEMORY_BUDGET',
  });
}
