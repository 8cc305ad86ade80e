/**
 * Restore throughput with restore.schema_registry (remap_ids) against the same restore without a
 * registry, on the real broker and the srfake registries (docs/schema-registry.md).
 *
 *   node bench/schema-registry.ts [--records 400000] [--record-size 200] [--partitions 8] [--runs 2]
 *
 * Setup (not measured): two topics of wire-format records (two schema ids), one stored
 * uncompressed and one zstd-compressed by the broker; one backup with the registry captured; the
 * target registry pre-filled so that every id changes. Measured, alternating, `--runs` times
 * each (median): a restore of both topics into new topics without a registry, and one with
 * remap_ids (every key and value rewritten; zstd batches decompressed, patched, recompressed).
 * Prints one JSON line (records/s of each, the ratio, the machine's load average) and writes it to
 * bench/results/schema-registry-<time>.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Admin, Producer } from '@platformatic/kafka';
import { runBackup } from '../src/backup/engine.ts';
import { backupDefaults } from '../src/backup/options.ts';
import type { BackupSchemaRegistryConfig, RestoreSchemaRegistryConfig } from '../src/config/schema.ts';
import { runRestore } from '../src/restore/engine.ts';
import { restoreDefaults } from '../src/restore/options.ts';
import { captureHooks, remapHook } from '../src/schema-registry/hooks.ts';
import { FilesystemBackend } from '../src/storage/filesystem.ts';
import { lockRegistries, registryRequest, resetRegistry } from '../test/helpers/schema-registry.ts';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const BOOTSTRAP = process.env['KB_BENCH_BOOTSTRAP'] ?? '127.0.0.1:19092';
const SRC = process.env['KB_SR_SOURCE_URL'] ?? 'http://127.0.0.1:18081';
const TGT = process.env['KB_SR_TARGET_URL'] ?? 'http://127.0.0.1:18082';
const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '400000' },
    'record-size': { type: 'string', default: '200' },
    partitions: { type: 'string', default: '8' },
    runs: { type: 'string', default: '2' },
  },
});
const N = Number(values.records);
const SIZE = Number(values['record-size']);
const P = Number(values.partitions);
const RUNS = Number(values.runs);
const tag = Date.now().toString(36);
const topics = [`bench-sr-plain-${tag}`, `bench-sr-zstd-${tag}`];
const conn = { bootstrap_servers: [BOOTSTRAP] };
const registry = (url: string) => ({ url, context: '', request_timeout_ms: 30_000 });

execFileSync('bash', ['scripts/services.sh', 'start', 'kafka', 'schema-registry'], { cwd: ROOT, stdio: 'inherit' });
const release = await lockRegistries();
const dir = mkdtempSync(join(tmpdir(), 'kb-bench-sr-'));
const admin = new Admin({ clientId: 'kb-bench', bootstrapBrokers: [BOOTSTRAP] });
const created: string[] = [...topics];
try {
  await resetRegistry(SRC);
  await resetRegistry(TGT);
  const register = async (url: string, subject: string, schema: string) =>
    (await registryRequest<{ id: number }>(url, 'POST', `/subjects/${subject}/versions`, { schema })).id;
  await register(SRC, 'filler-value', '"int"');
  const ids: number[] = [];
  for (const t of topics) {
    ids.push(await register(SRC, `${t}-value`, JSON.stringify({ type: 'record', name: 'A', fields: [] })));
    ids.push(await register(SRC, `${t}-key`, '"string"'));
  }
  for (let i = 0; i < 8; i++)
    await register(TGT, `unrelated-${i}`, JSON.stringify({ type: 'record', name: `U${i}`, fields: [] }));
  for (const [i, t] of topics.entries())
    await admin.createTopics({
      topics: [t],
      partitions: P,
      replicas: 1,
      configs: [
        { name: 'retention.ms', value: '-1' },
        ...(i === 1 ? [{ name: 'compression.type', value: 'zstd' }] : []),
      ],
    });
  const producer = new Producer({ clientId: 'kb-bench', bootstrapBrokers: [BOOTSTRAP], retries: 5, idempotent: true });
  const payload = Buffer.alloc(SIZE - 5, 'x');
  const wire = (id: number, body: Buffer) => {
    const h = Buffer.alloc(5);
    h.writeUInt32BE(id, 1);
    return Buffer.concat([h, body]);
  };
  for (const [ti, t] of topics.entries())
    for (let i = 0; i < N; i += 2000)
      await producer.send({
        messages: Array.from({ length: Math.min(2000, N - i) }, (_, j) => ({
          topic: t,
          partition: (i / 2000 + j) % P,
          key: wire(ids[ti * 2 + 1]!, Buffer.from(`k${i + j}`)),
          value: wire(ids[ti * 2]!, payload),
        })),
      });
  await producer.close();
  const storage = new FilesystemBackend({ path: join(dir, 'store') });
  const backup = await runBackup({
    ...backupDefaults,
    backupId: 'bench',
    source: conn,
    topics: { include: topics },
    storage,
    ...captureHooks(
      { ...registry(SRC), include_deleted: false, capture_interval_secs: 60 } as BackupSchemaRegistryConfig,
      storage,
      'bench',
    ),
  });
  const restore = async (run: number, remap: boolean) => {
    const suffix = `${remap ? 'remap' : 'plain'}-${run}`;
    const topicMapping = Object.fromEntries(topics.map((t) => [t, `${t}-${suffix}`]));
    created.push(...Object.values(topicMapping));
    const t0 = performance.now();
    const r = await runRestore({
      ...restoreDefaults,
      backupId: 'bench',
      storage,
      target: conn,
      topics: { include: topics },
      topicMapping,
      restoreId: suffix,
      ...(remap
        ? {
            schemaIds: remapHook(
              { ...registry(TGT), strategy: 'remap_ids', on_unknown_id: 'fail' } as RestoreSchemaRegistryConfig,
              storage,
            ),
          }
        : {}),
    });
    const ms = performance.now() - t0;
    if (r.records !== backup.records)
      throw new Error(`restore ${suffix} wrote ${r.records} records, the backup holds ${backup.records}`);
    if (remap && r.schema_registry?.rewritten !== backup.records * 2)
      throw new Error(`restore ${suffix} rewrote ${r.schema_registry?.rewritten} ids, expected ${backup.records * 2}`);
    return ms;
  };
  const plain: number[] = [];
  const remapped: number[] = [];
  const load = [loadavg()[0]!];
  for (let run = 0; run < RUNS; run++) {
    plain.push(await restore(run, false));
    remapped.push(await restore(run, true));
    load.push(loadavg()[0]!);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rps = (ms: number) => Math.round(backup.records / (ms / 1000));
  const out = {
    scenario: 'schema-registry',
    records: backup.records,
    record_size: SIZE,
    partitions: P * 2,
    runs: RUNS,
    restore_plain_ms: plain.map(Math.round),
    restore_remap_ms: remapped.map(Math.round),
    restore_plain_records_per_sec: rps(median(plain)),
    restore_remap_records_per_sec: rps(median(remapped)),
    ratio: Number((median(plain) / median(remapped)).toFixed(2)),
    load_average_1m: load.map((x) => Number(x.toFixed(2))),
    cpus: cpus().length,
  };
  console.log(JSON.stringify(out));
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(
    join(ROOT, 'bench', 'results', `schema-registry-${new Date().toISOString().replace(/[:.]/g, '')}.json`),
    `${JSON.stringify(out, null, 1)}\n`,
  );
} finally {
  await admin.deleteTopics({ topics: created }).catch(() => undefined);
  await admin.close();
  rmSync(dir, { recursive: true, force: true });
  await release();
}
