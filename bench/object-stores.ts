/**
 * A large backup to each object store (S3 on moto, Azure Blob on Azurite, GCS on
 * fake-gcs-server): throughput and peak RSS of `kafka-backup backup`, which streams data files
 * with multipart / block / resumable uploads in `storage.buffer_size` parts.
 *
 *   node bench/object-stores.ts [--size 1GiB] [--stores s3,azure,gcs]
 *
 * Writes bench/results/object-stores-<time>.json. Not part of the test command.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
import { expectOk, findBrokerPid, parseJsonOutput, runMeasured } from './proc.ts';
import { MiB, parseSize } from './scenarios.ts';

const root = new URL('..', import.meta.url).pathname;
const { values } = parseArgs({
  options: { size: { type: 'string', default: '1GiB' }, stores: { type: 'string', default: 's3,azure,gcs' } },
});
const size = parseSize(values.size!);
const recordSize = 1024;
const records = Math.floor(size / recordSize);

execFileSync('bash', ['scripts/services.sh', 'start', 'kafka', 's3', 'azure', 'gcs'], { cwd: root, stdio: 'inherit' });
const ctx: ToolContext = { root, bootstrap: '127.0.0.1:19092', brokerPid: findBrokerPid(root), heap: '1g' };
const topic = `bench-stores-${Date.now().toString(36)}`;
await createTopic(ctx, topic, 8);
await waitTopicReady(ctx, topic, 8);
await producerPerf(ctx, topic, records, recordSize, { acks: 'all', 'batch.size': 65536, 'linger.ms': 5 });
const loaded = (await endOffsetSum(ctx, topic)).records;

const stores: Record<string, () => Promise<{ storage: Record<string, unknown>; env: NodeJS.ProcessEnv }>> = {
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

const dir = mkdtempSync(join(tmpdir(), 'kb-bench-stores-'));
const rows: Record<string, unknown>[] = [];
for (const name of values.stores!.split(',')) {
  const make = stores[name];
  if (!make) throw new Error(`unknown store ${name}`);
  const { storage, env } = await make();
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(
    cfg,
    stringify({
      backup_id: `bench-${name}`,
      source: { bootstrap_servers: [ctx.bootstrap], topics: { include: [topic] } },
      storage,
    }),
  );
  const r = expectOk(
    `backup to ${name}`,
    await runMeasured(
      process.execPath,
      ['src/cli/main.ts', '--log-level', 'warn', 'backup', '-c', cfg, '--format', 'json'],
      {
        cwd: root,
        env: { ...process.env, ...env },
        brokerPid: ctx.brokerPid,
      },
    ),
  );
  const out = parseJsonOutput<{ records: number; raw_bytes: number; stored_bytes: number; files: number }>(
    `backup to ${name}`,
    r,
  );
  if (out.records !== loaded) throw new Error(`${name}: backed up ${out.records} records, loaded ${loaded}`);
  const row = {
    store: name,
    records: out.records,
    raw_mib: +(out.raw_bytes / MiB).toFixed(1),
    stored_mib: +(out.stored_bytes / MiB).toFixed(1),
    files: out.files,
    wall_s: +r.wallS.toFixed(1),
    mib_per_s: +(out.raw_bytes / MiB / r.wallS).toFixed(1),
    cpu_s: r.userS !== null && r.sysS !== null ? +(r.userS + r.sysS).toFixed(1) : null,
    peak_rss_mib: r.maxRssMiB,
    broker_cpu_s: r.brokerCpuS,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
await deleteTopics(ctx, [topic]);
mkdirSync(join(root, 'bench/results'), { recursive: true });
const file = join(root, 'bench/results', `object-stores-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ size, records: loaded, rows }, null, 1));
console.log(`wrote ${file}`);
