/**
 * The global memory budget. Buffers that grow with concurrency are estimated from the config and
 * compared with max_memory_bytes before anything starts, so a config that would exhaust the heap
 * is refused with the settings to lower instead of crashing mid-run:
 *
 *   partitions × 2 × backup.max_batch_bytes      (a block being filled and one being written, per partition)
 * + backup.fetch_max_bytes                       (one fetch response in flight)
 * + storage.max_concurrent_requests × storage.buffer_size   (upload parts in flight)
 * + 48 MiB                                       (runtime baseline)
 *
 * where partitions is backup.max_concurrent_partitions for a backup and
 * restore.max_concurrent_partitions for a restore.
 */
import { ConfigError } from '../errors.ts';
import { type Config, MiB, STORAGE_DEFAULTS } from './schema.ts';

export const RUNTIME_BASELINE_BYTES = 48 * MiB;

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
  const requests = config.storage?.max_concurrent_requests ?? STORAGE_DEFAULTS.max_concurrent_requests;
  const buffer = config.storage?.buffer_size ?? STORAGE_DEFAULTS.buffer_size;
  const terms: MemoryTerm[] = [
    {
      label: 'record blocks (two per partition)',
      keys: [partitionsKey, 'backup.max_batch_bytes'],
      formula: `${partitionsKey} × 2 × backup.max_batch_bytes`,
      values: `${partitions} × 2 × ${batch}`,
      bytes: partitions * 2 * batch,
    },
    {
      label: 'fetch response in flight',
      keys: ['backup.fetch_max_bytes'],
      formula: 'backup.fetch_max_bytes',
      values: String(fetch),
      bytes: fetch,
    },
    {
      label: 'storage uploads in flight',
      keys: ['storage.max_concurrent_requests', 'storage.buffer_size'],
      formula: 'storage.max_concurrent_requests × storage.buffer_size',
      values: `${requests} × ${buffer}`,
      bytes: requests * buffer,
    },
    {
      label: 'runtime baseline',
      keys: [],
      formula: 'runtime baseline',
      values: String(RUNTIME_BASELINE_BYTES),
      bytes: RUNTIME_BASELINE_BYTES,
    },
  ];
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
