/**
 * Metadata of a real continuous backup: the CLI backs up a many-partition topic that Kafka's
 * ProducerPerformance writes at a steady rate, rolling files every few seconds, and every 10 s
 * the store is measured: data bytes, metadata bytes (everything of the line but data files and
 * the lease), commits and their sizes. Afterwards validate --deep, and the line's record count
 * against Kafka's GetOffsetShell.
 *
 *   node bench/continuous-metadata.ts [--minutes 10] [--partitions 100] [--rate 2000]
 *                                     [--record-size 200] [--roll-secs 2] [--checkpoint-secs 1]
 *
 * Writes bench/results/continuous-metadata-<time>.json. Exits non-zero only when the pipeline
 * is broken (a step fails, or record counts differ), never because of a figure.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { createTopic, deleteTopics, endOffsetSum, type ToolContext, waitTopicReady } from './kafka-tools.ts';
import { findBrokerPid } from './proc.ts';

const root = resolve(new URL('..', import.meta.url).pathname);
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    partitions: { type: 'string', default: '100' },
    rate: { type: 'string', default: '2000' },
    'record-size': { type: 'string', default: '200' },
    'roll-secs': { type: 'string', default: '2' },
    'checkpoint-secs': { type: 'string', default: '1' },
  },
});
const minutes = Number(values.minutes);
const partitions = Number(values.partitions);
const rate = Number(values.rate);
const recordSize = Number(values['record-size']);
const node = process.execPath;

execFileSync('bash', ['scripts/services.sh', 'start', 'kafka'], { cwd: root, stdio: 'inherit' });
const ctx: ToolContext = { root, bootstrap: '127.0.0.1:19092', brokerPid: findBrokerPid(root), heap: '512m' };
const topic = `bench-cont-${Date.now().toString(36)}`;
await createTopic(ctx, topic, partitions);
await waitTopicReady(ctx, topic, partitions);

const dir = mkdtempSync(join(tmpdir(), 'kb-bench-cont-'));
const store = join(dir, 'store');
const config = join(dir, 'backup.yaml');
writeFileSync(
  config,
  stringify({
    backup_id: 'cont',
    source: { bootstrap_servers: [ctx.bootstrap], topics: { include: [topic] } },
    storage: { backend: 'filesystem', path: store },
    backup: {
      mode: 'continuous',
      segment_max_interval_secs: Number(values['roll-secs']),
      checkpoint_interval_secs: Number(values['checkpoint-secs']),
      max_concurrent_partitions: partitions,
      // every partition holds a slot: smaller blocks keep the memory budget (2 x this per partition)
      max_batch_bytes: 262_144,
    },
  }),
);

const total = rate * minutes * 60;
const producer = spawn(
  'bash',
  [
    'scripts/kafka-tool.sh',
    'org.apache.kafka.tools.ProducerPerformance',
    '--topic',
    topic,
    '--num-records',
    String(total),
    '--record-size',
    String(recordSize),
    '--throughput',
    String(rate),
    '--producer-props',
    `bootstrap.servers=${ctx.bootstrap}`,
    'acks=all',
    'linger.ms=20',
  ],
  { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, KB_TOOL_HEAP: '384m' } },
);
const backup = spawn(node, ['src/cli/main.ts', 'backup', '-c', config, '--quiet', '--log-level', 'warn'], {
  cwd: root,
  stdio: ['ignore', 'ignore', 'inherit'],
});
const backupDone = new Promise<number | null>((r) => backup.on('exit', (code) => r(code)));
const producerDone = new Promise<number | null>((r) => producer.on('exit', (code) => r(code)));

function sizes(): { data: number; metadata: number; commits: number[] } {
  const line = join(store, 'cont');
  let data = 0;
  let metadata = 0;
  const commits: number[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(line, { recursive: true, encoding: 'utf8' });
  } catch {
    return { data, metadata, commits };
  }
  for (const n of names) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(join(line, n));
    } catch {
      continue; // a temporary file renamed meanwhile
    }
    if (!st.isFile() || n.includes('.kb-tmp-') || n === 'lease.json') continue;
    if (n.startsWith('data/')) data += st.size;
    else metadata += st.size;
    if (n.startsWith('log/')) commits.push(st.size);
  }
  return { data, metadata, commits };
}

const samples: { t: number; data: number; metadata: number; commits: number; commit_bytes: number }[] = [];
const started = Date.now();
let prevCommits = 0;
let prevCommitBytes = 0;
while (Date.now() - started < minutes * 60_000) {
  await new Promise((r) => setTimeout(r, 10_000));
  const s = sizes();
  const commitBytes = s.commits.reduce((a, b) => a + b, 0);
  samples.push({
    t: Math.round((Date.now() - started) / 1000),
    data: s.data,
    metadata: s.metadata,
    commits: s.commits.length - prevCommits,
    commit_bytes: commitBytes - prevCommitBytes,
  });
  prevCommits = s.commits.length;
  prevCommitBytes = commitBytes;
  const last = samples.at(-1)!;
  process.stderr.write(
    `${last.t}s data ${(s.data / 1048576).toFixed(1)} MiB metadata ${(s.metadata / 1048576).toFixed(2)} MiB (${((100 * s.metadata) / Math.max(1, s.data)).toFixed(1)} %), ${last.commits} commits ${last.commit_bytes} B in the last 10 s\n`,
  );
}
const producerCode = await producerDone;
await new Promise((r) => setTimeout(r, 8_000)); // the last records reach a file and a commit
backup.kill('SIGTERM');
const backupCode = await backupDone;
const final = sizes();
const validate = spawn(
  node,
  ['src/cli/main.ts', 'validate', '--path', store, '--backup-id', 'cont', '--deep', '--format', 'json'],
  {
    cwd: root,
  },
);
let vOut = '';
validate.stdout.on('data', (d) => {
  vOut += d;
});
const validateCode = await new Promise<number | null>((r) => validate.on('exit', (code) => r(code)));
const report = JSON.parse(vOut) as { ok: boolean; files_listed: number };
const describeOut = execFileSync(
  node,
  ['src/cli/main.ts', 'describe', '--path', store, '--backup-id', 'cont', '--format', 'json'],
  {
    cwd: root,
    encoding: 'utf8',
  },
).toString();
const described = JSON.parse(describeOut) as { totals: { records: number } };
const source = await endOffsetSum(ctx, topic);
await deleteTopics(ctx, [topic]);

const perCheckpoint = (from: number, to: number) => {
  const window = samples.filter((s) => s.t > from && s.t <= to);
  const commits = window.reduce((a, s) => a + s.commits, 0);
  const bytes = window.reduce((a, s) => a + s.commit_bytes, 0);
  return commits ? Math.round(bytes / commits) : 0;
};
const result = {
  params: {
    minutes,
    partitions,
    rate,
    record_size: recordSize,
    roll_secs: values['roll-secs'],
    checkpoint_secs: values['checkpoint-secs'],
  },
  data_bytes: final.data,
  metadata_bytes: final.metadata,
  metadata_ratio: final.metadata / Math.max(1, final.data),
  commits: final.commits.length,
  commit_bytes_first_minute: perCheckpoint(0, 60),
  commit_bytes_last_minute: perCheckpoint(minutes * 60 - 60, minutes * 60 + 60),
  records_in_line: described.totals.records,
  records_in_source: source.records,
  validate_ok: report.ok,
  files: report.files_listed,
  exit_codes: { producer: producerCode, backup: backupCode, validate: validateCode },
  samples,
};
const out = join(root, 'bench/results', `continuous-metadata-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify({ ...result, samples: undefined }, null, 2)}\nresults: ${out}\n`);
const broken = backupCode !== 0 || validateCode !== 0 || result.records_in_line !== result.records_in_source;
if (broken) {
  process.stderr.write('error: pipeline broken (exit codes or record counts above)\n');
  process.exit(1);
}
