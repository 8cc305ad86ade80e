/**
 * Peak RSS (and throughput) of backup and restore at the default settings on every backend:
 * local disk, S3 on moto, Azure Blob on Azurite, GCS on fake-gcs-server (issue 17 item 5: at
 * most 256 MiB, flat from 1 to 4 GiB). Data files go to object stores as multipart uploads
 * (S3), staged blocks (Azure) and resumable uploads (GCS) in `storage.buffer_size` parts.
 *
 *   node bench/object-stores.ts [--sizes 1GiB,4GiB] [--stores filesystem,s3,azure,gcs]
 *                               [--steps backup,restore] [--cli FILE] [--sample] [--topic NAME]
 *
 * --cli       the CLI to measure (default bin/kafka-backup.js, built first; a path without a
 *             .js/.ts extension, such as dist/kafka-backup, is run directly)
 * --sample    also load bench/mem-sampler.ts into the CLI and record where memory goes at the
 *             peak (heap, array buffers, the rest, and /proc/self/smaps by kind of mapping);
 *             sampling adds ~3 MiB of its own
 * --node-options  extra Node flags for the CLI (NODE_OPTIONS), e.g. "--max-semi-space-size=8"
 * --topic     back up this already loaded topic (1 KiB records, 8 partitions) instead of
 *             loading one; only with a single size
 *
 * Each size: a topic of 1 KiB records in 8 partitions loaded by ProducerPerformance; per store
 * a backup, then a restore of it into a new topic whose record count GetOffsetShell checks.
 * Writes bench/results/object-stores-<time>.json. Not part of the test command.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import {
  AZURE_ENDPOINT,
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  createAzureContainer,
  createGcsBucket,
  createS3Bucket,
  GCS_ENDPOINT,
  S3_CREDENTIALS,
  S3_ENDPOINT,
} from '../test/helpers/storage-servers.ts';
import {
  createTopic,
  deleteTopics,
  endOffsetSum,
  producerPerf,
  type ToolContext,
  waitTopicReady,
} from './kafka-tools.ts';
import { expectOk, findBrokerPid, type ProcResult, parseJsonOutput, runMeasured, StepFailed } from './proc.ts';
import { formatSize, MiB, parseSize } from './scenarios.ts';

const RSS_TARGET_MIB = 256;
const PARTITIONS = 8;
const RECORD_SIZE = 1024;

const root = resolve(new URL('..', import.meta.url).pathname);
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1GiB,4GiB' },
    size: { type: 'string' },
    stores: { type: 'string', default: 'filesystem,s3,azure,gcs' },
    steps: { type: 'string', default: 'backup,restore' },
    cli: { type: 'string', default: join(root, 'bin', 'kafka-backup.js') },
    sample: { type: 'boolean', default: false },
    topic: { type: 'string' },
    'node-options': { type: 'string', default: '' },
  },
});
const sizes = (values.size ?? values.sizes!).split(',').map(parseSize);
const steps = new Set(values.steps!.split(','));
const cliFile = resolve(values.cli!);
if (values.topic && sizes.length !== 1) throw new Error('--topic goes with a single --size');

function log(msg: string): void {
  process.stderr.write(`[object-stores ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

if (cliFile === join(root, 'bin', 'kafka-backup.js'))
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
execFileSync('bash', ['scripts/services.sh', 'start', 'kafka', 's3', 'azure', 'gcs'], { cwd: root, stdio: 'inherit' });
const ctx: ToolContext = { root, bootstrap: '127.0.0.1:19092', brokerPid: findBrokerPid(root), heap: '1g' };
const work = mkdtempSync(join(tmpdir(), 'kb-bench-stores-'));

interface Store {
  storage: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
}
const stores: Record<string, () => Promise<Store>> = {
  filesystem: async () => ({ storage: { path: mkdtempSync(join(work, 'fs-')) }, env: {} }),
  s3: async () => ({
    storage: {
      url: `s3://${await createS3Bucket('kb-bench')}/bench`,
      endpoint: S3_ENDPOINT,
      request_checksum_calculation: 'when_required',
    },
    env: { AWS_ACCESS_KEY_ID: S3_CREDENTIALS.access_key_id, AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secret_access_key },
  }),
  azure: async () => ({
    storage: {
      url: `azure://${AZURITE_ACCOUNT}/${await createAzureContainer('kb-bench')}/bench`,
      endpoint: AZURE_ENDPOINT,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: substituted by the config loader, from the environment
      account_key: '${AZ_KEY}',
    },
    env: { AZ_KEY: AZURITE_KEY },
  }),
  gcs: async () => ({
    storage: { url: `gs://${await createGcsBucket('kb-bench')}/bench`, endpoint: GCS_ENDPOINT },
    env: {},
  }),
};

/** Runs the CLI under /usr/bin/time, with the memory sampler when asked. */
async function cli(
  args: string[],
  env: NodeJS.ProcessEnv,
  sampleName: string,
): Promise<{ r: ProcResult; memory?: unknown }> {
  const sampleFile = join(work, `${sampleName}.mem.json`);
  const nodeOptions = [values['node-options'], values.sample ? `--import ${join(root, 'bench', 'mem-sampler.ts')}` : '']
    .filter(Boolean)
    .join(' ');
  const sampler = {
    ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
    ...(values.sample ? { KB_MEM_SAMPLE_FILE: sampleFile } : {}),
  };
  const script = /\.[cm]?[jt]s$/.test(cliFile);
  const r = await runMeasured(script ? process.execPath : cliFile, script ? [cliFile, ...args] : args, {
    cwd: root,
    env: { ...process.env, ...env, ...sampler },
    brokerPid: ctx.brokerPid,
  });
  const memory = values.sample && existsSync(sampleFile) ? JSON.parse(readFileSync(sampleFile, 'utf8')) : undefined;
  return { r, ...(memory ? { memory } : {}) };
}

const cpuS = (r: ProcResult) => (r.userS !== null && r.sysS !== null ? +(r.userS + r.sysS).toFixed(1) : null);
const rows: Record<string, unknown>[] = [];

for (const size of sizes) {
  const records = Math.floor(size / RECORD_SIZE);
  let topic = values.topic;
  const created: string[] = [];
  if (!topic) {
    topic = `bench-stores-${Date.now().toString(36)}`;
    await createTopic(ctx, topic, PARTITIONS);
    created.push(topic);
    await waitTopicReady(ctx, topic, PARTITIONS);
    log(`loading ${formatSize(size)} into ${topic}`);
    await producerPerf(ctx, topic, records, RECORD_SIZE, { acks: 'all', 'batch.size': 65536, 'linger.ms': 5 });
  }
  const loaded = (await endOffsetSum(ctx, topic)).records;
  for (const name of values.stores!.split(',')) {
    const make = stores[name];
    if (!make) throw new Error(`unknown store ${name}`);
    const { storage, env } = await make();
    const tag = `${name}-${Date.now().toString(36)}`;
    const backupId = `bench-${tag}`;
    const backupCfg = join(work, `${tag}-backup.yaml`);
    writeFileSync(
      backupCfg,
      stringify({
        backup_id: backupId,
        source: { bootstrap_servers: [ctx.bootstrap], topics: { include: [topic] } },
        storage,
      }),
    );
    const b = await cli(['-q', 'backup', '-c', backupCfg, '--format', 'json'], env, `${tag}-backup`);
    expectOk(`backup to ${name}`, b.r);
    const out = parseJsonOutput<{ records: number; raw_bytes: number; stored_bytes: number; files: number }>(
      `backup to ${name}`,
      b.r,
    );
    if (out.records !== loaded) throw new StepFailed(`${name}: backed up ${out.records} records, loaded ${loaded}`);
    const row: Record<string, unknown> = {
      size_gib: +(size / 1024 / MiB).toFixed(2),
      store: name,
      records: out.records,
      stored_mib: +(out.stored_bytes / MiB).toFixed(1),
      files: out.files,
      backup_wall_s: +b.r.wallS.toFixed(1),
      backup_mib_per_s: +(out.raw_bytes / MiB / b.r.wallS).toFixed(1),
      backup_cpu_s: cpuS(b.r),
      backup_peak_rss_mib: b.r.maxRssMiB === null ? null : Math.round(b.r.maxRssMiB),
      ...(b.memory ? { backup_memory: b.memory } : {}),
      load_avg_backup: b.r.loadAvg,
    };
    if (steps.has('restore')) {
      const target = `${topic}-r-${tag}`;
      created.push(target);
      const restoreCfg = join(work, `${tag}-restore.yaml`);
      writeFileSync(
        restoreCfg,
        stringify({
          backup_id: backupId,
          target: { bootstrap_servers: [ctx.bootstrap] },
          storage,
          restore: { restore_id: `bench-${tag}`, topic_mapping: { [topic]: target } },
        }),
      );
      const rr = await cli(['-q', 'restore', '-c', restoreCfg, '--format', 'json'], env, `${tag}-restore`);
      expectOk(`restore from ${name}`, rr.r);
      const ro = parseJsonOutput<{ records: number }>(`restore from ${name}`, rr.r);
      const count = (await endOffsetSum(ctx, target)).records;
      if (ro.records !== loaded || count !== loaded)
        throw new StepFailed(`${name}: restored ${ro.records} records (target holds ${count}), loaded ${loaded}`);
      Object.assign(row, {
        restore_wall_s: +rr.r.wallS.toFixed(1),
        restore_mib_per_s: +(out.raw_bytes / MiB / rr.r.wallS).toFixed(1),
        restore_cpu_s: cpuS(rr.r),
        restore_peak_rss_mib: rr.r.maxRssMiB === null ? null : Math.round(rr.r.maxRssMiB),
        ...(rr.memory ? { restore_memory: rr.memory } : {}),
        load_avg_restore: rr.r.loadAvg,
      });
      await deleteTopics(ctx, [target]);
      created.splice(created.indexOf(target), 1);
    }
    if (name === 'filesystem') rmSync(String(storage['path']), { recursive: true, force: true });
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  if (created.length) await deleteTopics(ctx, created);
}

const verdict = (v: unknown) => (typeof v === 'number' ? `${v}${v <= RSS_TARGET_MIB ? '' : ' (MISS)'}` : '-');
console.log(`\npeak RSS MiB (target <= ${RSS_TARGET_MIB}), ${values.cli}`);
console.log('size GiB  store        backup  restore   backup MiB/s  restore MiB/s');
for (const r of rows)
  console.log(
    `${String(r['size_gib']).padEnd(9)} ${String(r['store']).padEnd(12)} ${verdict(r['backup_peak_rss_mib']).padStart(7)} ${verdict(r['restore_peak_rss_mib']).padStart(8)} ${String(r['backup_mib_per_s']).padStart(14)} ${String(r['restore_mib_per_s'] ?? '-').padStart(14)}`,
  );
mkdirSync(join(root, 'bench/results'), { recursive: true });
const file = join(root, 'bench/results', `object-stores-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      cli: values.cli,
      node_options: values['node-options'],
      cpus: cpus().length,
      sizes,
      stores: values.stores,
      sample: values.sample,
      rows,
    },
    null,
    1,
  ),
);
rmSync(work, { recursive: true, force: true });
console.log(`wrote ${file}`);
