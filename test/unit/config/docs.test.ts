/**
 * docs/configuration.md documents every key of the schema, and only those, with the schema's
 * defaults; its example file is valid.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseConfig } from '../../../src/config/load.ts';
import { ConfigSchema, schemaKeyPaths } from '../../../src/config/schema.ts';

const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');

interface Row {
  keys: string[];
  cells: string[];
}

/** Table rows whose first cell holds key paths in backticks. */
function keyRows(): Row[] {
  const rows: Row[] = [];
  for (const line of doc.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const cells = line
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
    const keys = [...(cells[0] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    if (keys.every((k) => /^[a-z_]+(\.[a-z0-9_]+)*$/.test(k))) rows.push({ keys, cells });
  }
  return rows;
}

const documented = keyRows().flatMap((r) => r.keys);
const schemaPaths = schemaKeyPaths(ConfigSchema);

test('the schema walk finds the sections and nested keys', () => {
  assert.ok(schemaPaths.includes('backup.batch_size'));
  assert.ok(schemaPaths.includes('source.security.sasl.password'));
  assert.ok(schemaPaths.includes('restore.circuit_breaker.half_open_requests'));
  assert.ok(schemaPaths.includes('restore.topic_mapping'));
  assert.ok(!schemaPaths.includes('target.topics.include'));
  assert.ok(schemaPaths.length > 100);
});

test('every schema key is documented in a table', () => {
  const missing = schemaPaths.filter((p) => !documented.includes(p));
  assert.deepEqual(missing, [], `add rows to docs/configuration.md for: ${missing.join(', ')}`);
});

test('the doc lists no key the schema does not have, and none twice', () => {
  const extra = documented.filter((k) => !schemaPaths.includes(k));
  assert.deepEqual(extra, [], `docs/configuration.md lists keys the schema does not have: ${extra.join(', ')}`);
  const twice = documented.filter((k, i) => documented.indexOf(k) !== i);
  assert.deepEqual(twice, []);
});

/** The default of every key, from parsing a config that has every section. */
function defaults(): Record<string, unknown> {
  const probe = (security: object) =>
    ConfigSchema.parse({
      source: { bootstrap_servers: ['a:1'], security },
      target: { bootstrap_servers: ['a:1'], security },
      storage: { path: '/x' },
    });
  const plain = probe({});
  const withTls = probe({ protocol: 'SSL', tls: {} }); // tls is only allowed with a TLS protocol
  const out: Record<string, unknown> = {};
  for (const path of schemaPaths) {
    let v: unknown = path.includes('.tls.') ? withTls : plain;
    for (const k of path.split('.')) v = v === undefined ? undefined : (v as Record<string, unknown>)[k];
    out[path] = v;
  }
  return out;
}

test('documented defaults match the schema', () => {
  const values = defaults();
  const given = new Set(['source.bootstrap_servers', 'target.bootstrap_servers', 'storage.path']);
  const wrong: string[] = [];
  for (const row of keyRows()) {
    const cell = row.cells[2] ?? '';
    const code = /^`([^`]*)`/.exec(cell)?.[1];
    for (const key of row.keys) {
      if (given.has(key)) continue;
      const v = values[key];
      if (v === undefined) {
        if (code !== undefined) wrong.push(`${key}: doc says ${code}, schema has no default`);
        continue;
      }
      const expected = typeof v === 'string' ? (v === '' ? '""' : v) : JSON.stringify(v).replaceAll(',', ', ');
      if (code !== expected) wrong.push(`${key}: doc says ${code ?? cell}, schema default is ${expected}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('the example file in the doc is valid', () => {
  const example = /## Example\n\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(example, 'an ## Example section with a yaml block');
  const c = parseConfig(example, 'docs example', { KAFKA_PASSWORD: 'x', KAFKA_DR_PASSWORD: 'y' });
  assert.equal(c.storage?.backend, 's3');
  assert.equal(c.restore.topic_mapping['orders.v1'], 'orders.v1-restored');
});
