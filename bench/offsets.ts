/**
 * Offset manager benchmark on the real broker: plan + apply for many groups.
 *
 *   node bench/offsets.ts [--groups 500] [--partitions 20] [--concurrency 16] [--keep]
 *
 * Setup (not measured): a topic with P partitions, 200 records each; G groups with a committed
 * offset on every partition; a backup (which captures the groups) and a restore into a new topic.
 * Measured: plan, apply --execute (snapshot + commits + read back + apply record), a second apply
 * (everything unchanged), verify. Prints one JSON line with the timings.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Admin, Producer } from '@platformatic/kafka';
import { runBackup } from '../src/backup/engine.ts';
import { backupDefaults } from '../src/backup/options.ts';
import { Cluster, pool } from '../src/offsets/cluster.ts';
import { applyOffsets, type OffsetsRequest, planOffsets, verifyOffsets } from '../src/offsets/manager.ts';
import { runRestore } from '../src/restore/engine.ts';
import { restoreDefaults } from '../src/restore/options.ts';
import { FilesystemBackend } from '../src/storage/filesystem.ts';

const BOOTSTRAP = process.env['KB_BENCH_BOOTSTRAP'] ?? '127.0.0.1:19092';
const { values } = parseArgs({
  options: {
    groups: { type: 'string', default: '500' },
    partitions: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '16' },
    keep: { type: 'boolean', default: false },
  },
});
const G = Number(values.groups);
const P = Number(values.partitions);
const PER = 200;
const tag = `${Date.now().toString(36)}`;
const src = `bench-offsets-${tag}`;
const dst = `${src}-restored`;
const dir = mkdtempSync(join(tmpdir(), 'kb-bench-offsets-'));
const groups = Array.from({ length: G }, (_, i) => `bench-g-${tag}-${String(i).padStart(4, '0')}`);
const conn = { bootstrap_servers: [BOOTSTRAP] };

async function time<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, Math.round(performance.now() - t0)];
}

const admin = new Admin({ clientId: 'kb-bench', bootstrapBrokers: [BOOTSTRAP] });
try {
  await admin.createTopics({ topics: [src], partitions: P, replicas: 1 });
  const producer = new Producer({ clientId: 'kb-bench', bootstrapBrokers: [BOOTSTRAP], retries: 5 });
  for (let p = 0; p < P; p++)
    await producer.send({
      messages: Array.from({ length: PER }, (_, i) => ({
        topic: src,
        partition: p,
        key: Buffer.from(`k${i}`),
        value: Buffer.from(`v${p}-${i}`),
      })),
    });
  await producer.close();
  // G groups, each with a committed offset on every partition (setup through our commit path)
  const setup = new Cluster(conn, 'source');
  const [, setupMs] = await time(() =>
    pool(groups, 32, (g, i) =>
      setup.commit(
        g,
        Array.from({ length: P }, (_, p) => ({
          topic: src,
          partition: p,
          commit: { offset: (i * 7 + p * 13) % (PER + 1), metadata: null },
        })),
      ),
    ),
  );
  await setup.close();
  const storage = new FilesystemBackend({ path: dir });
  const [, backupMs] = await time(() =>
    runBackup({ ...backupDefaults, backupId: 'bench', source: conn, topics: { include: [src] }, storage }),
  );
  const [restored, restoreMs] = await time(() =>
    runRestore({
      ...restoreDefaults,
      backupId: 'bench',
      storage,
      target: conn,
      topics: { include: [src] },
      topicMapping: { [src]: dst },
    }),
  );
  const req: OffsetsRequest = {
    storage,
    backupId: 'bench',
    restoreId: restored.restore_id,
    target: conn,
    groups: [`bench-g-${tag}-*`],
    groupMapping: {},
    topicMapping: {},
    strategy: 'exact',
    maxConcurrentGroups: Number(values.concurrency),
  };
  const [plan, planMs] = await time(() => planOffsets(req));
  const [applied, applyMs] = await time(() => applyOffsets(req, { execute: true }));
  const [again, reapplyMs] = await time(() => applyOffsets(req, { execute: true }));
  const [verified, verifyMs] = await time(() =>
    verifyOffsets({
      stateStorage: storage,
      backupId: 'bench',
      target: conn,
      maxConcurrentGroups: Number(values.concurrency),
    }),
  );
  const out = {
    groups: G,
    partitions: P,
    entries: plan.entries.length,
    concurrency: Number(values.concurrency),
    setup_commit_ms: setupMs,
    backup_ms: backupMs,
    restore_ms: restoreMs,
    plan_ms: planMs,
    apply_ms: applyMs,
    plan_plus_apply_ms: planMs + applyMs,
    applied_set: applied.counts.set,
    reapply_ms: reapplyMs,
    reapply_unchanged: again.counts.unchanged,
    reapply_set: again.counts.set,
    verify_ms: verifyMs,
    verify_ok: verified.ok,
    ...(values.keep
      ? { dir, backup_id: 'bench', source_topic: src, target_topic: dst, group_prefix: `bench-g-${tag}-` }
      : {}),
  };
  console.log(JSON.stringify(out));
  if (!verified.ok || applied.counts.failed || again.counts.set) process.exitCode = 1;
} finally {
  if (!values.keep) {
    await admin.deleteTopics({ topics: [src, dst] }).catch(() => undefined);
    for (let i = 0; i < groups.length; i += 100)
      await admin.deleteGroups({ groups: groups.slice(i, i + 100) }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  await admin.close();
}
