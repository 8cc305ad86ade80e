/** A one-topic (`t`, two partitions) line state and synthetic file entries, for the repository unit tests. */
import { type FileEntry, MANIFEST_FORMAT, MANIFEST_VERSION, type Manifest } from '../../../src/format/manifest.ts';

export const writer = { run_id: 'run1', host: 'h', pid: 1, tool_version: 'test' };

/** A file of `n` offsets from `first`; `stamp` shifts its timestamps and `size` sets its bytes. */
export function fileEntry(
  backupId: string,
  p: number,
  first: number,
  n: number,
  o: { key?: string; size?: number; stamp?: number } = {},
): FileEntry {
  const stamp = o.stamp ?? 0;
  return {
    key: o.key ?? `${backupId}/data/t/${p}/${first}.kbs`,
    size: o.size ?? 100 + n,
    crc32c: '00000000',
    run_id: 'run1',
    first_offset: first,
    last_offset: first + n - 1,
    records: n,
    batches: 1,
    blocks: 1,
    raw_bytes: 10 * n,
    min_timestamp: stamp + first,
    max_timestamp: stamp + first + n - 1,
    skipped: {},
    created_at: '2026-01-01T00:00:00Z',
  };
}

export function oneTopicView(backupId: string): Manifest {
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    backup_id: backupId,
    generation: 0,
    created_at: new Date().toISOString(),
    writer,
    source: { cluster_id: 'c1', bootstrap_servers: ['k:9092'] },
    topics: {
      t: {
        topic_id: 'tid',
        partition_count: 2,
        replication_factor: 1,
        configs: {},
        timestamp_type: 'CreateTime',
        partitions: {
          '0': { start_offset: 0, next_offset: 0, files: [], gaps: [] },
          '1': { start_offset: 0, next_offset: 0, files: [], gaps: [] },
        },
      },
    },
    snapshots: [],
    retired_topics: [],
  };
}
