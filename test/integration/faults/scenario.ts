/**
 * What the fault scenarios share: configs for the real CLI (backup and restore against the
 * 3-broker cluster), what a backup line lists (to wait on a continuous backup's progress), and
 * each scenario's runtime, printed so the suite's cost stays visible.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { openExistingLine } from '../../../src/repository/line.ts';
import { FilesystemBackend } from '../../../src/storage/filesystem.ts';
import { type CliResult, cli, jsonOut, startCli, writeConfig } from '../../helpers/cli.ts';
import { CLUSTER, createClusterTopic, partitionEnds } from '../../helpers/fault-cluster.ts';

export const CLUSTER_LIST = CLUSTER.split(',');

export interface Line {
  dir: string;
  id: string;
  store: string;
}

export function line(dir: string, id: string): Line {
  return { dir, id, store: join(dir, `backups-${id}`) };
}

/** A backup config for the cluster (all three brokers as bootstrap, as a user would write it). */
export function backupConfig(l: Line, topics: string[], backup: Record<string, unknown> = {}, name = l.id): string {
  return writeConfig(l.dir, `${name}-backup.yaml`, {
    backup_id: l.id,
    source: { bootstrap_servers: CLUSTER_LIST, topics: { include: topics } },
    storage: { backend: 'filesystem', path: l.store },
    backup: { checkpoint_interval_secs: 1, ...backup },
  });
}

/** `restore.snapshot` is taken out and becomes the top-level `snapshot` (which snapshot to restore). */
export function restoreConfig(
  l: Line,
  mapping: Record<string, string>,
  { snapshot, ...restore }: Record<string, unknown> = {},
  name = 'restore',
): string {
  return writeConfig(l.dir, `${l.id}-${name}.yaml`, {
    backup_id: l.id,
    ...(snapshot === undefined ? {} : { snapshot }),
    target: { bootstrap_servers: CLUSTER_LIST },
    storage: { backend: 'filesystem', path: l.store },
    restore: { topic_mapping: mapping, ...restore },
  });
}

/** next_offset per partition the newest generation of the line lists for the topic (what is durable). */
export async function listedEnds(l: Line, topic: string): Promise<Map<number, number>> {
  const storage = new FilesystemBackend({ path: l.store });
  try {
    const { manifest } = await openExistingLine(storage, l.id);
    const parts = manifest.topics[topic]?.partitions ?? {};
    return new Map(Object.entries(parts).map(([p, s]) => [Number(p), s.next_offset]));
  } finally {
    await storage.close();
  }
}

/** Whether the line lists every partition of the topic up to its current high watermark. */
export async function caughtUp(l: Line, topic: string, partitions: number): Promise<boolean> {
  const ps = [...Array(partitions).keys()];
  const [listed, ends] = await Promise.all([
    listedEnds(l, topic).catch(() => new Map<number, number>()),
    partitionEnds(topic, ps),
  ]);
  return ps.every((p) => (listed.get(p) ?? -1) >= ends.get(p)!.highWatermark);
}

/** Restores the line into a fresh cluster topic (same partition count, 3 replicas, min ISR 2). */
export async function restoreInto(
  l: Line,
  source: string,
  target: string,
  partitions: number,
  restore: Record<string, unknown> = {},
): Promise<CliResult> {
  await createClusterTopic(
    target,
    [...Array(partitions).keys()].map(() => [1, 2, 3]),
    { 'min.insync.replicas': '2' },
  );
  const r = await cli(['restore', '-c', restoreConfig(l, { [source]: target }, restore, target), '--format', 'json']);
  return r;
}

export function assertOk(r: CliResult, what: string): void {
  assert.equal(r.code, 0, `${what} exit ${r.code}: ${r.stderr.slice(-3000)}`);
}

export function jsonRecords(r: CliResult): number {
  return jsonOut<{ records: number }>(r).records;
}

/** Runs a scenario body and prints its runtime (docs/testing.md collects them). */
export async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    console.log(`fault scenario "${name}": ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

const running = new Set<ChildProcess>();

/** startCli, remembered until it exits, so a failed scenario leaves no backup running (killStrays). */
export function startRun(args: string[], env: NodeJS.ProcessEnv = {}): ReturnType<typeof startCli> {
  const r = startCli(args, env);
  running.add(r.child);
  r.child.on('close', () => running.delete(r.child));
  return r;
}

/** Kills (SIGKILL) every CLI run a scenario started and left running: its pipes would keep the test file alive. */
export function killStrays(): void {
  for (const c of running) c.kill('SIGKILL');
}
