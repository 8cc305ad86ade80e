/**
 * Benchmark of kafka-backup against Kafka's own tools, on the real broker (docs/performance.md).
 *
 *   npm run bench -- [--scenario NAME[,NAME…]|all] [--size 1GiB] [--runs N] [--profile] [--smoke]
 *   npm run bench -- --scenario startup                    (only --version, --help, `restore --help`, `config validate`)
 *   npm run bench -- --scenario repository [--smoke]        (bench/repository.ts: metadata over 30 simulated days)
 *   npm run bench -- --scenario continuous-metadata        (bench/continuous-metadata.ts: a real 10-minute run)
 *   npm run bench -- --scenario object-stores [--sizes 1GiB,4GiB]  (bench/object-stores.ts: peak RSS per backend)
 *   npm run bench -- --scenario schema-registry [--records N] [--runs N]  (bench/schema-registry.ts: restore with remap_ids vs without)
 *                    [--steps backup,validate,restore] [--codecs none,default,zstd3] [--keep] [--cli FILE]
 *                    [--precreate-restore-topic] [--encrypt]
 *
 * Per scenario: create a topic, load it with ProducerPerformance, then `--runs` times (median
 * reported) measure the ceilings (ConsumerPerformance, ProducerPerformance, the validate
 * ceiling) and our CLI (backup with each codec, validate --deep, restore into a new topic), each
 * as a child process measured from outside (CPU seconds, peak RSS). Prints a table and writes
 * bench/results/<timestamp>.json. Exits non-zero only when the pipeline is broken (a step
 * fails, or record counts do not match) — never because of speed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encryptionSettings } from '../src/crypto/settings.ts';
import { withEncryption } from '../src/crypto/storage.ts';
import { BackupLine } from '../src/repository/line.ts';
import { FilesystemBackend } from '../src/storage/filesystem.ts';
import {
  consumerPerf,
  createTopic,
  deleteTopics,
  endOffsetSum,
  type PerfResult,
  producerPerf,
  type ToolContext,
  waitTopicReady,
} from './kafka-tools.ts';
import { expectOk, findBrokerPid, type ProcResult, parseJsonOutput, runMeasured, StepFailed } from './proc.ts';
import { type ProfileSummary, renderSummary, summarizeProfile } from './profile-summary.ts';
import { formatSize, MiB, parseSize, SCENARIOS, type Scenario } from './scenarios.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results');
const BOOTSTRAP = process.env['KB_BENCH_BOOTSTRAP'] ?? `127.0.0.1:${process.env['KB_KAFKA_PORT'] ?? '19092'}`;
const RSS_TARGET_MIB = 256;
/** What users run (`kafka-backup`): the compiled CLI, built at the start of the bench. */
const INSTALLED_CLI = join(ROOT, 'bin', 'kafka-backup.js');

// ---------------------------------------------------------------------------------------------
// a quiet machine for each step

/**
 * Called before every measured step, so that each step pays for its own work only: waits until
 * the broker has removed the files of topics deleted so far (file.delete.delay.ms is 1 s on
 * the project's broker) and writes the page cache's dirty data out. Otherwise the kernel
 * flushes a step's writes 30 s later (vm.dirty_expire_centisecs), in the middle of whatever
 * runs then, and one run in three of either side came out 30-40 % slower.
 */
async function quiesce(ctx: { root: string }): Promise<void> {
  const dataDir = join(process.env.KB_STATE_DIR ?? join(ctx.root, '.services'), 'kafka', 'data');
  for (let waited = 0; waited < 30_000; waited += 250) {
    let pending: string[];
    try {
      pending = readdirSync(dataDir).filter((d) => d.endsWith('-delete'));
    } catch {
      break;
    }
    if (pending.length === 0) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  spawnSync('sync');
}

// ---------------------------------------------------------------------------------------------
// arguments

type StepGroup = 'backup' | 'validate' | 'restore';
type Codec = 'none' | 'default' | 'zstd3';
const CODECS: Record<Codec, { label: string; yaml: string }> = {
  none: { label: 'backup none', yaml: 'compression: none' },
  default: { label: 'backup zstd-1 (default)', yaml: '' },
  zstd3: { label: 'backup zstd-3', yaml: 'compression: zstd\n  compression_level: 3' },
};

interface Args {
  scenarios: Scenario[];
  size: number | undefined;
  runs: number;
  profile: boolean;
  smoke: boolean;
  keep: boolean;
  steps: Set<StepGroup>;
  codecs: Codec[];
  /** Create the restore's target topic beforehand (works around restore failing on a just-created topic with many partitions). */
  precreateRestoreTopic: boolean;
  /** Client-side encryption on every backup line (a raw key in a temporary file; docs/security.md). */
  encrypt: boolean;
  /** Entry point of the CLI under test (A/B runs against another checkout). */
  cli: string;
  /** `--scenario startup`: only the start-up figures, no data scenario (and no broker). */
  startupOnly: boolean;
}

function usage(): never {
  process.stderr.write(
    [
      'usage: node bench/run.ts [--scenario NAME[,NAME...]|all|startup] [--size 1GiB] [--runs N] [--profile] [--smoke]',
      '                         [--steps backup,validate,restore] [--codecs none,default,zstd3] [--keep] [--cli FILE] [--precreate-restore-topic] [--encrypt]',
      `scenarios: ${Object.values(SCENARIOS)
        .map((s) => `${s.name} (${s.description}, ${formatSize(s.defaultSize)})`)
        .join('; ')}`,
      '',
    ].join('\n'),
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    scenarios: [],
    size: undefined,
    runs: 3,
    profile: false,
    smoke: false,
    keep: false,
    steps: new Set(['backup', 'validate', 'restore']),
    codecs: ['none', 'default', 'zstd3'],
    cli: process.env['KB_BENCH_CLI'] ?? INSTALLED_CLI,
    precreateRestoreTopic: false,
    encrypt: false,
    startupOnly: false,
  };
  let runsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) usage();
      return v;
    };
    switch (flag) {
      case '--scenario':
      case '--scenarios':
        for (const name of value().split(',')) {
          if (name === 'all') a.scenarios.push(...Object.values(SCENARIOS));
          else if (name === 'startup') a.startupOnly = true;
          else {
            const s = SCENARIOS[name];
            if (!s) {
              process.stderr.write(`unknown scenario '${name}'\n`);
              usage();
            }
            a.scenarios.push(s);
          }
        }
        break;
      case '--size':
        a.size = parseSize(value());
        break;
      case '--runs':
        a.runs = Number(value());
        runsGiven = true;
        if (!Number.isInteger(a.runs) || a.runs < 1) usage();
        break;
      case '--profile':
        a.profile = true;
        break;
      case '--smoke':
        a.smoke = true;
        break;
      case '--keep':
        a.keep = true;
        break;
      case '--steps':
        a.steps = new Set(value().split(',') as StepGroup[]);
        for (const s of a.steps) if (!['backup', 'validate', 'restore'].includes(s)) usage();
        break;
      case '--codecs':
        a.codecs = value().split(',') as Codec[];
        for (const c of a.codecs) if (!(c in CODECS)) usage();
        break;
      case '--precreate-restore-topic':
        a.precreateRestoreTopic = true;
        break;
      case '--encrypt':
        a.encrypt = true;
        break;
      case '--cli':
        a.cli = resolve(value());
        break;
      case '--help':
      case '-h':
        usage();
        break;
      default:
        process.stderr.write(`unknown argument '${arg}'\n`);
        usage();
    }
  }
  if (a.scenarios.length === 0 && !a.startupOnly) a.scenarios.push(SCENARIOS['main']!);
  if (a.smoke) {
    a.scenarios = [SCENARIOS['main']!];
    a.size ??= 5 * MiB;
    if (!runsGiven) a.runs = 1;
    a.profile = false;
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// measurements

interface Sample {
  run: number;
  /** Seconds the step's rate is computed from (see docs/performance.md, "What is timed"). */
  seconds: number;
  wall_s: number;
  cpu_s: number | null;
  max_rss_mib: number | null;
  broker_cpu_s: number | null;
  /** CPU seconds used by other processes on the machine during the step (noise indicator). */
  other_cpu_s: number | null;
  load_avg: number | null;
  detail?: Record<string, unknown>;
}

interface StepSummary {
  step: string;
  ceiling_of?: string[];
  ceiling?: string;
  records: number;
  payload_bytes: number;
  samples: Sample[];
  median_seconds: number;
  records_per_sec: number;
  mib_per_sec: number;
  ratio?: number;
  target_ratio?: number;
  cpu_s?: number | null;
  max_rss_mib?: number | null;
  rss_target_mib?: number;
  profile?: ProfileSummary[];
  note?: string;
}

interface ScenarioResult {
  scenario: string;
  description: string;
  topic: string;
  records: number;
  record_size: number;
  partitions: number;
  payload_bytes: number;
  load: {
    producer_props: Record<string, string | number | boolean>;
    seconds: number;
    records_per_sec: number;
    mib_per_sec: number;
  };
  backup_shape?: Record<string, unknown>;
  cli_startup_s?: number;
  steps: StepSummary[];
  error?: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function sampleOf(run: number, seconds: number, p: ProcResult, detail?: Record<string, unknown>): Sample {
  return {
    run,
    seconds,
    wall_s: p.wallS,
    cpu_s: p.userS !== null && p.sysS !== null ? p.userS + p.sysS : null,
    max_rss_mib: p.maxRssMiB,
    broker_cpu_s: p.brokerCpuS,
    other_cpu_s: p.otherCpuS,
    load_avg: p.loadAvg,
    ...(detail ? { detail } : {}),
  };
}

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------
// our CLI

interface Ctx extends ToolContext {
  args: Args;
  tag: string;
  work: string;
  profileDir: string;
}

/**
 * The command line that runs `file`: a script through this Node, anything else (the single
 * executable, `--cli dist/kafka-backup`) directly; --cpu-prof then goes in through NODE_OPTIONS.
 */
function cliCommand(file: string, nodeFlags: string[], cliArgs: string[]): [string, string[], NodeJS.ProcessEnv] {
  if (/\.[cm]?[jt]s$/.test(file)) return [process.execPath, [...nodeFlags, file, ...cliArgs], process.env];
  const env = nodeFlags.length ? { ...process.env, NODE_OPTIONS: nodeFlags.join(' ') } : process.env;
  return [file, cliArgs, env];
}

async function cli(ctx: Ctx, profileName: string | null, cliArgs: string[]): Promise<ProcResult> {
  const node: string[] = [];
  if (profileName) node.push('--cpu-prof', '--cpu-prof-dir', join(ctx.profileDir, profileName));
  const [cmd, argv, env] = cliCommand(ctx.args.cli, node, ['-q', ...cliArgs]);
  return runMeasured(cmd, argv, { cwd: ctx.root, env, brokerPid: ctx.brokerPid });
}

// ---------------------------------------------------------------------------------------------
// start-up: --version and --help, for the CLI under test and the single executable (issue 17)

/** Targets for the executable (issue 17): a command that loads little starts in this much. */
const STARTUP_TARGET = { wall_ms: 150, rss_mib: 60 };
/** The single executable (`npm run package`), measured next to the CLI under test. */
const EXECUTABLE = join(ROOT, 'dist', 'kafka-backup');

interface StartupResult {
  cli: string;
  command: string;
  runs: number;
  wall_ms_median: number;
  wall_ms_max: number;
  max_rss_mib: number | null;
  /** 1-minute load average after the runs (wall times mean little when it is high). */
  load_avg: number | null;
  /** Whether the issue's targets apply (--version and help; not config validate). */
  judged: boolean;
}

/**
 * --version, --help and a command's help, which the targets are for, and `config validate` of
 * a small filesystem config, which loads the config layer but no Kafka client or storage SDK.
 */
function startupCommands(): { args: string[]; judged: boolean }[] {
  const dir = mkdtempSync(join(tmpdir(), 'kb-bench-startup-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    'backup_id: startup\nsource:\n  bootstrap_servers: [127.0.0.1:9092]\n  topics:\n    include: [t]\nstorage:\n  backend: filesystem\n  path: /tmp/kb-bench-startup\n',
  );
  return [
    { args: ['--version'], judged: true },
    { args: ['--help'], judged: true },
    { args: ['restore', '--help'], judged: true },
    { args: ['config', 'validate', '-c', config], judged: false },
  ];
}

async function startup(file: string, runs: number): Promise<StartupResult[]> {
  const results: StartupResult[] = [];
  for (const { args: command, judged } of startupCommands()) {
    const walls: number[] = [];
    let rss: number | null = null;
    let load: number | null = null;
    for (let i = 0; i < runs; i++) {
      const [cmd, argv, env] = cliCommand(file, [], command);
      const p = expectOk(`${file} ${command.join(' ')}`, await runMeasured(cmd, argv, { cwd: ROOT, env }));
      walls.push(p.wallS * 1000);
      if (p.maxRssMiB !== null) rss = Math.max(rss ?? 0, p.maxRssMiB);
      load = p.loadAvg;
    }
    results.push({
      cli: file.slice(ROOT.length + 1),
      command: command.map((a) => (a.startsWith('/') ? basename(a) : a)).join(' '),
      runs,
      wall_ms_median: Math.round(median(walls)),
      wall_ms_max: Math.round(Math.max(...walls)),
      max_rss_mib: rss === null ? null : Math.round(rss * 10) / 10,
      load_avg: load,
      judged,
    });
  }
  return results;
}

function renderStartup(rows: StartupResult[]): string {
  const verdict = (r: StartupResult) =>
    r.judged && r.cli === EXECUTABLE.slice(ROOT.length + 1)
      ? `${r.wall_ms_median <= STARTUP_TARGET.wall_ms ? 'ok' : 'MISS'} / ${r.max_rss_mib !== null && r.max_rss_mib <= STARTUP_TARGET.rss_mib ? 'ok' : 'MISS'}`
      : '';
  const lines = rows.map(
    (r) =>
      `${r.cli.padEnd(22)} ${r.command.padEnd(30)} ${String(r.wall_ms_median).padStart(9)} ${String(r.wall_ms_max).padStart(6)} ${String(r.max_rss_mib ?? '-').padStart(12)} ${String(r.load_avg ?? '-').padStart(5)}  ${verdict(r)}`,
  );
  return [
    `== start-up, ${rows[0]?.runs ?? 0} runs each (targets for the executable's --version and help: ${STARTUP_TARGET.wall_ms} ms median wall, ${STARTUP_TARGET.rss_mib} MiB peak RSS)`,
    `${'cli'.padEnd(22)} ${'command'.padEnd(30)} median ms max ms peak RSS MiB  load  target wall / RSS`,
    ...lines,
  ].join('\n');
}

function writeConfig(ctx: Ctx, name: string, text: string): string {
  const path = join(ctx.work, 'configs', `${name}.yaml`);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return path;
}

interface BackupOut {
  state: string;
  duration_ms: number;
  records: number;
  raw_bytes: number;
  stored_bytes: number;
  files: number;
}

async function backup(ctx: Ctx, topic: string, backupId: string, codec: Codec, profileName: string | null) {
  const config = writeConfig(
    ctx,
    backupId,
    [
      `backup_id: ${backupId}`,
      'source:',
      `  bootstrap_servers: ["${ctx.bootstrap}"]`,
      `  topics: { include: ["${topic}"] }`,
      `storage: { path: "${join(ctx.work, 'store')}" }`,
      ...(CODECS[codec].yaml || ctx.args.encrypt ? ['backup:'] : []),
      ...(CODECS[codec].yaml ? [`  ${CODECS[codec].yaml}`] : []),
      // readers (validate, restore, backupShape) take the key from KB_ENCRYPTION_KEY_FILE
      ...(ctx.args.encrypt
        ? [`  encryption: { enabled: true, provider: raw, key_file: "${process.env['KB_ENCRYPTION_KEY_FILE']}" }`]
        : []),
      '',
    ].join('\n'),
  );
  const p = expectOk(`backup ${backupId}`, await cli(ctx, profileName, ['backup', '-c', config, '--format', 'json']));
  const out = parseJsonOutput<BackupOut>(`backup ${backupId}`, p);
  return { p, out };
}

function dirStats(dir: string): { objects: number; bytes: number } {
  let objects = 0;
  let bytes = 0;
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const st = statSync(join(dir, f));
    if (st.isFile()) {
      objects++;
      bytes += st.size;
    }
  }
  return { objects, bytes };
}

/** Shape of a backup line on disk: objects, metadata sizes, batches (for the average batch size). */
async function backupShape(store: string, backupId: string): Promise<Record<string, unknown>> {
  const line = join(store, backupId);
  const all = dirStats(line);
  const data = dirStats(join(line, 'data'));
  const storage = withEncryption(new FilesystemBackend({ path: store }), encryptionSettings(undefined));
  const m = (await new BackupLine(storage, backupId).latest())!;
  await storage.close();
  let batches = 0;
  let rawBytes = 0;
  let partitions = 0;
  let nonEmpty = 0;
  for (const t of Object.values(m.topics))
    for (const p of Object.values(t.partitions)) {
      partitions++;
      if (p.files.length > 0) nonEmpty++;
      for (const f of p.files) {
        batches += f.batches;
        rawBytes += f.raw_bytes;
      }
    }
  return {
    objects: all.objects,
    total_bytes: all.bytes,
    data_files: data.objects,
    data_bytes: data.bytes,
    metadata_objects: all.objects - data.objects,
    metadata_bytes: all.bytes - data.bytes,
    commits: m.generation,
    partitions,
    partitions_with_data: nonEmpty,
    batches,
    avg_batch_bytes: batches > 0 ? Math.round(rawBytes / batches) : 0,
  };
}

// ---------------------------------------------------------------------------------------------
// one scenario

async function runScenario(base: Omit<Ctx, 'tag' | 'work' | 'profileDir'>, s: Scenario): Promise<ScenarioResult> {
  const { args } = base;
  const tag = `${Date.now().toString(36)}`;
  const ctx: Ctx = {
    ...base,
    tag,
    work: join(RESULTS, `work-${s.name}-${tag}`),
    profileDir: join(RESULTS, 'profiles', `${s.name}-${tag}`),
  };
  const size = args.size ?? s.defaultSize;
  const records = Math.max(1, Math.floor(size / s.recordSize));
  const payload = records * s.recordSize;
  const topic = `bench-${s.name}-${tag}`;
  const created: string[] = [];
  const loadProps = {
    acks: 'all',
    'batch.size': s.batchSize,
    'linger.ms': s.lingerMs,
    'compression.type': s.compression,
  };
  const result: ScenarioResult = {
    scenario: s.name,
    description: s.description,
    topic,
    records,
    record_size: s.recordSize,
    partitions: s.partitions,
    payload_bytes: payload,
    load: { producer_props: loadProps, seconds: 0, records_per_sec: 0, mib_per_sec: 0 },
    steps: [],
  };
  const samples = new Map<string, Sample[]>();
  const add = (step: string, sample: Sample) => {
    const list = samples.get(step) ?? [];
    list.push(sample);
    samples.set(step, list);
  };
  const profiles = new Map<string, string>();
  const profileName = (step: string, run: number) => {
    if (!args.profile) return null;
    const name = `${step.replace(/[^a-z0-9]+/gi, '-')}-r${run}`;
    if (!profiles.has(step)) profiles.set(step, name);
    return name;
  };
  const perfSample = (run: number, r: PerfResult) => sampleOf(run, r.seconds, r.proc, r.detail);

  mkdirSync(ctx.work, { recursive: true });
  try {
    log(
      `${s.name}: ${s.description}; ${records} records (${formatSize(payload)}), ${s.partitions} partitions -> ${topic}`,
    );
    await createTopic(ctx, topic, s.partitions);
    created.push(topic);
    if (s.partitions > 100) await waitTopicReady(ctx, topic, s.partitions);
    const load = await producerPerf(ctx, topic, records, s.recordSize, loadProps);
    result.load = {
      ...result.load,
      seconds: load.seconds,
      records_per_sec: load.detail['records_per_sec']!,
      mib_per_sec: load.detail['mib_per_sec']!,
    };
    const loaded = await endOffsetSum(ctx, topic);
    if (loaded.records !== records)
      throw new StepFailed(`loaded ${loaded.records} records into ${topic}, expected ${records}`);
    log(`${s.name}: loaded in ${load.seconds.toFixed(1)}s (${load.detail['mib_per_sec']} MiB/s)`);

    const wantBackup = args.steps.has('backup');
    const needDefault = args.steps.has('validate') || args.steps.has('restore');
    let keptBackup: string | null = null;
    const store = join(ctx.work, 'store');

    // backup and its ceiling, interleaved run by run
    for (let run = 1; run <= args.runs; run++) {
      if (wantBackup) {
        await quiesce(ctx);
        const c = await consumerPerf(ctx, topic, records, `bench-${tag}-${run}`);
        add('consumer-perf', perfSample(run, c));
        log(`${s.name} run ${run}: ConsumerPerformance ${(payload / MiB / c.seconds).toFixed(1)} MiB/s`);
      }
      const codecs: Codec[] = wantBackup ? [...args.codecs] : [];
      if (needDefault && run === args.runs && !codecs.includes('default')) codecs.push('default');
      for (const codec of codecs) {
        const id = `${s.name}-${codec}-${tag}-${run}`;
        const step = CODECS[codec].label;
        await quiesce(ctx);
        const { p, out } = await backup(ctx, topic, id, codec, profileName(step, run));
        if (out.state !== 'complete' || out.records !== records)
          throw new StepFailed(
            `${step}: state ${out.state}, ${out.records} records, expected complete with ${records}`,
          );
        if (wantBackup && args.codecs.includes(codec))
          add(
            step,
            sampleOf(run, out.duration_ms / 1000, p, {
              raw_bytes: out.raw_bytes,
              stored_bytes: out.stored_bytes,
              files: out.files,
              stored_ratio: out.stored_bytes / out.raw_bytes,
            }),
          );
        log(
          `${s.name} run ${run}: ${step} ${(payload / MiB / (out.duration_ms / 1000)).toFixed(1)} MiB/s, rss ${p.maxRssMiB?.toFixed(0)} MiB`,
        );
        if (codec === 'default' && run === args.runs) {
          keptBackup = id;
          result.backup_shape = { ...(await backupShape(store, id)), backup_seconds: out.duration_ms / 1000 };
        } else if (!args.keep) rmSync(join(store, id), { recursive: true, force: true });
      }
    }

    if (keptBackup && args.steps.has('validate')) {
      const starts: number[] = [];
      for (let i = 0; i < 3; i++) starts.push(expectOk('cli --version', await cli(ctx, null, ['--version'])).wallS);
      result.cli_startup_s = median(starts);
      const dataDir = join(store, keptBackup, 'data');
      for (let run = 1; run <= args.runs; run++) {
        await quiesce(ctx);
        const cp = expectOk(
          'validate ceiling',
          await runMeasured(process.execPath, ['bench/validate-ceiling.ts', dataDir, '4', 'crc32c'], {
            cwd: ctx.root,
            brokerPid: ctx.brokerPid,
          }),
        );
        const ceil = parseJsonOutput<{ elapsed_ms: number; files: number; bytes: number; raw_bytes: number }>(
          'validate ceiling',
          cp,
        );
        add('validate ceiling', sampleOf(run, ceil.elapsed_ms / 1000, cp, { files: ceil.files, bytes: ceil.bytes }));
        await quiesce(ctx);
        const vp = expectOk(
          'validate --deep',
          await cli(ctx, profileName('validate --deep', run), [
            'validate',
            '--path',
            store,
            '--backup-id',
            keptBackup,
            '--deep',
            '--format',
            'json',
          ]),
        );
        const rep = parseJsonOutput<{ ok: boolean; files_listed: number; files_read: number; bytes_read: number }>(
          'validate',
          vp,
        );
        if (!rep.ok || rep.files_read !== rep.files_listed || rep.files_read !== ceil.files)
          throw new StepFailed(
            `validate --deep: ok ${rep.ok}, read ${rep.files_read} of ${rep.files_listed} files (ceiling read ${ceil.files})`,
          );
        add(
          'validate --deep',
          sampleOf(run, Math.max(vp.wallS - result.cli_startup_s, 0.001), vp, {
            bytes_read: rep.bytes_read,
            // the work is too short to tell apart from start-up: no rate, no ratio
            startup_dominated: vp.wallS - result.cli_startup_s < 0.1,
          }),
        );
        log(
          `${s.name} run ${run}: validate --deep ${vp.wallS.toFixed(2)}s wall, ceiling ${(ceil.elapsed_ms / 1000).toFixed(2)}s`,
        );
      }
    }

    if (keptBackup && args.steps.has('restore')) {
      const ceilingProps = {
        acks: 'all',
        'enable.idempotence': true,
        'max.in.flight.requests.per.connection': 5,
        'batch.size': s.batchSize,
        'linger.ms': s.lingerMs,
        'compression.type': s.compression,
      };
      for (let run = 1; run <= args.runs; run++) {
        const ct = `${topic}-p${run}`;
        await createTopic(ctx, ct, s.partitions);
        created.push(ct);
        if (s.partitions > 100) await waitTopicReady(ctx, ct, s.partitions);
        await quiesce(ctx);
        const pp = await producerPerf(ctx, ct, records, s.recordSize, ceilingProps);
        add('producer-perf', perfSample(run, pp));
        if (!args.keep) await deleteTopics(ctx, [ct]);
        log(`${s.name} run ${run}: ProducerPerformance ${(payload / MiB / pp.seconds).toFixed(1)} MiB/s`);

        const rt = `${topic}-r${run}`;
        const config = writeConfig(
          ctx,
          `restore-${run}`,
          [
            `backup_id: ${keptBackup}`,
            'target:',
            `  bootstrap_servers: ["${ctx.bootstrap}"]`,
            `storage: { path: "${store}" }`,
            'restore:',
            `  restore_id: bench-${tag}-${run}`,
            `  topic_mapping: { "${topic}": "${rt}" }`,
            '',
          ].join('\n'),
        );
        created.push(rt);
        if (args.precreateRestoreTopic) {
          await createTopic(ctx, rt, s.partitions);
          await waitTopicReady(ctx, rt, s.partitions);
        }
        await quiesce(ctx);
        const rp = expectOk(
          `restore run ${run}`,
          await cli(ctx, profileName('restore', run), ['restore', '-c', config, '--format', 'json']),
        );
        const out = parseJsonOutput<{ records: number; duration_ms: number; bytes: number }>('restore', rp);
        const count = await endOffsetSum(ctx, rt);
        if (out.records !== records || count.records !== records)
          throw new StepFailed(
            `restore run ${run}: restored ${out.records} records (target holds ${count.records}), loaded ${records}`,
          );
        add('restore', sampleOf(run, out.duration_ms / 1000, rp, { bytes: out.bytes, target_records: count.records }));
        log(
          `${s.name} run ${run}: restore ${(payload / MiB / (out.duration_ms / 1000)).toFixed(1)} MiB/s, rss ${rp.maxRssMiB?.toFixed(0)} MiB`,
        );
        if (!args.keep) await deleteTopics(ctx, [rt]);
      }
    }
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
  } finally {
    if (!args.keep) {
      await deleteTopics(ctx, created);
      rmSync(ctx.work, { recursive: true, force: true });
    }
  }

  // summaries
  const summarize = (step: string, extra: Partial<StepSummary> = {}): StepSummary | undefined => {
    const list = samples.get(step);
    if (!list || list.length === 0) return undefined;
    const sec = median(list.map((x) => x.seconds));
    const cpu = list.map((x) => x.cpu_s).filter((x): x is number => x !== null);
    const rss = list.map((x) => x.max_rss_mib).filter((x): x is number => x !== null);
    const summary: StepSummary = {
      step,
      records,
      payload_bytes: payload,
      samples: list,
      median_seconds: sec,
      records_per_sec: records / sec,
      mib_per_sec: payload / MiB / sec,
      cpu_s: cpu.length ? median(cpu) : null,
      max_rss_mib: rss.length ? Math.max(...rss) : null,
      ...extra,
    };
    const pname = profiles.get(step);
    if (pname) {
      try {
        const dir = join(ctx.profileDir, pname);
        summary.profile = readdirSync(dir)
          .filter((f) => f.endsWith('.cpuprofile'))
          .map((f) => summarizeProfile(join(dir, f), 20));
      } catch {
        // no profile written (the step failed)
      }
    }
    return summary;
  };
  const withCeiling = (step: string, ceiling: string, target: number | undefined, rssTarget?: number) => {
    const c = result.steps.find((x) => x.step === ceiling);
    const sum = summarize(step, {
      ceiling,
      ...(target !== undefined ? { target_ratio: target } : {}),
      ...(rssTarget !== undefined ? { rss_target_mib: rssTarget } : {}),
    });
    const unreliable = sum?.samples.some((x) => x.detail?.['startup_dominated'] === true);
    if (sum && c && !unreliable) sum.ratio = c.median_seconds / sum.median_seconds;
    if (sum && unreliable) {
      sum.note = 'shorter than the CLI start-up it is measured against: no rate or ratio';
      delete sum.target_ratio;
    }
    if (sum) result.steps.push(sum);
  };
  const ceil = (step: string, of: string[]) => {
    const sum = summarize(step, { ceiling_of: of });
    if (sum) result.steps.push(sum);
  };
  ceil(
    'consumer-perf',
    args.codecs.map((c) => CODECS[c].label),
  );
  for (const c of args.codecs)
    withCeiling(
      CODECS[c].label,
      'consumer-perf',
      c === 'default' ? s.targets.backup : undefined,
      c === 'default' ? RSS_TARGET_MIB : undefined,
    );
  ceil('validate ceiling', ['validate --deep']);
  withCeiling('validate --deep', 'validate ceiling', s.targets.validate);
  ceil('producer-perf', ['restore']);
  withCeiling('restore', 'producer-perf', s.targets.restore, RSS_TARGET_MIB);
  return result;
}

// ---------------------------------------------------------------------------------------------
// report

function renderTable(r: ScenarioResult, smoke: boolean): string {
  const head = ['step', 'MiB/s', 'records/s', 'ratio', 'target', 'CPU s', 'peak RSS MiB', 'broker CPU s', 'median s'];
  const rows: string[][] = r.steps.map((s) => {
    const brokerCpu = s.samples.map((x) => x.broker_cpu_s).filter((x): x is number => x !== null);
    const ratio = s.ratio !== undefined ? s.ratio.toFixed(2) : s.ceiling_of ? 'ceiling' : s.note ? 'n/a' : '-';
    const targets: string[] = [];
    if (smoke) {
      if (s.target_ratio !== undefined) targets.push('not judged (smoke)');
    } else if (s.target_ratio !== undefined && s.ratio !== undefined)
      targets.push(`>=${s.target_ratio} ${s.ratio >= s.target_ratio ? 'ok' : 'MISS'}`);
    if (!smoke && s.rss_target_mib !== undefined && s.max_rss_mib != null)
      targets.push(`rss<=${s.rss_target_mib} ${s.max_rss_mib <= s.rss_target_mib ? 'ok' : 'MISS'}`);
    return [
      s.step,
      s.note ? 'n/a' : s.mib_per_sec.toFixed(1),
      s.note ? 'n/a' : Math.round(s.records_per_sec).toString(),
      ratio,
      targets.join(', ') || '-',
      s.cpu_s != null ? s.cpu_s.toFixed(2) : '-',
      s.max_rss_mib != null ? s.max_rss_mib.toFixed(0) : '-',
      brokerCpu.length ? median(brokerCpu).toFixed(2) : '-',
      s.median_seconds.toFixed(2),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [
    `== ${r.scenario}: ${r.description}; ${r.records} records x ${r.record_size} B = ${formatSize(r.payload_bytes)}, ${r.partitions} partitions; load ${r.load.mib_per_sec} MiB/s`,
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ];
  if (r.backup_shape) out.push(`backup (default codec): ${JSON.stringify(r.backup_shape)}`);
  if (r.cli_startup_s !== undefined)
    out.push(`CLI start-up (subtracted from validate wall time): ${r.cli_startup_s.toFixed(2)} s`);
  if (r.error) out.push(`ERROR: ${r.error}`);
  return out.join('\n');
}

function machine(): Record<string, unknown> {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  let cryptoFlags: string[] = [];
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const m = /^model name\s*:\s*(.*)$/m.exec(info);
    if (m?.[1]) cpuModel = m[1];
    // hosts that print the same model name differ in these, and the cost of encryption with them
    const flags = new Set(/^flags\s*:\s*(.*)$/m.exec(info)?.[1]?.split(/\s+/) ?? []);
    cryptoFlags = CRYPTO_CPU_FLAGS.filter((f) => flags.has(f));
  } catch {
    // not Linux
  }
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
    } catch {
      return null;
    }
  };
  return {
    nproc: cpus().length,
    memory_gib: +(totalmem() / 1024 ** 3).toFixed(1),
    cpu_model: cpuModel,
    cpu_crypto_flags: cryptoFlags,
    aes_256_gcm_mib_per_cpu_s: aesGcmSpeed(),
    node: process.version,
    kafka_version: process.env['KB_KAFKA_VERSION'] ?? '4.1.1',
    broker_heap: process.env['KB_KAFKA_HEAP'] ?? '768m',
    git_commit: git(['rev-parse', 'HEAD']),
    git_dirty: (git(['status', '--porcelain', '--', 'src']) ?? '') !== '',
  };
}

const CRYPTO_CPU_FLAGS = ['aes', 'vaes', 'vpclmulqdq', 'pclmulqdq', 'avx2', 'avx512f', 'sha_ni'];

/**
 * AES-256-GCM sealing speed of this host in MiB per CPU second (best of 3 × 64 × 1 MiB, node:crypto):
 * two hosts that both print "AMD EPYC" have differed several-fold in the cost of encryption.
 */
function aesGcmSpeed(): number {
  const key = randomBytes(32);
  const block = randomBytes(MiB);
  const seal = () => {
    const c = createCipheriv('aes-256-gcm', key, randomBytes(12));
    c.update(block);
    c.final();
  };
  // the best of three rounds: the first costs about twice as much (fresh output buffers fault
  // their pages in until the allocator reuses freed ones)
  let best = 0;
  for (let round = 0; round < 3; round++) {
    const before = process.cpuUsage();
    for (let i = 0; i < 64; i++) seal();
    const used = process.cpuUsage(before);
    best = Math.max(best, Math.round(64 / ((used.user + used.system) / 1e6)));
  }
  return best;
}

/** Scenarios that are programs of their own (no Kafka tools): `--scenario repository [their flags]`. */
const OWN_PROGRAMS: Record<string, string> = {
  repository: 'bench/repository.ts',
  'continuous-metadata': 'bench/continuous-metadata.ts',
  'object-stores': 'bench/object-stores.ts',
  'schema-registry': 'bench/schema-registry.ts',
};

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--scenario');
  const own = i >= 0 ? OWN_PROGRAMS[argv[i + 1] ?? ''] : undefined;
  if (own) {
    const rest = argv.filter((_, j) => j !== i && j !== i + 1);
    return spawnSync(process.execPath, [join(ROOT, own), ...rest], { cwd: ROOT, stdio: 'inherit' }).status ?? 1;
  }
  const args = parseArgs(argv);
  if (args.encrypt) {
    const keyDir = mkdtempSync(join(tmpdir(), 'kb-bench-'));
    // the key is the bench's own, but a key file is not left behind (a --keep line then needs its own key)
    process.once('exit', () => rmSync(keyDir, { recursive: true, force: true }));
    const keyFile = join(keyDir, 'line.key');
    writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
    process.env['KB_ENCRYPTION_KEY_FILE'] = keyFile;
    log('client-side encryption on (--encrypt)');
  }
  const started = new Date();
  // `--scenario startup` alone needs no broker
  if (args.scenarios.length > 0) log(`starting the broker (scripts/services.sh start kafka)`);
  const svc =
    args.scenarios.length === 0
      ? { status: 0 }
      : spawnSync('bash', ['scripts/services.sh', 'start', 'kafka'], {
          cwd: ROOT,
          stdio: ['ignore', 'inherit', 'inherit'],
        });
  if (svc.status !== 0) {
    process.stderr.write('error: the broker did not start\n');
    return 1;
  }
  if (args.cli === INSTALLED_CLI) {
    log('building the CLI (npm run build) so the bench measures what users run');
    const build = spawnSync(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: ROOT,
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    if (build.status !== 0) {
      process.stderr.write('error: the build failed\n');
      return 1;
    }
  }
  // the executable is built here unless in smoke mode, where the test command has just built it
  if (args.cli === INSTALLED_CLI && (!args.smoke || !existsSync(EXECUTABLE))) {
    log('building the single executable (npm run package)');
    const pack = spawnSync(process.execPath, [join(ROOT, 'scripts', 'package.ts')], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (pack.status !== 0) {
      process.stderr.write('error: npm run package failed\n');
      return 1;
    }
  }
  const startupRows: StartupResult[] = [];
  for (const file of new Set([args.cli, ...(existsSync(EXECUTABLE) ? [EXECUTABLE] : [])]))
    startupRows.push(...(await startup(file, args.smoke ? 2 : 10)));
  process.stdout.write(`\n${renderStartup(startupRows)}\n`);
  mkdirSync(RESULTS, { recursive: true });
  const base = {
    root: ROOT,
    bootstrap: BOOTSTRAP,
    brokerPid: findBrokerPid(ROOT),
    heap: process.env['KB_TOOL_HEAP'] ?? '1g',
    args,
  };
  const results: ScenarioResult[] = [];
  for (const s of args.scenarios) {
    const r = await runScenario(base, s);
    results.push(r);
    process.stdout.write(`\n${renderTable(r, args.smoke)}\n`);
    if (args.profile)
      for (const step of r.steps)
        for (const p of step.profile ?? [])
          process.stdout.write(
            `\n-- profile of ${step.step}\n${renderSummary({ ...p, functions: p.functions.slice(0, 12), files: p.files.slice(0, 8) })}\n`,
          );
  }
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const file = join(RESULTS, `${args.smoke ? 'smoke-' : ''}${stamp}.json`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        started_at: started.toISOString(),
        finished_at: new Date().toISOString(),
        mode: args.smoke ? 'smoke' : 'full',
        args: { ...args, scenarios: args.scenarios.map((s) => s.name), steps: [...args.steps] },
        machine: machine(),
        startup: startupRows,
        scenarios: results,
      },
      null,
      2,
    )}\n`,
  );
  process.stdout.write(`\nresults: ${file}\n`);
  const failed = results.filter((r) => r.error);
  if (failed.length) {
    process.stderr.write(`error: pipeline broken in ${failed.map((r) => r.scenario).join(', ')}\n`);
    return 1;
  }
  return 0;
}

process.exitCode = await main();
