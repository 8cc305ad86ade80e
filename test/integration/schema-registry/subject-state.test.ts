/**
 * What a restore applies per subject besides the schemas, with both strategies (remap_ids into
 * srfake, preserve_ids into the IMPORT-capable AxonOps registry): the per-subject compatibility
 * and mode, and, with backup.schema_registry.include_deleted, soft-deleted versions restored as
 * soft-deleted. The source (srfake) gets, after the codec's schemas and records:
 *   - the Avro subject: compatibility NONE, a second version incompatible with the first (a
 *     registry checking compatibility refuses it unless NONE is set before it is registered; srfake
 *     lets it through under its global level, so that order is not proven here), and its
 *     version 1, the one every Avro record uses, soft-deleted;
 *   - the JSON Schema subject: mode READONLY (set last on the target: it refuses registrations);
 *   - the key subject: compatibility FULL;
 *   - a subject of the topic registered and then soft-deleted as a whole.
 * After the restore the target's visible state of every subject (listed or not, live and all
 * versions with their schema text, per-subject compatibility and mode) is the source's, read from
 * both registries' REST APIs; the global settings of the target are as before; every restored
 * record decodes with the independent codec on the target, the soft-deleted schema's id included.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cli, jsonOut } from '../../helpers/cli.ts';
import { KAFKA_BOOTSTRAP } from '../../helpers/kafka.ts';
import {
  ensureImportRegistry,
  ensureSchemaRegistries,
  registryRequest,
  SR_IMPORT_URL,
  SR_SOURCE_URL,
  SR_TARGET_URL,
} from '../../helpers/schema-registry.ts';
import { decodeTopicWithRegistry, registerSchema } from '../../helpers/sr-codec.ts';
import { backedUpCodecLine, type CodecLine, restoreConfig, views } from './codec-line.ts';

let line: CodecLine;
let subjects: string[];

const PAYMENT_INCOMPATIBLE = JSON.stringify({
  type: 'record',
  name: 'Payment',
  namespace: 'kb.test',
  fields: [{ name: 'other', type: 'int' }],
});

before(async () => {
  await ensureSchemaRegistries();
  await ensureImportRegistry();
  line = await backedUpCodecLine('sr-state', {
    targets: [SR_TARGET_URL, SR_IMPORT_URL],
    partitions: 2,
    perFormat: 12,
    source: { url: SR_SOURCE_URL, config: { url: SR_SOURCE_URL, include_deleted: true } },
    prepare: async (topic, schemas) => {
      const s = schemas.subjects;
      const e = encodeURIComponent;
      await registryRequest(SR_SOURCE_URL, 'PUT', `/config/${e(s.avro)}`, { compatibility: 'NONE' });
      await registerSchema(SR_SOURCE_URL, s.avro, { schema: PAYMENT_INCOMPATIBLE });
      await registryRequest(SR_SOURCE_URL, 'DELETE', `/subjects/${e(s.avro)}/versions/1`);
      await registryRequest(SR_SOURCE_URL, 'PUT', `/config/${e(s.key)}`, { compatibility: 'FULL' });
      await registryRequest(SR_SOURCE_URL, 'PUT', `/mode/${e(s.json)}`, { mode: 'READONLY' });
      const gone = `${topic}-kb.test.Gone`;
      await registerSchema(SR_SOURCE_URL, gone, {
        schema: JSON.stringify({ type: 'enum', name: 'G', symbols: ['A'] }),
      });
      await registryRequest(SR_SOURCE_URL, 'DELETE', `/subjects/${e(gone)}`);
    },
  });
  subjects = [...Object.values(line.schemas.subjects), `${line.topic}-kb.test.Gone`];
});

after(async () => {
  await line?.close();
});

async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (e) {
    if (/HTTP 404/.test((e as Error).message)) return null;
    throw e;
  }
}

/** What a client sees of the subjects on a registry, through its REST API. */
async function visibleState(url: string) {
  const live = await registryRequest<string[]>(url, 'GET', '/subjects');
  const all = await registryRequest<string[]>(url, 'GET', '/subjects?deleted=true');
  const out: Record<string, unknown> = {};
  for (const s of subjects) {
    const e = encodeURIComponent(s);
    const allVersions =
      (await orNull(registryRequest<number[]>(url, 'GET', `/subjects/${e}/versions?deleted=true`))) ?? [];
    const schemas: Record<number, string> = {};
    for (const v of allVersions)
      schemas[v] = (
        await registryRequest<{ schema: string }>(url, 'GET', `/subjects/${e}/versions/${v}?deleted=true`)
      ).schema;
    const config = await orNull(
      registryRequest<{ compatibilityLevel?: string; compatibility?: string }>(
        url,
        'GET',
        `/config/${e}?defaultToGlobal=false`,
      ),
    );
    const mode = await orNull(registryRequest<{ mode: string }>(url, 'GET', `/mode/${e}?defaultToGlobal=false`));
    out[s] = {
      listed: live.includes(s),
      listed_with_deleted: all.includes(s),
      live_versions: (await orNull(registryRequest<number[]>(url, 'GET', `/subjects/${e}/versions`))) ?? [],
      schemas,
      compatibility: config?.compatibilityLevel ?? config?.compatibility ?? null,
      mode: mode?.mode ?? null,
    };
  }
  return out;
}

const globals = async (url: string) => ({
  config: await registryRequest(url, 'GET', '/config'),
  mode: await registryRequest(url, 'GET', '/mode'),
});

for (const [strategy, url] of [
  ['remap_ids', SR_TARGET_URL],
  ['preserve_ids', SR_IMPORT_URL],
] as const) {
  describe(`${strategy}: per-subject compatibility, modes and soft-deleted versions as on the source`, () => {
    const name = strategy.replace('_', '-');
    const restore = (run: number) =>
      cli(['restore', '-c', restoreConfig(line, `${name}-${run}`, { url, strategy }), '--format', 'json']);

    test('the target subjects have the source state; every record decodes there', async () => {
      const source = await visibleState(SR_SOURCE_URL);
      // the fixture is what the test says it is, so a broken setup cannot pass unnoticed
      const avro = source[line.schemas.subjects.avro] as { live_versions: number[]; compatibility: string };
      assert.deepEqual(avro.live_versions, [2]);
      assert.equal(avro.compatibility, 'NONE');
      assert.equal((source[line.schemas.subjects.json] as { mode: string }).mode, 'READONLY');
      assert.equal((source[`${line.topic}-kb.test.Gone`] as { listed: boolean }).listed, false);
      const globalsBefore = await globals(url);

      const r = await restore(1);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(jsonOut<{ schema_registry: { registered: number } }>(r).schema_registry.registered, 7);
      assert.deepEqual(await visibleState(url), source);
      assert.deepEqual(await globals(url), globalsBefore, 'global compatibility and mode left as they were');

      const decoded = await decodeTopicWithRegistry(KAFKA_BOOTSTRAP, `${line.topic}-${name}-1`, url);
      assert.deepEqual(decoded.failures, []);
      assert.equal(decoded.records.size, line.expected.size);
      assert.deepEqual(views(decoded.records), views(line.expected));
    });

    test('a second restore registers nothing and leaves the state as it is', async () => {
      const state = await visibleState(url);
      const r = await restore(2);
      assert.equal(r.code, 0, r.stderr);
      const out = jsonOut<{ schema_registry: { registered: number; reused: number } }>(r);
      assert.equal(out.schema_registry.registered, 0);
      assert.deepEqual(await visibleState(url), state);
    });
  });
}
