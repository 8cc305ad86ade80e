/**
 * The real Kafka broker the integration tests use (started by `scripts/services.sh start kafka`)
 * and helpers to create, fill and shape topics on it.
 *
 *   KB_KAFKA_BOOTSTRAP  default 127.0.0.1:19092
 *
 * Topic administration goes through the Admin of @platformatic/kafka (fast, no JVM start);
 * data is produced and checked only with Kafka's own Java client (./peers.ts, scripts/kafka-tool.sh),
 * never with our code.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Admin } from '@platformatic/kafka';
import { type CompactionSummary, produceScenario } from './peers.ts';

export const KAFKA_BOOTSTRAP = process.env['KB_KAFKA_BOOTSTRAP'] ?? '127.0.0.1:19092';
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** A topic name no other test (or earlier run) uses: `<prefix>-<time>-<random>`. */
export function uniqueTopic(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Runs fn with a fresh Admin client and closes it afterwards. */
export async function withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({
    clientId: 'kb-test-admin',
    bootstrapBrokers: KAFKA_BOOTSTRAP.split(','),
    retries: 5,
    retryDelay: 200,
  });
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
}

export interface CreateTopicOptions {
  partitions?: number;
  /**
   * Topic configs, e.g. { 'cleanup.policy': 'compact' }. retention.ms defaults to -1 (see
   * createTopic); pass it to override.
   */
  configs?: Record<string, string>;
}

/**
 * Creates the topic (replication factor 1) and waits until every partition has a leader that
 * answers ListOffsets, so producers and consumers can use it at once. Returns the name.
 *
 * retention.ms is -1 unless given: tests write explicit, old timestamps (2023, epoch 0), and with
 * the default 7-day retention the broker's retention check (every 5 s) would delete those
 * segments, active one included, within seconds.
 */
export async function createTopic(name: string, options: CreateTopicOptions = {}): Promise<string> {
  const partitions = options.partitions ?? 1;
  const configs = Object.entries({ 'retention.ms': '-1', ...options.configs }).map(([n, value]) => ({
    name: n,
    value,
  }));
  await withAdmin(async (admin) => {
    await admin.createTopics({ topics: [name], partitions, replicas: 1, configs });
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const listed = await admin.listOffsets({
          topics: [
            { name, partitions: [...Array(partitions).keys()].map((p) => ({ partitionIndex: p, timestamp: -1n })) },
          ],
        });
        if (listed[0]?.partitions.length === partitions) return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
      if (Date.now() > deadline) throw new Error(`topic ${name}: partitions not ready after 30 s`);
      await sleep(100);
    }
  });
  return name;
}

export async function deleteTopic(name: string): Promise<void> {
  await withAdmin((admin) => admin.deleteTopics({ topics: [name] }));
}

/** Best-effort deletion of many topics (for test cleanup); never throws. */
export async function deleteTopics(names: string[]): Promise<void> {
  if (names.length === 0) return;
  await withAdmin((admin) => admin.deleteTopics({ topics: names })).catch(() => {});
}

/**
 * DeleteRecords: raises the partition's log start offset to `offset` (which may fall inside a
 * batch). Returns the new log start offset (low watermark) the broker reports.
 */
export async function deleteRecords(topic: string, partition: number, offset: number): Promise<number> {
  const res = await withAdmin((admin) =>
    admin.deleteRecords({ topics: [{ name: topic, partitions: [{ partition, offset: BigInt(offset) }] }] }),
  );
  const low = res.find((t) => t.name === topic)?.partitions.find((p) => p.partition === partition)?.lowWatermark;
  if (low === undefined) throw new Error(`deleteRecords ${topic}-${partition}: no result`);
  return Number(low);
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a command; rejects with its stderr when it exits non-zero. */
export function run(
  file: string,
  args: string[],
  options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      file,
      args,
      {
        cwd: REPO_ROOT,
        maxBuffer: 1024 * 1024 * 1024,
        timeout: options.timeoutMs ?? 180_000,
        env: options.env ?? process.env,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err) {
          const code = (err as { code?: unknown }).code;
          const e = new Error(
            `${file} ${args.join(' ').slice(0, 300)} failed (${err.killed ? 'killed' : `exit ${String(code)}`}): ${stderr.trim().slice(-2000)}`,
          ) as Error & RunResult & { exitCode?: unknown };
          e.stdout = stdout;
          e.stderr = stderr;
          e.exitCode = code;
          reject(e);
        } else resolvePromise({ stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Runs one of Kafka's own tools (scripts/kafka-tool.sh MainClass args...). */
export function kafkaTool(mainClass: string, args: string[], timeoutMs?: number): Promise<RunResult> {
  return run('bash', [resolve(REPO_ROOT, 'scripts/kafka-tool.sh'), mainClass, ...args], { timeoutMs });
}

export interface PerfOptions {
  /** Extra producer properties, e.g. { 'compression.type': 'lz4', acks: '1' }. */
  producerProps?: Record<string, string>;
  /** Records per second, -1 (default) for unthrottled. */
  throughput?: number;
}

/**
 * Produces n random, key-less records of `size` bytes with Kafka's ProducerPerformance
 * (acks=all, idempotent). Returns the tool's stdout (its throughput summary).
 */
export async function produceWithPerf(
  topic: string,
  n: number,
  size: number,
  options: PerfOptions = {},
): Promise<string> {
  const props = { 'bootstrap.servers': KAFKA_BOOTSTRAP, acks: 'all', ...options.producerProps };
  const { stdout } = await kafkaTool('org.apache.kafka.tools.ProducerPerformance', [
    '--topic',
    topic,
    '--num-records',
    String(n),
    '--record-size',
    String(size),
    '--throughput',
    String(options.throughput ?? -1),
    '--producer-props',
    ...Object.entries(props).map(([k, v]) => `${k}=${v}`),
  ]);
  return stdout;
}

/**
 * Topic configs that make the log cleaner compact within seconds: segments roll every 100 ms (on
 * the next append), any dirty ratio is enough, tombstones are kept only briefly.
 */
export const COMPACTION_CONFIGS: Readonly<Record<string, string>> = {
  'cleanup.policy': 'compact',
  'segment.ms': '100',
  'min.cleanable.dirty.ratio': '0.01',
  'delete.retention.ms': '100',
  'min.compaction.lag.ms': '0',
};

export type { CompactionSummary } from './peers.ts';

/**
 * For a topic created with COMPACTION_CONFIGS: writes keys k0..k<keys-1> (key i to partition
 * i % partitions) once per round until a read_uncommitted read from the log start shows
 * non-contiguous offsets, i.e. the cleaner really removed records. Runs in one JVM
 * (CorpusProducer --scenario compact-until-holes); typically a few seconds.
 */
export async function waitForCompaction(
  topic: string,
  options: { keys?: number; roundMs?: number; timeoutMs?: number } = {},
): Promise<CompactionSummary> {
  return produceScenario(topic, 'compact-until-holes', {
    keys: options.keys ?? 20,
    'round-ms': options.roundMs ?? 300,
    'timeout-ms': options.timeoutMs ?? 90_000,
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The 3-broker cluster is one per machine, and test files run in parallel processes: a file
 * that restarts or stops brokers must not do so while another file uses the cluster. Holds a
 * lock until the returned function is called; waits up to 15 minutes for it.
 */
export function lockCluster(): Promise<() => Promise<void>> {
  return lockTestResource('kafka-cluster.test-lock', 'the cluster');
}

/**
 * A machine-wide lock between test processes on a shared service: a directory under the state
 * directory, taken over when its holder's process is gone. Resolves to the release function;
 * waits up to 15 minutes.
 */
export async function lockTestResource(name: string, what: string): Promise<() => Promise<void>> {
  const { mkdir, readFile, rm, writeFile } = await import('node:fs/promises');
  const dir = resolve(process.env['KB_STATE_DIR'] ?? resolve(REPO_ROOT, '.services'), name);
  await mkdir(dirname(dir), { recursive: true });
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      await mkdir(dir);
      await writeFile(resolve(dir, 'pid'), String(process.pid));
      return () => rm(dir, { recursive: true, force: true });
    } catch {
      const holder = Number(await readFile(resolve(dir, 'pid'), 'utf8').catch(() => '0'));
      let alive = holder > 0;
      try {
        if (alive) process.kill(holder, 0);
      } catch {
        alive = false;
      }
      if (!alive && holder > 0) await rm(dir, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`the test lock of ${what} (${dir}) is held by pid ${holder}`);
      await sleep(500);
    }
  }
}
