import assert from 'node:assert/strict';
import { test } from 'node:test';
import { editDistance, suggest } from '../../../src/config/suggest.ts';

test('editDistance counts a swap of neighbours as one edit', () => {
  assert.equal(editDistance('batch_size', 'batch_size'), 0);
  assert.equal(editDistance('bacth_size', 'batch_size'), 1);
  assert.equal(editDistance('bach_size', 'batch_size'), 1);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('kitten', 'sitting'), 3);
});

test('suggest: typos, case styles, prefixes, abbreviations, and nothing for unrelated words', () => {
  const keys = ['mode', 'start', 'batch_size', 'max_batch_bytes', 'fetch_max_bytes', 'allow_empty'];
  assert.equal(suggest('bach_size', keys), 'batch_size');
  assert.equal(suggest('batchSize', keys), 'batch_size');
  assert.equal(suggest('BATCH-SIZE', keys), 'batch_size');
  assert.equal(suggest('allow_empt', keys), 'allow_empty');
  assert.equal(suggest('fetch', keys), 'fetch_max_bytes');
  assert.equal(suggest('lvl', ['level', 'format']), 'level');
  assert.equal(suggest('completely_different', keys), undefined);
  assert.equal(suggest('x', keys), undefined);
});
