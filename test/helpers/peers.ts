/**
 * Independent peers: small programs on Kafka's own Java client (test/java/kbpeers, compiled by
 * scripts/java-peers.sh) that produce test data and read back what is really in the broker.
 * Tests compare our backup/restore against these, never against our own code.
 *
 * Bytes cross the process boundary as base64 (null stays null, empty is ""). In inputs a
 * string means its UTF-8 bytes and a Buffer is taken as is.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { KAFKA_BOOTSTRAP, REPO_ROOT, type RunResult, run } from './kafka.ts';

export type Isolation = 'read_committed' | 'read_uncommitted';

/** One record as RecordDump / GroupConsumer print it. key, value and header values are base64. */
export interface DumpedRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  timestampType: 'CreateTime' | 'LogAppendTime';
  key: string | null;
  value: string | null;
  headers: [string, string | null][];
}

/** Input bytes: a string means its UTF-8 encoding; null means absent (null key, tombstone, null header value). */
export type Bytes = Buffer | string | null;

/** One record to produce (see CorpusProducer's header comment for the exact semantics). */
export interface SpecRecord {
  partition: number;
  key?: Bytes;
  value?: Bytes;
  headers?: [string, Bytes][];
  /** CreateTime in ms; omitted/null = the producer's clock. */
  timestamp?: number | null;
  /** Produce inside a transaction that is committed or aborted; omitted/null = not transactional. */
  txn?: 'commit' | 'abort' | null;
  /** Which transactional producer (transactional.id PREFIX-<n>) sends it; default 0. */
  producer?: number;
}

/**
 * A spec line: a record, a flush of every producer (ends the current batches), the end of
 * producer n's transaction, or a pause: flush, create `<await>.ready`, wait until the file
 * `await` exists (open transactions stay open meanwhile).
 */
export type SpecLine = SpecRecord | { flush: true } | { end: number } | { await: string };

/** Where a spec record landed, in spec order (index counts records only, not flush/end lines). */
export interface ProducedRecord {
  index: number;
  partition: number;
  offset: number;
  timestamp: number;
}

export interface LargeRecordSummary {
  scenario: 'large-record';
  partition: number;
  records: 3;
  largeSize: number;
  largeSha256: string;
  largeOffset: number;
  committedPerPartition: number[];
}

export interface BigAbortedTxnSummary {
  scenario: 'big-aborted-txn';
  committedPerPartition: number[];
  abortedPerPartition: number[];
  /** Value bytes inside the aborted transaction on partition 0. */
  abortedBytesPartition0: number;
}

export interface InterleavedTxnsSummary {
  scenario: 'interleaved-txns';
  committedPerPartition: number[];
  abortedPerPartition: number[];
}

export interface CompactionSummary {
  scenario: 'compact-until-holes';
  rounds: number;
  /** Records produced while waiting (keys k0..k<keys-1>, values `round-<r>-k<i>`). */
  produced: number;
  /** The first gap seen, e.g. "t-0: expected offset 0, next record is at 20". */
  hole: string;
  /** Key -> latest value written, i.e. what the compacted log must still hold for that key. */
  latest: Record<string, string>;
}

export interface ScenarioSummaries {
  'large-record': LargeRecordSummary;
  'big-aborted-txn': BigAbortedTxnSummary;
  'interleaved-txns': InterleavedTxnsSummary;
  'compact-until-holes': CompactionSummary;
}
export type ScenarioName = keyof ScenarioSummaries;

export interface PartitionOffsets {
  topic: string;
  partition: number;
  logStartOffset: number;
  highWatermark: number;
  lastStableOffset: number;
}

export interface CommittedOffset {
  group: string;
  topic: string;
  partition: number;
  offset: number | null;
  metadata: string | null;
  leaderEpoch: number | null;
}

let classpath: Promise<string> | undefined;

/** Compiles the peers if needed (once per process) and returns their class path. */
export function peersClasspath(): Promise<string> {
  classpath ??= run('bash', [resolve(REPO_ROOT, 'scripts/java-peers.sh')]).then((r) => r.stdout.trim());
  return classpath;
}

export type PeerName = 'RecordDump' | 'CorpusProducer' | 'GroupConsumer' | 'AdminPeer';

/** Runs a peer with --bootstrap KAFKA_BOOTSTRAP prepended to args. Rejects on a non-zero exit. */
export async function runPeer(
  name: PeerName,
  args: string[],
  options: { input?: string; timeoutMs?: number; bootstrap?: string } = {},
): Promise<RunResult> {
  const cp = await peersClasspath();
  return run(
    'java',
    [
      `-Xmx${process.env['KB_PEER_HEAP'] ?? '768m'}`,
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      '-cp',
      cp,
      `kbpeers.${name}`,
      '--bootstrap',
      options.bootstrap ?? KAFKA_BOOTSTRAP,
      ...args,
    ],
    { input: options.input, timeoutMs: options.timeoutMs ?? 180_000 },
  );
}

function parseLines<T>(stdout: string): T[] {
  const out: T[] = [];
  for (const line of stdout.split('\n')) if (line.trim() !== '') out.push(JSON.parse(line) as T);
  return out;
}

export interface DumpOptions {
  /** Default read_committed (aborted records and control records never appear). */
  isolation?: Isolation;
  /** Only these partitions (default all). */
  partitions?: number[];
  timeoutMs?: number;
  bootstrap?: string;
}

/**
 * Every record of the topic(s) from the log start to the end offset at start time (the LSO with
 * read_committed), ordered by topic (as given), partition, offset. Uses Kafka's Java consumer.
 */
export async function dumpTopic(topic: string | string[], options: DumpOptions = {}): Promise<DumpedRecord[]> {
  const args: string[] = [];
  for (const t of Array.isArray(topic) ? topic : [topic]) args.push('--topic', t);
  args.push('--isolation', options.isolation ?? 'read_committed');
  for (const p of options.partitions ?? []) args.push('--partition', String(p));
  if (options.timeoutMs !== undefined) args.push('--timeout-ms', String(options.timeoutMs));
  const { stdout } = await runPeer('RecordDump', args, {
    timeoutMs: (options.timeoutMs ?? 60_000) + 60_000,
    bootstrap: options.bootstrap,
  });
  return parseLines<DumpedRecord>(stdout);
}

/** base64 of the bytes (strings as UTF-8), null for null. */
export function b64(bytes: Bytes | undefined): string | null {
  if (bytes === null || bytes === undefined) return null;
  return (typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes).toString('base64');
}

/** Decodes a dumped base64 field. */
export function bytes(field: string | null): Buffer | null {
  return field === null ? null : Buffer.from(field, 'base64');
}

/** Decodes a dumped base64 field as UTF-8 text. */
export function text(field: string | null): string | null {
  return field === null ? null : Buffer.from(field, 'base64').toString('utf8');
}

/** The JSON-lines form CorpusProducer --spec reads. */
export function specToJsonl(lines: SpecLine[]): string {
  return lines
    .map((l) => {
      if ('partition' in l) {
        return JSON.stringify({
          partition: l.partition,
          key: b64(l.key),
          value: b64(l.value),
          headers: (l.headers ?? []).map(([k, v]) => [k, b64(v)]),
          timestamp: l.timestamp ?? null,
          txn: l.txn ?? null,
          producer: l.producer ?? 0,
        });
      }
      return JSON.stringify(l);
    })
    .join('\n')
    .concat('\n');
}

/**
 * Produces the records exactly as specified with Kafka's Java producer (idempotent, acks=all, no
 * compression); log order follows spec order. Returns where each record landed.
 */
export async function produceSpec(
  topic: string,
  lines: SpecLine[],
  options: { transactionalId?: string; timeoutMs?: number; bootstrap?: string } = {},
): Promise<ProducedRecord[]> {
  const args = ['--topic', topic, '--spec', '-'];
  if (options.transactionalId !== undefined) args.push('--transactional-id', options.transactionalId);
  const { stdout } = await runPeer('CorpusProducer', args, {
    input: specToJsonl(lines),
    timeoutMs: options.timeoutMs,
    bootstrap: options.bootstrap,
  });
  return parseLines<ProducedRecord>(stdout);
}

/**
 * Produces one of CorpusProducer's fixed scenarios (large-record, big-aborted-txn,
 * interleaved-txns, compact-until-holes) and returns its summary. options become --name value.
 */
export async function produceScenario<N extends ScenarioName>(
  topic: string,
  name: N,
  options: Record<string, string | number> = {},
): Promise<ScenarioSummaries[N]> {
  const args = ['--topic', topic, '--scenario', name];
  for (const [k, v] of Object.entries(options)) args.push(`--${k}`, String(v));
  const { stdout } = await runPeer('CorpusProducer', args, { timeoutMs: 240_000 });
  const summary = parseLines<ScenarioSummaries[N]>(stdout).at(-1);
  if (summary === undefined) throw new Error(`scenario ${name} printed no summary`);
  return summary;
}

export interface GroupConsumeOptions {
  isolation?: Isolation;
  /** Group protocol: classic (default) or consumer (KIP-848). */
  protocol?: 'classic' | 'consumer';
  /** auto.offset.reset when the group has no committed offset (default earliest). */
  reset?: 'earliest' | 'latest';
  timeoutMs?: number;
  bootstrap?: string;
}

/**
 * Joins `group` on `topic` with Kafka's Java consumer (read_committed by default), processes
 * exactly n records, commits offset+1 of the last processed record per partition, leaves, and
 * returns the processed records in processing order. Rejects if n records do not arrive in time.
 */
export async function consumeAsGroup(
  group: string,
  topic: string | string[],
  n: number,
  options: GroupConsumeOptions = {},
): Promise<DumpedRecord[]> {
  const args = ['--group', group, '--count', String(n)];
  for (const t of Array.isArray(topic) ? topic : [topic]) args.push('--topic', t);
  args.push('--isolation', options.isolation ?? 'read_committed');
  args.push('--protocol', options.protocol ?? 'classic');
  args.push('--reset', options.reset ?? 'earliest');
  args.push('--timeout-ms', String(options.timeoutMs ?? 60_000));
  const { stdout } = await runPeer('GroupConsumer', args, {
    timeoutMs: (options.timeoutMs ?? 60_000) + 60_000,
    bootstrap: options.bootstrap,
  });
  return parseLines<DumpedRecord>(stdout);
}

/**
 * Log start offset, high watermark and last stable offset of every partition of the topic(s), in
 * topic (as given) and partition order (Java Admin).
 */
export async function topicOffsets(
  topic: string | string[],
  options: { bootstrap?: string } = {},
): Promise<PartitionOffsets[]> {
  const args = ['offsets'];
  for (const t of Array.isArray(topic) ? topic : [topic]) args.push('--topic', t);
  const { stdout } = await runPeer('AdminPeer', args, options);
  return parseLines<PartitionOffsets>(stdout);
}

/** The group's committed offsets, sorted by topic and partition (Java Admin). */
export async function groupOffsets(group: string, options: { bootstrap?: string } = {}): Promise<CommittedOffset[]> {
  const { stdout } = await runPeer('AdminPeer', ['group-offsets', '--group', group], options);
  return parseLines<CommittedOffset>(stdout);
}

/**
 * Whether kcat is on PATH. The suite does not need it (the Java peers cover everything); a test
 * that wants kcat as an extra peer should skip that part when this is false.
 */
export function kcatAvailable(): Promise<boolean> {
  return new Promise((r) => {
    execFile('kcat', ['-V'], { timeout: 5000 }, (err) => r(!err));
  });
}
