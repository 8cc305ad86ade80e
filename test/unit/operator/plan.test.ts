/** The reconcilers' planning: scheduled runs by deterministic name, status from Jobs and summaries. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KafkaBackupSpec, Resource } from '../../../src/operator/api.ts';
import type { RunSpec } from '../../../src/operator/jobs.ts';
import { type Plan, type Prepared, planBackup, planOneShot } from '../../../src/operator/plan.ts';
import type { JobLike, PodLike } from '../../../src/operator/runs.ts';
import { dueRun, scheduledJobName } from '../../../src/operator/schedule.ts';

const prepared: Prepared = {
  ok: true,
  run: (jobName, scheduledAt) => ({ jobName, scheduledAt }) as unknown as RunSpec,
};
const backup = (
  status?: Resource<KafkaBackupSpec>['status'],
  spec: Partial<KafkaBackupSpec> = {},
): Resource<KafkaBackupSpec> => ({
  apiVersion: 'kafkabackup.io/v1alpha1',
  kind: 'KafkaBackup',
  metadata: { name: 'orders', namespace: 'ns', uid: 'uid-1', generation: 1, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: {
    storage: { url: 's3://b' },
    kafka: { bootstrapServers: ['k:9092'] },
    schedule: { cron: '*/5 * * * *' },
    ...spec,
  },
  ...(status ? { status } : {}),
});
const created = (p: Plan) =>
  p.actions.filter((a) => a.type === 'createRun').map((a) => (a as { run: RunSpec }).run.jobName);
const events = (p: Plan) => p.actions.filter((a) => a.type === 'event').map((a) => (a as { reason: string }).reason);

const job = (
  name: string,
  state: 'active' | 'complete' | 'failed',
  extra: Partial<JobLike['status']> = {},
): JobLike => ({
  metadata: { name, annotations: { 'kafkabackup.io/scheduled-at': '2026-01-01T00:10:00.000Z' } },
  status: {
    startTime: '2026-01-01T00:10:01Z',
    ...(state === 'active' ? { active: 1 } : {}),
    ...(state === 'complete'
      ? { succeeded: 1, completionTime: '2026-01-01T00:10:30Z', conditions: [{ type: 'Complete', status: 'True' }] }
      : {}),
    ...(state === 'failed'
      ? {
          failed: 1,
          conditions: [
            {
              type: 'Failed',
              status: 'True',
              reason: 'BackoffLimitExceeded',
              message: 'Job has reached the specified backoff limit',
              lastTransitionTime: '2026-01-01T00:11:00Z',
            },
          ],
        }
      : {}),
    ...extra,
  },
});
const pod = (jobName: string, message: string, exitCode = 0): PodLike => ({
  metadata: { name: `${jobName}-abc`, labels: { 'job-name': jobName }, creationTimestamp: '2026-01-01T00:10:01Z' },
  status: {
    phase: exitCode ? 'Failed' : 'Succeeded',
    containerStatuses: [{ name: 'kafka-backup', state: { terminated: { exitCode, message } } }],
  },
});

test('the due scheduled time runs under a name derived from it; the same time never twice', () => {
  const now = new Date('2026-01-01T00:10:20Z');
  const p = planBackup({ resource: backup(), jobs: [], pods: [], prepared, now });
  const name = scheduledJobName('orders', new Date('2026-01-01T00:10:00Z'));
  assert.equal(name, `orders-${Date.parse('2026-01-01T00:10:00Z') / 60000}`);
  assert.deepEqual(created(p), [name]);
  assert.equal(p.status.lastScheduledTime, '2026-01-01T00:10:00.000Z');
  assert.equal(p.status.nextRun, '2026-01-01T00:15:00.000Z');
  assert.ok(events(p).includes('RunCreated'));
  // an operator restarted before it wrote the status: the Job is there, nothing new is started
  const again = planBackup({ resource: backup(), jobs: [job(name, 'active')], pods: [], prepared, now });
  assert.deepEqual(created(again), []);
  assert.equal(again.status.conditions!.find((c) => c.type === 'Running')!.status, 'True');
  // and with the status written, the next pass at the same time starts nothing either
  const third = planBackup({ resource: backup(p.status), jobs: [], pods: [], prepared, now });
  assert.deepEqual(created(third), []);
});

test("a finished run's figures come from the termination message into history and lastRun", () => {
  const name = 'orders-29452330';
  const summary = JSON.stringify({
    v: 1,
    ok: true,
    command: 'backup',
    snapshot_id: 'snap-1',
    records: 1200,
    raw_bytes: 4096,
    stored_bytes: 1024,
    duration_ms: 2500,
  });
  const p = planBackup({
    resource: backup({ lastScheduledTime: '2026-01-01T00:10:00.000Z' }),
    jobs: [job(name, 'complete')],
    pods: [pod(name, summary)],
    prepared,
    now: new Date('2026-01-01T00:11:00Z'),
  });
  assert.deepEqual(p.status.lastRun, {
    job: name,
    phase: 'Succeeded',
    scheduledAt: '2026-01-01T00:10:00.000Z',
    startedAt: '2026-01-01T00:10:01.000Z',
    finishedAt: '2026-01-01T00:10:30.000Z',
    snapshotId: 'snap-1',
    records: 1200,
    bytes: 4096,
    storedBytes: 1024,
    durationMs: 2500,
  });
  assert.ok(events(p).includes('RunSucceeded'));
  assert.equal(p.status.conditions!.find((c) => c.type === 'Succeeded')!.status, 'True');
  // the Job aged out: the record stays, and no second event
  const later = planBackup({
    resource: backup(p.status),
    jobs: [],
    pods: [],
    prepared,
    now: new Date('2026-01-01T00:12:00Z'),
  });
  assert.equal(later.status.lastRun!.snapshotId, 'snap-1');
  assert.ok(!events(later).includes('RunSucceeded'));
});

test('a run that found its line held by another writer says so', () => {
  const name = 'orders-29452330';
  const summary = JSON.stringify({
    v: 1,
    ok: false,
    exit_code: 2,
    code: 'LEASE_HELD',
    error: 'backup line orders is held by run abc on host x',
  });
  const p = planBackup({
    resource: backup({ lastScheduledTime: '2026-01-01T00:10:00.000Z' }),
    jobs: [job(name, 'failed')],
    pods: [pod(name, summary, 2)],
    prepared,
    now: new Date('2026-01-01T00:11:00Z'),
  });
  const failed = p.status.conditions!.find((c) => c.type === 'Failed')!;
  assert.equal(failed.status, 'True');
  assert.equal(failed.reason, 'LineHeldByAnotherWriter');
  assert.match(failed.message, /held by run abc/);
});

test('a time due while a run is active is skipped (Forbid), an invalid spec is Ready=False with one event', () => {
  const p = planBackup({
    resource: backup({ lastScheduledTime: '2026-01-01T00:10:00.000Z' }),
    jobs: [job('orders-1', 'active')],
    pods: [],
    prepared,
    now: new Date('2026-01-01T00:15:10Z'),
  });
  assert.deepEqual(created(p), []);
  assert.ok(events(p).includes('RunSkipped'));
  const bad: Prepared = { ok: false, reason: 'SecretNotFound', message: 'Secret ns/s3 not found' };
  const q = planBackup({
    resource: backup(),
    jobs: [],
    pods: [],
    prepared: bad,
    now: new Date('2026-01-01T00:10:10Z'),
  });
  assert.deepEqual(created(q), []);
  assert.deepEqual(events(q), ['SecretNotFound']);
  const ready = q.status.conditions!.find((c) => c.type === 'Ready')!;
  assert.deepEqual([ready.status, ready.reason, ready.message], ['False', 'SecretNotFound', 'Secret ns/s3 not found']);
  const q2 = planBackup({
    resource: backup(q.status),
    jobs: [],
    pods: [],
    prepared: bad,
    now: new Date('2026-01-01T00:10:20Z'),
  });
  assert.deepEqual(events(q2), []);
});

test('run-now starts one run per annotation value; suspend stops scheduled runs', () => {
  const r = backup(undefined, { schedule: { cron: '0 3 * * *', suspend: true } });
  r.metadata.annotations = { 'kafkabackup.io/run-now': 'first' };
  const p = planBackup({ resource: r, jobs: [], pods: [], prepared, now: new Date('2026-01-02T03:00:10Z') });
  assert.equal(created(p).length, 1);
  assert.match(created(p)[0]!, /^orders-now-[0-9a-f]{8}$/);
  assert.equal(p.status['runNowHandled'], 'first');
  const again = planBackup({
    resource: { ...r, status: p.status },
    jobs: [],
    pods: [],
    prepared,
    now: new Date('2026-01-02T03:00:20Z'),
  });
  assert.deepEqual(created(again), []);
});

test('missed times: only the newest within the starting deadline runs', () => {
  const d = dueRun(
    { cron: '* * * * *', startingDeadlineSeconds: 30 },
    new Date('2026-01-01T00:00:00Z'),
    new Date('2026-01-01T00:05:40Z'),
  );
  assert.equal(d.due, undefined);
  assert.equal(d.missed, 5);
  const e = dueRun({ cron: '* * * * *' }, new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:05:40Z'));
  assert.equal(e.due?.toISOString(), '2026-01-01T00:05:00.000Z');
});

test('a one-shot resource runs once under a name from its uid', () => {
  const r = {
    apiVersion: 'kafkabackup.io/v1alpha1',
    kind: 'KafkaRestore' as const,
    metadata: { name: 'dr', namespace: 'ns', uid: '0123456789ab', generation: 1 },
    spec: {},
  };
  const p = planOneShot({ kind: 'KafkaRestore', resource: r, jobs: [], pods: [], prepared, now: new Date() });
  assert.deepEqual(created(p), ['dr-01234567']);
  const done = planOneShot({
    kind: 'KafkaRestore',
    resource: { ...r, status: { history: [{ job: 'dr-01234567', phase: 'Succeeded' }] } },
    jobs: [],
    pods: [],
    prepared,
    now: new Date(),
  });
  assert.deepEqual(created(done), []);
  assert.equal(done.status.phase, 'Succeeded');
});

test('retention after a successful run: forget, then prune, each once, progress in the run record', () => {
  const steps: string[] = [];
  const withRetention: Prepared = {
    ok: true,
    run: prepared.ok ? prepared.run : () => ({}) as RunSpec,
    retention: (step, jobName) => {
      steps.push(step);
      return { jobName, step } as unknown as RunSpec;
    },
  };
  const name = 'orders-29452330';
  const ok = JSON.stringify({ v: 1, ok: true, snapshot_id: 's1', records: 1 });
  const stepJob = (n: string, state: 'active' | 'complete') => ({
    ...job(n, state),
    metadata: { name: n, labels: { 'kafkabackup.io/step': 'x' } },
  });
  const base = { lastScheduledTime: '2026-01-01T00:10:00.000Z' };
  const now = new Date('2026-01-01T00:11:00Z');
  const p1 = planBackup({
    resource: backup(base),
    jobs: [job(name, 'complete')],
    pods: [pod(name, ok)],
    prepared: withRetention,
    now,
  });
  assert.deepEqual(created(p1), [`${name}-forget`]);
  assert.equal(p1.status.lastRun!.retention, 'Forgetting');
  const p2 = planBackup({
    resource: backup(p1.status),
    jobs: [job(name, 'complete'), stepJob(`${name}-forget`, 'complete')],
    pods: [pod(name, ok)],
    prepared: withRetention,
    now,
  });
  assert.deepEqual(created(p2), [`${name}-prune`]);
  assert.equal(p2.status.lastRun!.retention, 'Pruning');
  assert.equal(p2.status.history!.length, 1, 'step Jobs are not runs');
  const p3 = planBackup({
    resource: backup(p2.status),
    jobs: [job(name, 'complete'), stepJob(`${name}-forget`, 'complete'), stepJob(`${name}-prune`, 'complete')],
    pods: [pod(name, ok)],
    prepared: withRetention,
    now,
  });
  assert.deepEqual(created(p3), []);
  assert.equal(p3.status.lastRun!.retention, 'Done');
  assert.ok(events(p3).includes('RetentionDone'));
  const p4 = planBackup({ resource: backup(p3.status), jobs: [], pods: [], prepared: withRetention, now });
  assert.deepEqual(created(p4), []);
});
