import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig } from '../../../src/config/load.ts';
import { ConfigError } from '../../../src/errors.ts';

const parse = (restore: unknown, backup: unknown = {}) =>
  parseConfig(stringify({ backup_id: 'b', backup, restore }), 'test.yaml', {});
const problems = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return `${e.message}\n${e.problems.join('\n')}`;
  }
  assert.fail('expected a config error');
};

test('schema_registry: defaults of the restore section, a url or urls', () => {
  const c = parse({ schema_registry: { urls: ['http://a:8081', 'http://b:8081'] } });
  assert.equal(c.restore.schema_registry?.strategy, 'remap_ids');
  assert.equal(c.restore.schema_registry?.on_unknown_id, 'fail');
  assert.equal(c.restore.schema_registry?.context, '');
  const b = parse({}, { schema_registry: { url: 'http://a:8081' } });
  assert.equal(b.backup.schema_registry?.include_deleted, false);
});

test('schema_registry: preserve_ids is a strategy; an unknown one is refused naming both', () => {
  assert.equal(
    parse({ schema_registry: { url: 'http://a', strategy: 'preserve_ids' } }).restore.schema_registry?.strategy,
    'preserve_ids',
  );
  const p = problems(() => parse({ schema_registry: { url: 'http://a', strategy: 'keep' } }));
  assert.match(p, /restore\.schema_registry\.strategy/);
  assert.match(p, /remap_ids/);
  assert.match(p, /preserve_ids/);
});

test('schema_registry: no address, basic auth with a token, a password without user are errors', () => {
  assert.match(
    problems(() => parse({ schema_registry: {} })),
    /set one of url, urls/,
  );
  assert.match(
    problems(() => parse({ schema_registry: { url: 'http://a', username: 'u', password: 'p', token: 't' } })),
    /use basic auth or a bearer token, not both/,
  );
  assert.match(
    problems(() => parse({}, { schema_registry: { url: 'http://a', password: 'p' } })),
    /a password needs its username/,
  );
});
