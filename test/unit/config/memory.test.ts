import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../src/config/load.ts';
import { estimateMemory, formatBytes, RUNTIME_BASELINE_BYTES } from '../../../src/config/memory.ts';
import { MINIMAL } from './fixtures.ts';
import { configError } from './helpers.ts';

const MiB = 1024 * 1024;

test('defaults fit the default budget, term by term', () => {
  const c = parseConfig(MINIMAL, 'm.yaml', {});
  const backup = estimateMemory(c, 'backup');
  assert.deepEqual(
    backup.terms.map((t) => t.bytes),
    [16 * 2 * MiB, 16 * MiB, 8 * 8 * MiB, RUNTIME_BASELINE_BYTES],
  );
  assert.equal(backup.totalBytes, 160 * MiB);
  assert.equal(backup.limitBytes, 256 * MiB);
  assert.equal(backup.fits, true);
  assert.deepEqual(backup.terms[0]!.keys, ['backup.max_concurrent_partitions', 'backup.max_batch_bytes']);
  const restore = estimateMemory(c, 'restore');
  assert.equal(restore.terms[0]!.formula, 'restore.max_concurrent_partitions × 2 × backup.max_batch_bytes');
  assert.equal(restore.totalBytes, 144 * MiB);
});

test('no storage section: storage defaults are used', () => {
  const c = parseConfig('backup_id: a\n', 'm.yaml', {});
  assert.equal(estimateMemory(c).totalBytes, 160 * MiB);
});

test('over budget: refused with every term, its keys and values, and what to lower', () => {
  const text = MINIMAL + 'backup:\n  max_concurrent_partitions: 64\n  max_batch_bytes: 4194304\n';
  const e = configError(() => parseConfig(text, 'm.yaml', {}));
  assert.equal(e.message, 'estimated memory for backup is 640 MiB, above max_memory_bytes (268435456 = 256 MiB)');
  assert.deepEqual(e.problems, [
    'backup.max_concurrent_partitions × 2 × backup.max_batch_bytes = 64 × 2 × 4194304 = 536870912 = 512 MiB',
    'backup.fetch_max_bytes = 16777216 = 16 MiB',
    'storage.max_concurrent_requests × storage.buffer_size = 8 × 8388608 = 67108864 = 64 MiB',
    'runtime baseline = 48 MiB',
    'total = 671088640 = 640 MiB',
  ]);
  assert.match(
    e.hint ?? '',
    /^lower backup.max_concurrent_partitions, backup.max_batch_bytes, storage.max_concurrent_requests/,
  );
  assert.match(e.hint ?? '', /raise max_memory_bytes/);
  assert.equal(e.exitCode, 2);
});

test('restore concurrency counts for the restore estimate; raising the budget accepts it', () => {
  const text = MINIMAL + 'restore:\n  max_concurrent_partitions: 200\n';
  const e = configError(() => parseConfig(text, 'm.yaml', {}));
  assert.match(e.message, /^estimated memory for restore is 528 MiB/);
  assert.match(e.problems[0]!, /^restore.max_concurrent_partitions × 2 × backup.max_batch_bytes = 200 × 2 × 1048576/);
  const c = parseConfig(text + 'max_memory_bytes: 1073741824\n', 'm.yaml', {});
  assert.equal(estimateMemory(c, 'restore').fits, true);
});

test('formatBytes', () => {
  assert.equal(formatBytes(256 * MiB), '256 MiB');
  assert.equal(formatBytes(1.5 * 1024 * MiB), '1.5 GiB');
  assert.equal(formatBytes(512), '512 B');
});
