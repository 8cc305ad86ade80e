/**
 * Benchmark scenarios: the shape of the source topic (record size, partitions, producer
 * settings of the load step) and how much data a default run loads. `--size` overrides the
 * size; the record count is size / record size.
 */

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

export interface Scenario {
  name: string;
  description: string;
  /** Bytes of each record value (ProducerPerformance --record-size); records have no key. */
  recordSize: number;
  partitions: number;
  /** Bytes loaded when --size is not given. */
  defaultSize: number;
  /** Producer settings of the load step; the restore ceiling uses the same batch shape. */
  compression: 'none' | 'lz4';
  batchSize: number;
  lingerMs: number;
  /** Report manifest size and object count (many partitions). */
  reportObjects?: boolean;
  /** Backup targets for this scenario (ratio to the ConsumerPerformance ceiling). */
  targets: { backup: number; restore?: number; validate: number };
}

const common = { compression: 'none', batchSize: 64 * KiB, lingerMs: 5 } as const;

export const SCENARIOS: Record<string, Scenario> = {
  main: {
    ...common,
    name: 'main',
    description: '1 KiB records, 8 partitions',
    recordSize: KiB,
    partitions: 8,
    defaultSize: GiB,
    targets: { backup: 0.8, restore: 0.8, validate: 0.8 },
  },
  small: {
    ...common,
    name: 'small',
    description: '100-byte records, 8 partitions',
    recordSize: 100,
    partitions: 8,
    defaultSize: 256 * MiB,
    targets: { backup: 0.6, validate: 0.8 },
  },
  large: {
    ...common,
    name: 'large',
    description: '512 KiB records, 8 partitions (one record per batch)',
    recordSize: 512 * KiB,
    partitions: 8,
    defaultSize: 512 * MiB,
    targets: { backup: 0.6, validate: 0.8 },
  },
  p64: {
    ...common,
    name: 'p64',
    description: '1 KiB records, 64 partitions',
    recordSize: KiB,
    partitions: 64,
    defaultSize: 512 * MiB,
    targets: { backup: 0.6, validate: 0.8 },
  },
  p2000: {
    ...common,
    name: 'p2000',
    description: '1 KiB records, 2,000 partitions, most of them empty',
    recordSize: KiB,
    partitions: 2000,
    defaultSize: 16 * MiB,
    reportObjects: true,
    targets: { backup: 0.6, validate: 0.8 },
  },
  lz4: {
    ...common,
    name: 'lz4',
    description: '1 KiB records, 8 partitions, source batches compressed with lz4 by the producer',
    compression: 'lz4',
    recordSize: KiB,
    partitions: 8,
    defaultSize: 512 * MiB,
    targets: { backup: 0.6, validate: 0.8 },
  },
};

/** Parses 1GiB, 512MiB, 5MiB, 100KiB, 1GB (taken as GiB) or a plain byte count. */
export function parseSize(text: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (!m) throw new Error(`cannot read size '${text}' (write e.g. 1GiB, 512MiB, 5MiB)`);
  const unit = (m[2] ?? '').toLowerCase();
  const mult = unit === 'k' ? KiB : unit === 'm' ? MiB : unit === 'g' ? GiB : unit === 't' ? GiB * 1024 : 1;
  return Math.round(Number(m[1]) * mult);
}

export function formatSize(bytes: number): string {
  if (bytes >= GiB && bytes % GiB === 0) return `${bytes / GiB}GiB`;
  if (bytes >= MiB) return `${+(bytes / MiB).toFixed(1)}MiB`;
  if (bytes >= KiB) return `${+(bytes / KiB).toFixed(1)}KiB`;
  return `${bytes}B`;
}
