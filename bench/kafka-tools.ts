/**
 * Kafka's own Java tools (scripts/kafka-tool.sh): topic admin, the independent record count
 * (GetOffsetShell), and the ceilings (ConsumerPerformance, ProducerPerformance).
 */
import { expectOk, type ProcResult, runMeasured, StepFailed } from './proc.ts';

export interface ToolContext {
  root: string;
  bootstrap: string;
  brokerPid: number | null;
  /** JVM heap of the tools (KB_TOOL_HEAP). */
  heap: string;
}

function tool(ctx: ToolContext, main: string, args: string[]): Promise<ProcResult> {
  return runMeasured('bash', ['scripts/kafka-tool.sh', `org.apache.kafka.tools.${main}`, ...args], {
    cwd: ctx.root,
    env: { ...process.env, KB_TOOL_HEAP: ctx.heap },
    brokerPid: ctx.brokerPid,
  });
}

export async function createTopic(ctx: ToolContext, topic: string, partitions: number): Promise<void> {
  expectOk(
    `create topic ${topic}`,
    await tool(ctx, 'TopicCommand', [
      '--bootstrap-server',
      ctx.bootstrap,
      '--create',
      '--topic',
      topic,
      '--partitions',
      String(partitions),
      '--replication-factor',
      '1',
    ]),
  );
}

/**
 * Waits until every partition of a new topic answers ListOffsets (has a leader). A topic with
 * thousands of partitions takes a while; producing before that fails with out-of-order
 * sequence errors even in Kafka's own producer.
 */
export async function waitTopicReady(
  ctx: ToolContext,
  topic: string,
  partitions: number,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await endOffsetSum(ctx, topic)).partitions === partitions) return;
    } catch {
      // not ready yet
    }
    if (Date.now() > deadline)
      throw new StepFailed(`topic ${topic}: not all ${partitions} partitions have a leader after ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** Deletes topics by exact name (names must be [A-Za-z0-9-]). Never throws. */
export async function deleteTopics(ctx: ToolContext, topics: string[]): Promise<void> {
  if (topics.length === 0) return;
  for (const t of topics) if (!/^[A-Za-z0-9-]+$/.test(t)) throw new Error(`unexpected topic name ${t}`);
  const r = await tool(ctx, 'TopicCommand', [
    '--bootstrap-server',
    ctx.bootstrap,
    '--delete',
    '--if-exists',
    '--topic',
    `^(${topics.join('|')})$`,
  ]);
  if (r.code !== 0) process.stderr.write(`warning: deleting ${topics.join(', ')} failed:\n${r.stderr.slice(-1000)}\n`);
}

/** Sum of the end offsets of a topic's partitions (= its record count for a fresh topic without transactions). */
export async function endOffsetSum(ctx: ToolContext, topic: string): Promise<{ records: number; partitions: number }> {
  const r = expectOk(
    `count ${topic}`,
    await tool(ctx, 'GetOffsetShell', ['--bootstrap-server', ctx.bootstrap, '--topic', topic, '--time', '-1']),
  );
  let records = 0;
  let partitions = 0;
  for (const line of r.stdout.split('\n')) {
    const m = /^(.*):(\d+):(\d+)$/.exec(line.trim());
    if (m && m[1] === topic) {
      records += Number(m[3]);
      partitions++;
    }
  }
  return { records, partitions };
}

export interface PerfResult {
  proc: ProcResult;
  records: number;
  /** Seconds of the tool's own measurement (excludes JVM start-up; for the consumer also the group join). */
  seconds: number;
  detail: Record<string, number>;
}

/** ProducerPerformance writing `records` records of `recordSize` bytes. */
export async function producerPerf(
  ctx: ToolContext,
  topic: string,
  records: number,
  recordSize: number,
  props: Record<string, string | number | boolean>,
): Promise<PerfResult> {
  const proc = expectOk(
    `ProducerPerformance into ${topic}`,
    await tool(ctx, 'ProducerPerformance', [
      '--topic',
      topic,
      '--num-records',
      String(records),
      '--record-size',
      String(recordSize),
      '--throughput',
      '-1',
      '--producer-props',
      `bootstrap.servers=${ctx.bootstrap}`,
      ...Object.entries(props).map(([k, v]) => `${k}=${v}`),
    ]),
  );
  const matches = [
    ...proc.stdout.matchAll(/(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency/g),
  ];
  const last = matches[matches.length - 1];
  if (!last) throw new StepFailed(`ProducerPerformance: no summary line in its output:\n${proc.stdout.slice(-1500)}`);
  const sent = Number(last[1]);
  const perSec = Number(last[2]);
  if (sent !== records) throw new StepFailed(`ProducerPerformance sent ${sent} records, expected ${records}`);
  return {
    proc,
    records: sent,
    seconds: sent / perSec,
    detail: { records_per_sec: perSec, mib_per_sec: Number(last[3]), avg_latency_ms: Number(last[4]) },
  };
}

/** ConsumerPerformance reading `records` records from the start of the topic, with a fresh group. */
export async function consumerPerf(
  ctx: ToolContext,
  topic: string,
  records: number,
  group: string,
): Promise<PerfResult> {
  const proc = expectOk(
    `ConsumerPerformance from ${topic}`,
    await tool(ctx, 'ConsumerPerformance', [
      '--bootstrap-server',
      ctx.bootstrap,
      '--topic',
      topic,
      '--messages',
      String(records),
      '--group',
      group,
      '--timeout',
      '30000',
    ]),
  );
  const lines = proc.stdout.trim().split('\n');
  const hi = lines.findIndex((l) => l.startsWith('start.time'));
  const header = lines[hi]?.split(',').map((s) => s.trim());
  const values = lines[hi + 1]?.split(',').map((s) => s.trim());
  if (hi < 0 || !header || !values)
    throw new StepFailed(`ConsumerPerformance: no summary in its output:\n${proc.stdout}`);
  const get = (name: string) => Number(values[header.indexOf(name)]);
  const consumed = get('data.consumed.in.nMsg');
  if (consumed !== records)
    throw new StepFailed(`ConsumerPerformance read ${consumed} records, expected ${records}:\n${proc.stdout}`);
  const fetchMs = get('fetch.time.ms');
  return {
    proc,
    records: consumed,
    seconds: fetchMs / 1000,
    detail: {
      mib_per_sec_incl_join: get('MB.sec'),
      fetch_mib_per_sec: get('fetch.MB.sec'),
      rebalance_ms: get('rebalance.time.ms'),
      fetch_ms: fetchMs,
    },
  };
}
