/**
 * What the retention tests share: the four storage backends, lines written by real backup runs,
 * and the checks (restore compared with Kafka's Java consumer, validate --deep, list).
 */
import assert from 'node:assert/strict';
import { type CliResult, cli, jsonOut, startCli, tempDir, writeConfig } from './cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, sleep, uniqueTopic } from './kafka.ts';
import { type DumpedRecord, dumpTopic, produceSpec } from './peers.ts';

const view = (r: DumpedRecord) => `${r.partition}|${r.offset}|${r.timestamp}|${r.key}|${r.value}`;

export function assertSameRecords(actual: DumpedRecord[], expected: DumpedRecord[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: record count`);
  const a = actual.map(view).map((v) => v.replace(/^(\d+)\|\d+\|/, '$1|'));
  const e = expected.map(view).map((v) => v.replace(/^(\d+)\|\d+\|/, '$1|'));
  for (let i = 0; i < e.length; i++) if (a[i] !== e[i]) assert.fail(`${what}: record ${i} differs: ${a[i]} vs ${e[i]}`);
}

import { type Backend, cliBackends } from './cli-backends.ts';

export type { Backend } from './cli-backends.ts';
export const backends = cliBackends('kb-ret');

let produced = 0;
export async function produce(topic: string, n: number, partitions: number, timestamp?: number): Promise<void> {
  await produceSpec(
    topic,
    Array.from({ length: n }, (_, i) => ({
      partition: (produced + i) % partitions,
      key: `k${produced + i}`,
      value: `v${produced + i}-${'x'.repeat(200)}`,
      ...(timestamp !== undefined ? { timestamp: timestamp + i } : {}),
    })),
  );
  produced += n;
}

export function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`);
  return r;
}

export interface Line {
  dir: string;
  storage: Record<string, unknown>;
  url: string;
  env: NodeJS.ProcessEnv;
  id: string;
}

/** Restores a snapshot of `topic` into a new topic with the CLI; returns the new topic's name. */
async function restoreInto(line: Line, topic: string, snapshot: string, what: string): Promise<string> {
  const target = `${topic}-r-${snapshot.slice(-6)}-${Math.random().toString(36).slice(2, 6)}`;
  const rc = writeConfig(line.dir, `restore-${target}.yaml`, {
    backup_id: line.id,
    snapshot,
    target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
    storage: line.storage,
    restore: { topic_mapping: { [topic]: target } },
  });
  ok(await cli(['restore', '-c', rc, '--format', 'json'], line.env), `restore ${what}`);
  return target;
}

export async function restoreEquals(
  line: Line,
  topic: string,
  snapshot: string,
  expected: DumpedRecord[],
  what: string,
) {
  assertSameRecords(await dumpTopic(await restoreInto(line, topic, snapshot, what)), expected, what);
}

/** Restores several snapshots, then reads all the restored topics with one Java consumer run. */
export async function restoreAllEqual(
  line: Line,
  topic: string,
  snaps: { id: string; expected: DumpedRecord[] }[],
  what: string,
) {
  const targets: string[] = [];
  for (const s of snaps) targets.push(await restoreInto(line, topic, s.id, `${what}: ${s.id}`));
  const dumped = await dumpTopic(targets);
  for (const [i, s] of snaps.entries())
    assertSameRecords(
      dumped.filter((r) => r.topic === targets[i]),
      s.expected,
      `${what}: snapshot ${s.id}`,
    );
}

export async function validateDeep(line: Line, what: string): Promise<{ unlisted_files: string[] }> {
  const v = await cli(['validate', '--path', line.url, '--backup-id', line.id, '--deep', '--format', 'json'], line.env);
  assert.equal(v.code, 0, `validate --deep ${what}: ${v.stdout.slice(-3000)} ${v.stderr.slice(-2000)}`);
  return jsonOut<{ unlisted_files: string[] }>(v);
}

export interface ForgetOut {
  snapshots: { id: string; keep: boolean; reasons: string[] }[];
  forgotten: string[];
  seq: number | null;
}
export interface PruneOut {
  repack: { into: string | null; files: number }[];
  deleted: { key: string; why: string }[];
  deleted_objects: number;
  deleted_bytes: number;
  repacked_files: number;
  kept_young: number;
}

export async function listSnapshots(line: Line): Promise<{ id: string; created: string }[]> {
  const l = jsonOut<{ backups: { backup_id: string; snapshots: { id: string; created: string }[] }[] }>(
    ok(await cli(['list', '--path', line.url, '--format', 'json'], line.env), 'list'),
  );
  return l.backups.find((x) => x.backup_id === line.id)!.snapshots;
}

export interface RunSpec {
  tags?: string[];
  /** Extra environment of the backup run (KB_TEST_SNAPSHOT_TIME). */
  env?: NodeJS.ProcessEnv;
}

/**
 * A line of `runs` incremental snapshot runs of a 2-partition topic, 60 new records before each;
 * by default the second run is tagged `release`. Each snapshot comes with the topic as Kafka's
 * Java consumer read it right after the run: what a restore of it must give back.
 */
export async function incrementalLine(
  b: Backend,
  runs: number,
  spacingMs: number,
  spec: (i: number) => RunSpec = (i) => ({ tags: i === 1 ? ['release'] : [] }),
) {
  const topic = await createTopic(uniqueTopic(`ret-${b.name}`), { partitions: 2 });
  const dir = tempDir(`ret-${b.name}`);
  const storage = await b.storage();
  const line: Line = { dir, storage, url: b.url(storage), env: b.env, id: 'ret' };
  const cfg = (tags: string[]) =>
    writeConfig(dir, `backup-${tags.join('-') || 'plain'}.yaml`, {
      backup_id: line.id,
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage,
      backup: { tags, compression: 'lz4' },
    });
  const snaps: { id: string; expected: DumpedRecord[] }[] = [];
  for (let i = 0; i < runs; i++) {
    await produce(topic, 60, 2);
    const { tags = [], env = {} } = spec(i);
    const r = ok(await cli(['backup', '-c', cfg(tags), '--format', 'json'], { ...b.env, ...env }), 'backup');
    snaps.push({ id: jsonOut<{ snapshot_id: string }>(r).snapshot_id, expected: await dumpTopic(topic) });
    if (i < runs - 1) await sleep(spacingMs);
  }
  return { topic, line, snaps };
}

/**
 * Runs a CLI command that stops at a named step (KB_TEST_STALL_AT), waits until it says it got
 * there, and kills it with SIGKILL. Fails when the command ended before reaching the step.
 */
export async function killAt(args: string[], point: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
  const { child, done } = await stalledAt(args, point, env);
  child.kill('SIGKILL');
  const r = await done;
  assert.equal(r.signal, 'SIGKILL', `${args[0]} reached ${point}: exit ${r.code} ${r.stdout} ${r.stderr.slice(-2000)}`);
}

/** A command started to stop at a step, once it says it is there (the caller kills it). */
export async function stalledAt(args: string[], point: string, env: NodeJS.ProcessEnv = {}) {
  const started = startCli(args, { ...env, KB_TEST_STALL_AT: point });
  let stderr = '';
  started.child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const deadline = Date.now() + 120_000;
  while (!stderr.includes(`stalled at ${point}`) && Date.now() < deadline && started.child.exitCode === null)
    await sleep(20);
  return started;
}
