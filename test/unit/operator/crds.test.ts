/** deploy/crds are what the generator makes from the CLI schema, and every CLI option is a field. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SectionSchemas, schemaKeyPaths } from '../../../src/config/schema.ts';
import { crdYaml } from '../../../src/operator/crd-files.ts';
import { crdOf } from '../../../src/operator/crds.ts';
import { classifyKey } from '../../../src/operator/fields.ts';
import { camel } from '../../../src/operator/naming.ts';

const dir = fileURLToPath(new URL('../../../deploy/crds/', import.meta.url));

test('deploy/crds match the generator (run node src/operator/write-crds.ts after a schema change)', () => {
  for (const [file, text] of crdYaml())
    assert.ok(readFileSync(dir + file, 'utf8') === text, `deploy/crds/${file} is out of date`);
});

type Node = { properties?: Record<string, Node>; items?: Node; additionalProperties?: Node; [k: string]: unknown };
const specOf = (kind: Parameters<typeof crdOf>[0]): Node =>
  (crdOf(kind) as { spec: { versions: { schema: { openAPIV3Schema: Node } }[] } }).spec.versions[0]!.schema
    .openAPIV3Schema.properties!['spec']!;

/** The spec field of a config key path; `all` (every key path of the section) gives each key its siblings. */
function fieldAt(root: Node, configPath: string, all: readonly string[] = []): Node | undefined {
  let node: Node | undefined = root;
  const parts = configPath.split('.');
  for (let i = 0; i < parts.length && node; i++) {
    const parent = parts.slice(0, i).join('.');
    const siblings = all
      .filter((p) => p.split('.').length === i + 1 && (i === 0 || p.startsWith(`${parent}.`)))
      .map((p) => p.split('.')[i]!);
    const f = classifyKey(parts[i]!, siblings);
    const key = f.kind === 'omit' ? undefined : f.specKey;
    if (key === undefined) return { omitted: true };
    node = node.properties?.[key] ?? node.properties?.[camel(parts[i]!)];
  }
  return node;
}

test('every backup option of the CLI config is a field of KafkaBackup spec.backup', () => {
  const backup = specOf('KafkaBackup').properties!['backup']!;
  const all = schemaKeyPaths(SectionSchemas.backup);
  const missing = all
    .filter((p) => !p.startsWith('mode') && !p.startsWith('retention'))
    .filter((p) => fieldAt(backup, p, all) === undefined);
  assert.deepEqual(missing, []);
  assert.deepEqual(backup.properties!['compression']!['enum'], ['zstd', 'lz4', 'gzip', 'none']);
  assert.equal(backup.properties!['batchSize']!['minimum'], 1);
  assert.equal(backup.properties!['batchSize']!['maximum'], 1_000_000);
});

test('every restore and storage option is a field; secrets are Secret references only', () => {
  const restore = specOf('KafkaRestore').properties!['restore']!;
  assert.deepEqual(
    schemaKeyPaths(SectionSchemas.restore).filter((p) => fieldAt(restore, p) === undefined),
    [],
  );
  const storage = specOf('KafkaBackup').properties!['storage']!;
  for (const secret of ['secretAccessKey', 'accountKey', 'sasToken', 'connectionString', 'sessionToken', 'accessKeyId'])
    assert.equal(storage.properties![secret], undefined, `${secret} must not be a plain field`);
  assert.deepEqual(storage.properties!['secretAccessKeySecret']!['required'], ['name', 'key']);
  const sasl = specOf('KafkaBackup').properties!['kafka']!.properties!['security']!.properties!['sasl']!;
  assert.equal(sasl.properties!['password'], undefined);
  assert.ok(sasl.properties!['passwordSecret']);
});

test('the CRDs are structural: every node has a type or an explicit escape', () => {
  const walk = (n: Node, where: string) => {
    if (!n['type'] && !n['x-kubernetes-int-or-string'] && !n['x-kubernetes-preserve-unknown-fields'])
      assert.fail(`${where} has no type`);
    for (const [k, c] of Object.entries(n.properties ?? {})) walk(c, `${where}.${k}`);
    if (n.items) walk(n.items, `${where}[]`);
    if (n.additionalProperties && typeof n.additionalProperties === 'object')
      walk(n.additionalProperties, `${where}{}`);
  };
  for (const kind of ['KafkaBackup', 'KafkaRestore', 'KafkaOffsetReset', 'KafkaOffsetRollback'] as const)
    walk(specOf(kind), kind);
});

test("docs/kubernetes.md's field reference is the generated one", async () => {
  const { withFieldReference } = await import('../../../src/operator/crd-docs.ts');
  const doc = readFileSync(fileURLToPath(new URL('../../../docs/kubernetes.md', import.meta.url)), 'utf8');
  assert.ok(withFieldReference(doc) === doc, 'docs/kubernetes.md is out of date: run node src/operator/write-crds.ts');
});
