import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Manifest } from '../../../src/format/manifest.ts';
import { planDeletions } from '../../../src/repository/prune-plan.ts';

test('prune: registry captures a live snapshot superseded go, the referenced and newer ones stay', () => {
  const dir = 'b/schema-registry/S1/';
  const older = `${dir}2026-01-01T000000000Z.json`;
  const current = `${dir}2026-01-01T000500000Z.json`;
  const writing = `${dir}2026-01-01T001000000Z.json`; // written, not yet committed
  const view = {
    topics: {},
    retired_topics: [],
    snapshots: [
      { id: 'S1', end_offsets: {}, schema_registry: { key: current, sha256: '', subjects: 1, schemas: 1 } },
      { id: 'S2', end_offsets: {} }, // a snapshot without capture keeps whatever is under its name
    ],
  } as unknown as Manifest;
  const old = new Date(0);
  const listing = [older, current, writing, 'b/schema-registry/S2/2026-01-01T000000000Z.json'].map((key) => ({
    key,
    size: 10,
    lastModified: old,
  }));
  const { deletions } = planDeletions(
    'b',
    view,
    listing,
    { checkpoints: new Set(), keys: new Set(), newestCheckpoint: 0 },
    Date.now(),
    1000,
  );
  assert.deepEqual(
    deletions.map((d) => [d.key, d.why]),
    [[older, 'superseded capture']],
  );
  const young = planDeletions(
    'b',
    view,
    listing.map((l) => ({ ...l, lastModified: new Date() })),
    { checkpoints: new Set(), keys: new Set(), newestCheckpoint: 0 },
    Date.now(),
    60_000,
  );
  assert.deepEqual(young.deletions, [], 'within the grace period (a reader of an older generation) nothing goes');
});
