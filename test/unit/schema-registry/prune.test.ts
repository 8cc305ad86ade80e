import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Manifest } from '../../../src/format/manifest.ts';
import { planDeletions } from '../../../src/repository/prune-plan.ts';

test('prune: the registry capture of a kept snapshot stays, that of a forgotten one goes', () => {
  const kept = 'b/schema-registry/S1/2026-01-01T000000000Z.json';
  const forgotten = 'b/schema-registry/S0/2025-01-01T000000000Z.json';
  const view = {
    topics: {},
    retired_topics: [],
    snapshots: [{ id: 'S1', end_offsets: {}, schema_registry: { key: kept, sha256: '', subjects: 1, schemas: 1 } }],
  } as unknown as Manifest;
  const old = new Date(0);
  const { deletions } = planDeletions(
    'b',
    view,
    [
      { key: kept, size: 10, lastModified: old },
      { key: forgotten, size: 20, lastModified: old },
    ],
    { checkpoints: new Set(), keys: new Set(), newestCheckpoint: 0 },
    Date.now(),
    1000,
  );
  assert.deepEqual(
    deletions.map((d) => d.key),
    [forgotten],
  );
});
