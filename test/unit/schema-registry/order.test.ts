import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IntegrityError } from '../../../src/errors.ts';
import { registrationOrder } from '../../../src/schema-registry/order.ts';
import type { CapturedVersion, RegistryCapture } from '../../../src/schema-registry/types.ts';

const v = (version: number, id: number, refs: [string, string, number][] = []): CapturedVersion => ({
  version,
  id,
  schema_type: 'PROTOBUF',
  schema: `s${id}`,
  references: refs.map(([name, subject, ver]) => ({ name, subject, version: ver })),
  deleted: false,
});
const capture = (subjects: Record<string, CapturedVersion[]>): RegistryCapture => ({
  format: 'kafka-backup/schema-registry',
  version: 1,
  captured_at: '',
  snapshot_id: 's',
  context: '',
  global: { compatibility: null, mode: null },
  subjects: Object.fromEntries(
    Object.entries(subjects).map(([k, versions]) => [k, { compatibility: null, mode: null, versions }]),
  ),
});

test('registrationOrder: references (transitively) before their users, versions of a subject in order', () => {
  const c = capture({
    'a-value': [v(1, 10, [['money.proto', 'money', 2]]), v(2, 11, [['customer.proto', 'customer', 1]])],
    customer: [v(1, 5, [['money.proto', 'money', 1]])],
    money: [v(1, 3), v(2, 4)],
    'z-value': [v(1, 1)],
  });
  const order = registrationOrder(c).map((x) => `${x.subject}@${x.v.version}`);
  assert.equal(order.length, 6);
  const at = (k: string) => order.indexOf(k);
  assert.ok(at('money@1') < at('money@2'));
  assert.ok(at('money@2') < at('a-value@1'));
  assert.ok(at('money@1') < at('customer@1'));
  assert.ok(at('customer@1') < at('a-value@2'));
  assert.ok(at('a-value@1') < at('a-value@2'));
  assert.deepEqual(
    order,
    registrationOrder(c).map((x) => `${x.subject}@${x.v.version}`),
    'deterministic',
  );
});

test('registrationOrder: a reference outside the capture or a cycle is an integrity error naming it', () => {
  assert.throws(
    () => registrationOrder(capture({ 'a-value': [v(1, 1, [['m', 'missing', 3]])] })),
    (e: unknown) => e instanceof IntegrityError && /references missing version 3/.test(e.message),
  );
  assert.throws(
    () => registrationOrder(capture({ a: [v(1, 1, [['b', 'b', 1]])], b: [v(1, 2, [['a', 'a', 1]])] })),
    (e: unknown) => e instanceof IntegrityError && /cycle/.test(e.message),
  );
});
