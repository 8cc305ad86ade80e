/**
 * Broker faults on the 3-broker cluster (`scripts/services.sh start kafka-cluster`, nodes 1..3 on
 * 127.0.0.1:19192/19292/19392), for the fault suite (test/integration/faults/).
 *
 *   pauseBroker(id) / resumeBroker(id)   SIGSTOP / SIGCONT of the broker's JVM (waits for state T / not T)
 *   killBroker(id) / restartBrokers()    SIGKILL (waits until the process is gone) / start what is down
 *   describePartitions(topic)            leader, epoch, replicas, ISR per partition, asked of a live broker
 *   partitionEnds(topic, partitions)     high watermark and log end offset, from each partition's leader
 *   waitUntil(what, fn)                  polls an observable condition; never a fixed sleep
 *   healCluster(topics)                  every broker running, registered, every ISR full
 *   withFaultCluster(fn)                 holds lockCluster() for the whole scenario and heals at the end
 *
 * Observation never goes to a stopped broker: a SIGSTOPped JVM still accepts TCP connections (the
 * kernel does) but answers nothing, so a client that picks it waits for its request timeout. The
 * admin clients here are created per call with only the brokers this module has not paused or
 * killed as bootstrap.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Admin } from '@platformatic/kafka';
import { readLogEnds } from '../../src/restore/in-doubt.ts';
import { lockCluster, REPO_ROOT, run, sleep } from './kafka.ts';

export const CLUSTER_BROKERS = [1, 2, 3] as const;
export const brokerAddress = (id: number): string => `127.0.0.1:19${id}92`;
export const CLUSTER = CLUSTER_BROKERS.map(brokerAddress).join(',');
const STATE_DIR = process.env['KB_STATE_DIR'] ?? join(REPO_ROOT, '.services');

/** Brokers this process paused or killed: observation avoids them. */
const down = new Set<number>();

export const services = (...args: string[]) =>
  run('bash', [join(REPO_ROOT, 'scripts/services.sh'), ...args], { timeoutMs: 300_000 });

export function brokerPid(id: number): number {
  return Number(readFileSync(join(STATE_DIR, `kafka-cluster-${id}`, 'pid'), 'utf8'));
}

/**
 * The process state from /proc: running (any state but T or Z), stopped (T), dead (a zombie not
 * yet reaped: `kill -0`, hence services.sh, still takes it for alive), gone.
 */
export function processState(pid: number): 'running' | 'stopped' | 'dead' | 'gone' {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return 'dead';
    return state === 'T' || state === 't' ? 'stopped' : 'running';
  } catch {
    return 'gone';
  }
}

/** Polls fn every 200 ms until it returns a value other than undefined/false; fails with `what` after timeoutMs. */
export async function waitUntil<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting until ${what}${last ? ` (last error: ${String(last)})` : ''}`,
      );
    await sleep(200);
  }
}

/** Runs fn with an Admin whose bootstrap is the brokers not paused or killed here. */
export async function withLiveAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
  const live = CLUSTER_BROKERS.filter((id) => !down.has(id)).map(brokerAddress);
  const admin = new Admin({ clientId: 'kb-fault-observer', bootstrapBrokers: live, retries: 2, retryDelay: 200 });
  try {
    return await fn(admin);
  } finally {
    await admin.close().catch(() => undefined);
  }
}

export interface PartitionView {
  partition: number;
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
}

export function describePartitions(topic: string): Promise<PartitionView[]> {
  return withLiveAdmin(async (admin) => {
    const md = await admin.metadata({ topics: [topic], forceUpdate: true });
    const t = md.topics.get(topic);
    if (!t) throw new Error(`topic ${topic} not in metadata`);
    return t.partitions.map((p, partition) => ({
      partition,
      leader: p.leader,
      leaderEpoch: p.leaderEpoch,
      replicas: [...p.replicas],
      isr: [...p.isr],
    }));
  });
}

/** High watermark and log end offset per partition, each read from its leader (ListOffsets). */
export async function partitionEnds(
  topic: string,
  partitions: number[],
): Promise<Map<number, { highWatermark: number; logEnd: number | null }>> {
  const views = await describePartitions(topic);
  return withLiveAdmin((admin) => readLogEnds(admin, async (p) => views[p]!.leader, topic, partitions));
}

/** Creates a topic on the cluster with explicit replica lists (first = preferred leader) and waits for its leaders. */
export async function createClusterTopic(
  name: string,
  assignments: number[][],
  configs: Record<string, string> = {},
): Promise<string> {
  await withLiveAdmin((admin) =>
    admin.createTopics({
      topics: [name],
      assignments: assignments.map((brokers, partition) => ({ partition, brokers })),
      configs: Object.entries({ 'retention.ms': '-1', ...configs }).map(([n, value]) => ({ name: n, value })),
    }),
  );
  await waitUntil(`${name} has a leader with a full ISR on every partition`, async () => {
    const v = await describePartitions(name);
    return (
      v.length === assignments.length &&
      v.every((p) => p.leader === assignments[p.partition]![0] && p.isr.length === p.replicas.length)
    );
  });
  return name;
}

export async function pauseBroker(id: number): Promise<void> {
  down.add(id);
  const pid = brokerPid(id);
  process.kill(pid, 'SIGSTOP');
  await waitUntil(`broker ${id} (pid ${pid}) is stopped`, () => processState(pid) === 'stopped', 10_000);
}

export async function resumeBroker(id: number): Promise<void> {
  const pid = brokerPid(id);
  process.kill(pid, 'SIGCONT');
  await waitUntil(`broker ${id} (pid ${pid}) runs again`, () => processState(pid) === 'running', 10_000);
  down.delete(id);
}

export async function killBroker(id: number): Promise<void> {
  down.add(id);
  const pid = brokerPid(id);
  process.kill(pid, 'SIGKILL');
  // reaped, not only dead: services.sh takes a zombie for a running broker and would not restart it
  await waitUntil(`broker ${id} (pid ${pid}) is gone`, () => processState(pid) === 'gone', 60_000);
}

/** Starts every cluster node that is not running (idempotent), waits for their ports and checks their processes. */
export async function restartBrokers(): Promise<void> {
  await services('start', 'kafka-cluster');
  for (const id of CLUSTER_BROKERS) {
    const state = processState(brokerPid(id));
    if (state !== 'running') throw new Error(`broker ${id} is ${state} after services.sh start kafka-cluster`);
    down.delete(id);
  }
}

/**
 * Brings the cluster back to healthy whatever a scenario left: stopped brokers continued, dead
 * ones started, all three registered, and every partition of `topics` with its full ISR.
 */
export async function healCluster(topics: string[] = []): Promise<void> {
  for (const id of CLUSTER_BROKERS) {
    let pid = 0;
    try {
      pid = brokerPid(id);
    } catch {
      continue;
    }
    if (processState(pid) === 'stopped') process.kill(pid, 'SIGCONT');
  }
  down.clear();
  await restartBrokers();
  await waitUntil(
    'all three brokers are registered',
    () => withLiveAdmin(async (a) => (await a.metadata({ topics: [], forceUpdate: true })).brokers.size === 3),
    180_000,
  );
  for (const t of topics) {
    await waitUntil(
      `every partition of ${t} has its full ISR`,
      async () => {
        const v = await describePartitions(t).catch((e: unknown) =>
          String(e).includes('not in metadata') ? ([] as PartitionView[]) : Promise.reject(e),
        );
        return v.every((p) => p.leader >= 0 && p.isr.length === p.replicas.length);
      },
      180_000,
    );
  }
}

/**
 * Runs a scenario holding the cluster lock (no other test file stops or restarts brokers, or
 * stops the cluster, meanwhile), with the cluster started, and heals it afterwards even when the
 * scenario failed. `topics` collects the scenario's topics (their ISRs are waited for).
 */
export async function withFaultCluster<T>(fn: (topics: string[]) => Promise<T>): Promise<T> {
  const unlock = await lockCluster();
  const topics: string[] = [];
  try {
    await services('start', 'kafka-cluster');
    return await fn(topics);
  } finally {
    try {
      await healCluster(topics);
      await withLiveAdmin((a) => a.deleteTopics({ topics })).catch(() => undefined);
    } finally {
      await unlock();
    }
  }
}
