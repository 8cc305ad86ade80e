import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../src/config/load.ts';
import { estimateMemory, formatBytes, RUNTIME_BASELINE_BYTES } from '../../../src/config/memory.ts';
import { MINIMAL } from './fixtures.ts';
import { configError } from './helpers.ts';

const MiB = 1024 * 1024;

test('defaults fit the default budget, term by term (filesystem: no upload part buffers)', () => {
  const c = parseConfig(MINIMAL, 'm.yaml', {});
  const backup = estimateMemory(c, 'backup');
  assert.deepEqual(
    backup.terms.map((t) => t.bytes),
    [16 * 2 * MiB, 16 * MiB, RUNTIME_BASELINE_BYTES],
  );
  assert.equal(backup.totalBytes, 176 * MiB);
  assert.equal(backup.limitBytes, 256 * MiB);
  assert.equal(backup.fits, true);
  assert.deepEqual(backup.terms[0]!.keys, ['backup.max_concurrent_partitions', 'backup.max_batch_bytes']);
  const restore = estimateMemory(c, 'restore');
  assert.equal(restore.terms[0]!.formula, 'restore.max_concurrent_partitions × 2 × backup.max_batch_bytes');
  assert.deepEqual(
    restore.terms.map((t) => t.label),
    ['record blocks (two per partition)', 'runtime baseline'],
  );
  assert.equal(restore.totalBytes, 144 * MiB);
});

test('an object store adds one upload part buffer per open data file, and the defaults still fit', () => {
  for (const url of ['s3://b/p', 'azure://acct/c/p', 'gs://b/p']) {
    const c = parseConfig(`backup_id: a\nstorage:\n  url: ${url}\n`, 'm.yaml', {});
    const backup = estimateMemory(c, 'backup');
    const parts = backup.terms.find((t) => t.keys.includes('storage.buffer_size'));
    assert.equal(parts?.formula, 'backup.max_concurrent_partitions × storage.buffer_size', url);
    assert.equal(parts?.values, '16 × 5242880');
    assert.equal(backup.totalBytes, 256 * MiB, 'at the line: a larger buffer_size needs a larger budget');
    assert.equal(backup.fits, true);
    assert.equal(estimateMemory(c, 'restore').totalBytes, 144 * MiB, 'a restore uploads nothing');
  }
  const big = configError(() =>
    parseConfig('backup_id: a\nstorage:\n  url: s3://b/p\n  buffer_size: 16777216\n', 'm.yaml', {}),
  );
  assert.equal(big.message, 'estimated memory for backup is 432 MiB, above max_memory_bytes (268435456 = 256 MiB)');
  assert.ok(
    big.problems.includes(
      'backup.max_concurrent_partitions × storage.buffer_size = 16 × 16777216 = 268435456 = 256 MiB',
    ),
  );
  assert.match(big.hint ?? '', /^lower backup.max_concurrent_partitions, storage.buffer_size/);
});

test('no storage section: storage defaults are used', () => {
  const c = parseConfig('backup_id: a\n', 'm.yaml', {});
  assert.equal(estimateMemory(c).totalBytes, 176 * MiB);
});

test('over budget: refused with every term, its keys and values, and what to lower', () => {
  const text = MINIMAL + 'backup:\n  max_concurrent_partitions: 64\n  max_batch_bytes: 4194304\n';
  const e = configError(() => parseConfig(text, 'm.yaml', {}));
  assert.equal(e.message, 'estimated memory for backup is 656 MiB, above max_memory_bytes (268435456 = 256 MiB)');
  assert.deepEqual(e.problems, [
    'backup.max_concurrent_partitions × 2 × backup.max_batch_bytes = 64 × 2 × 4194304 = 536870912 = 512 MiB',
    'backup.fetch_max_bytes = 16777216 = 16 MiB',
    'runtime baseline = 128 MiB',
    'total = 687865856 = 656 MiB',
  ]);
  assert.match(e.hint ?? '', /^lower backup.max_concurrent_partitions, backup.max_batch_bytes, backup.fetch_max_bytes/);
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
