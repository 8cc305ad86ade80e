/**
 * The operator end to end against the real test bed: kube-apiserver (CRD validation, RBAC),
 * kube-controller-manager (Job controller, garbage collector), the node stand-in running the Pods'
 * `kafka-backup` commands locally, real Kafka (127.0.0.1:19092), real S3 (moto). The operator runs
 * as `kafka-backup operator` under the ServiceAccount and RBAC of the Helm chart. Records are
 * compared with Kafka's Java consumer, group offsets with Kafka's Java Admin.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { cli } from '../../helpers/cli.ts';
import { createTopic, deleteTopics, KAFKA_BOOTSTRAP, REPO_ROOT, uniqueTopic } from '../../helpers/kafka.ts';
import {
  createNamespace,
  deleteNamespace,
  installOperatorRbac,
  KUBE_START_TIMEOUT_MS,
  KubeApiError,
  KubeClient,
  type KubeObject,
  startKube,
} from '../../helpers/kube.ts';
import { type NodeStandIn, startNode } from '../../helpers/kube-node.ts';
import { consumeAsGroup, dumpTopic, groupOffsets, produceSpec } from '../../helpers/peers.ts';
import { createS3Bucket, S3_CREDENTIALS, S3_ENDPOINT } from '../../helpers/storage-servers.ts';
import { GROUP_PATH, metricValue, type OperatorProcess, placesToGrep, startOperator, until } from './harness.ts';

// The secret value every grep looks for: it must reach the CLI (moto accepts any key, the runs
// succeed with it) and nothing else.
const SECRET = `kb-secret-${randomBytes(8).toString('hex')}`;

let admin: KubeClient;
let ns: string;
let node: NodeStandIn;
let kubeconfig: string;
let operator: OperatorProcess;
const operators: OperatorProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'kb-operator-'));
const topics: string[] = [];
let bucket: string;

const path = (plural: string, name = '') => `${GROUP_PATH}/namespaces/${ns}/${plural}${name ? `/${name}` : ''}`;
type Status = {
  conditions?: { type: string; status: string; reason: string; message: string }[];
  lastRun?: Record<string, unknown>;
  history?: Record<string, unknown>[];
  phase?: string;
  nextRun?: string;
};
const statusOf = (o: KubeObject) => (o['status'] ?? {}) as Status;
const isFinalRun = (r: Record<string, unknown> | undefined) =>
  r?.['phase'] === 'Succeeded' || r?.['phase'] === 'Failed';
const cond = (o: KubeObject, type: string) => statusOf(o).conditions?.find((c) => c.type === type);

/** Waits until a one-shot resource's run has finished, either way. */
function finished(plural: string, name: string): Promise<KubeObject> {
  return until(
    `${name} to finish`,
    async () => {
      const r = await admin.get(path(plural, name));
      return ['Succeeded', 'Failed'].includes(String(statusOf(r).phase)) ? r : undefined;
    },
    180_000,
  );
}

function launch(extra: string[] = []): OperatorProcess {
  const p = startOperator(kubeconfig, ns, extra);
  operators.push(p);
  return p;
}

async function jobsOf(owner: string): Promise<KubeObject[]> {
  const list = await admin.get<{ items: KubeObject[] }>(`/apis/batch/v1/namespaces/${ns}/jobs`, {
    labelSelector: `kafkabackup.io/owner=${owner}`,
  });
  return list.items;
}

const storageSpec = () => ({
  url: `s3://${bucket}/operator`,
  endpoint: S3_ENDPOINT,
  region: 'us-east-1',
  pathStyle: true,
  accessKeyIdSecret: { name: 's3-credentials', key: 'access-key-id' },
  secretAccessKeySecret: { name: 's3-credentials', key: 'secret-access-key' },
});

before(
  async () => {
    admin = new KubeClient(await startKube());
    ns = await createNamespace(admin, 'kb-operator');
    // the chart (its CRDs, ServiceAccount and RBAC; the operator runs as this test's process)
    kubeconfig = (await installOperatorRbac(admin, { namespace: ns, watchNamespaces: [ns], dir })).kubeconfig;
    bucket = await createS3Bucket('kb-operator');
    await admin.post(`/api/v1/namespaces/${ns}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's3-credentials' },
      stringData: { 'access-key-id': S3_CREDENTIALS.access_key_id, 'secret-access-key': SECRET },
    });
    node = await startNode(admin, { namespaces: [ns] });
    operator = launch();
    await operator.url;
  },
  { timeout: KUBE_START_TIMEOUT_MS },
);

after(async () => {
  for (const p of operators) await p.stop('SIGKILL');
  await node?.stop();
  if (ns) await deleteNamespace(admin, ns).catch(() => {});
  await deleteTopics(topics);
  rmSync(dir, { recursive: true, force: true });
});

describe('KafkaBackup, KafkaRestore, KafkaOffsetReset, KafkaOffsetRollback', () => {
  let source: string;
  const group = `kb-op-group-${randomBytes(3).toString('hex')}`;

  test('a scheduled KafkaBackup runs a Job at each scheduled minute; status has every run with its snapshot and figures', async () => {
    source = await createTopic(uniqueTopic('op-src'), { partitions: 2 });
    topics.push(source);
    await produceSpec(
      source,
      Array.from({ length: 60 }, (_, i) => ({
        partition: i % 2,
        key: `k${i}`,
        value: `value-${i}`,
        timestamp: 1_700_000_000_000 + i,
      })),
    );
    await consumeAsGroup(group, source, 25);
    await admin.post(path('kafkabackups'), {
      apiVersion: 'kafkabackup.io/v1alpha1',
      kind: 'KafkaBackup',
      metadata: { name: 'orders' },
      spec: {
        kafka: { bootstrapServers: [KAFKA_BOOTSTRAP] },
        topics: { include: [source] },
        storage: storageSpec(),
        schedule: { cron: '* * * * *' },
        backup: { compression: 'zstd', batchSize: 1000 },
        historyLimit: 5,
      },
    });
    const two = await until(
      'two scheduled runs to succeed',
      async () => {
        const b = await admin.get(path('kafkabackups', 'orders'));
        const done = (statusOf(b).history ?? []).filter((r) => r['phase'] === 'Succeeded' && r['scheduledAt']);
        return done.length >= 2 ? b : undefined;
      },
      200_000,
    );
    const history = statusOf(two).history!.filter((r) => r['phase'] === 'Succeeded');
    const jobs = await jobsOf('orders');
    for (const run of history.slice(0, 2)) {
      const at = Date.parse(String(run['scheduledAt']));
      assert.equal(at % 60_000, 0, 'a scheduled time is a whole minute');
      assert.equal(run['job'], `orders-${at / 60_000}`);
      const job = jobs.find((j) => j.metadata?.name === run['job']);
      assert.ok(job, `Job ${String(run['job'])} exists`);
      assert.ok(Date.parse(String(job.metadata?.creationTimestamp)) >= at - 1000, 'created at (not before) its time');
      assert.match(String(run['snapshotId']), /\S/);
      assert.equal(typeof run['bytes'], 'number');
      assert.equal(typeof run['durationMs'], 'number');
    }
    // the first run read all 60 records
    const first = history.at(-1)!;
    assert.equal(first['records'], 60);
    assert.notEqual(history[0]!['snapshotId'], history[1]!['snapshotId']);
    assert.equal(cond(two, 'Ready')?.status, 'True');
    assert.equal(cond(two, 'Succeeded')?.status, 'True');
    assert.ok(Date.parse(String(statusOf(two).nextRun)) > Date.now() - 60_000);
    // stop scheduling; later tests use this backup
    await admin.patch(path('kafkabackups', 'orders'), { spec: { schedule: { cron: '* * * * *', suspend: true } } });
  });

  test('a KafkaRestore of that backup restores the topic exactly and moves the consumer group', async () => {
    const target = `${source}-restored`;
    topics.push(target);
    await admin.post(path('kafkarestores'), {
      apiVersion: 'kafkabackup.io/v1alpha1',
      kind: 'KafkaRestore',
      metadata: { name: 'orders-dr' },
      spec: {
        backupRef: { name: 'orders' },
        restore: {
          topics: { include: [source] },
          topicMapping: { [source]: target },
          consumerGroups: [group],
          groupMapping: { [group]: `${group}-dr` },
        },
      },
    });
    const done = await finished('kafkarestores', 'orders-dr');
    assert.equal(statusOf(done).phase, 'Succeeded', JSON.stringify(statusOf(done)));
    assert.equal(statusOf(done).lastRun?.['records'], 60);
    const strip = (rs: Awaited<ReturnType<typeof dumpTopic>>) => rs.map(({ topic: _t, ...r }) => r);
    assert.deepEqual(strip(await dumpTopic(target)), strip(await dumpTopic(source)));
    const moved = (await groupOffsets(`${group}-dr`)).filter((o) => o.topic === target);
    const original = (await groupOffsets(group)).filter((o) => o.topic === source);
    assert.deepEqual(
      moved.map((o) => [o.partition, o.offset]).sort(),
      original.map((o) => [o.partition, o.offset]).sort(),
    );
    assert.equal(
      original.reduce((n, o) => n + Number(o.offset), 0),
      25,
    );
  });

  test('a KafkaOffsetReset moves the group; a KafkaOffsetRollback returns it', async () => {
    const target = `${source}-restored`;
    const drGroup = `${group}-dr`;
    const before = (await groupOffsets(drGroup))
      .filter((o) => o.topic === target)
      .map((o) => [o.partition, o.offset])
      .sort();
    await admin.post(path('kafkaoffsetresets'), {
      apiVersion: 'kafkabackup.io/v1alpha1',
      kind: 'KafkaOffsetReset',
      metadata: { name: 'to-earliest' },
      spec: {
        backupRef: { name: 'orders' },
        groups: [group],
        groupMapping: { [group]: drGroup },
        strategy: 'earliest',
      },
    });
    const reset = await finished('kafkaoffsetresets', 'to-earliest');
    assert.equal(statusOf(reset).phase, 'Succeeded', JSON.stringify(statusOf(reset)));
    assert.match(String(statusOf(reset).lastRun?.['rollbackSnapshot']), /\S/);
    const atEarliest = (await groupOffsets(drGroup)).filter((o) => o.topic === target);
    assert.ok(atEarliest.length > 0 && atEarliest.every((o) => Number(o.offset) === 0), JSON.stringify(atEarliest));

    await admin.post(path('kafkaoffsetrollbacks'), {
      apiVersion: 'kafkabackup.io/v1alpha1',
      kind: 'KafkaOffsetRollback',
      metadata: { name: 'undo' },
      spec: { backupRef: { name: 'orders' }, offsetResetRef: { name: 'to-earliest' } },
    });
    const rolled = await finished('kafkaoffsetrollbacks', 'undo');
    assert.equal(statusOf(rolled).phase, 'Succeeded', JSON.stringify(statusOf(rolled)));
    const back = (await groupOffsets(drGroup))
      .filter((o) => o.topic === target)
      .map((o) => [o.partition, o.offset])
      .sort();
    assert.deepEqual(back, before);
  });
});

describe('invalid resources', () => {
  const backup = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: 'kafkabackup.io/v1alpha1',
    kind: 'KafkaBackup',
    metadata: { name },
    spec,
  });

  test('the API server rejects bad specs (schema and CEL rules) with the field named', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { kafka: { bootstrapServers: ['k:9092'] }, storage: { url: 's3://b' }, mode: 'sometimes' },
        /spec\.mode: Unsupported value: "sometimes"/,
      ],
      [
        { kafka: { bootstrapServers: ['k:9092'] }, storage: { url: 's3://b' }, backup: { compression: 'brotli' } },
        /spec\.backup\.compression: Unsupported value/,
      ],
      [
        { kafka: { bootstrapServers: ['k:9092'] }, storage: { url: 's3://b' }, backup: { batchSize: 0 } },
        /spec\.backup\.batchSize: Invalid value: 0/,
      ],
      [{ kafka: { bootstrapServers: ['k:9092'] } }, /spec\.storage: Required value/],
      [{ storage: { url: 's3://b' } }, /set kafka\.bootstrapServers or strimziClusterRef/],
      [
        { kafka: { bootstrapServers: ['k:9092'] }, storage: { url: 's3://b', secretAccessKeySecret: { name: 's' } } },
        /spec\.storage\.secretAccessKeySecret\.key: Required value/,
      ],
      [
        {
          kafka: { bootstrapServers: ['k:9092'] },
          storage: { url: 's3://b' },
          mode: 'continuous',
          schedule: { cron: '@daily' },
        },
        /schedule is for snapshot mode/,
      ],
    ];
    for (const [i, [spec, message]] of cases.entries()) {
      const err = await admin.post(path('kafkabackups'), backup(`bad-${i}`, spec)).then(
        () => assert.fail(`accepted: ${JSON.stringify(spec)}`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof KubeApiError && err.status === 422, String(err));
      assert.match(String((err.body as { message?: string }).message), message);
    }
  });

  test('semantic problems are reported in status with a reason: a missing Secret, an invalid cron, a cross-field rule', async () => {
    const base = { kafka: { bootstrapServers: [KAFKA_BOOTSTRAP] }, topics: { include: ['x'] } };
    await admin.post(
      path('kafkabackups'),
      backup('no-secret', {
        ...base,
        storage: { ...storageSpec(), secretAccessKeySecret: { name: 'absent', key: 'k' } },
        schedule: { cron: '0 3 * * *' },
      }),
    );
    await admin.post(
      path('kafkabackups'),
      backup('bad-cron', { ...base, storage: storageSpec(), schedule: { cron: '61 * * * *' } }),
    );
    await admin.post(
      path('kafkabackups'),
      backup('bad-level', { ...base, storage: storageSpec(), backup: { compression: 'gzip', compressionLevel: 15 } }),
    );
    const expect: [string, string, RegExp][] = [
      ['no-secret', 'SecretNotFound', /Secret .*\/absent not found/],
      ['bad-cron', 'InvalidSchedule', /schedule\.cron "61 \* \* \* \*" is not valid/],
      ['bad-level', 'InvalidSpec', /backup\.compressionLevel: must be between 1 and 9 for gzip, found 15/],
    ];
    for (const [name, reason, message] of expect) {
      const b = await until(
        `${name} to be reported`,
        async () => {
          const o = await admin.get(path('kafkabackups', name));
          return cond(o, 'Ready') ? o : undefined;
        },
        30_000,
      );
      const ready = cond(b, 'Ready')!;
      assert.deepEqual([ready.status, ready.reason], ['False', reason], name);
      assert.match(ready.message, message);
      assert.equal((await jobsOf(name)).length, 0, `${name} started no run`);
    }
    const events = await admin.get<{ items: KubeObject[] }>(`/api/v1/namespaces/${ns}/events`);
    assert.ok(
      events.items.some(
        (e) => e['reason'] === 'SecretNotFound' && (e['involvedObject'] as { name: string }).name === 'no-secret',
      ),
    );
  });
});

describe('Strimzi', () => {
  test('strimziClusterRef: bootstrap servers from the Kafka status listener; a SCRAM KafkaUser from its Secret', async () => {
    await admin.applyYaml(readFileSync(join(REPO_ROOT, 'test/fixtures/strimzi/crds.yaml'), 'utf8'));
    const strimzi = `/apis/kafka.strimzi.io/v1beta2/namespaces/${ns}`;
    await admin.post(`${strimzi}/kafkas`, {
      apiVersion: 'kafka.strimzi.io/v1beta2',
      kind: 'Kafka',
      metadata: { name: 'local' },
      spec: { kafka: { listeners: [{ name: 'plain', port: 9092, type: 'internal', tls: false }] } },
      status: { listeners: [{ name: 'plain', type: 'internal', bootstrapServers: KAFKA_BOOTSTRAP }] },
    });
    await admin.post(`${strimzi}/kafkausers`, {
      apiVersion: 'kafka.strimzi.io/v1beta2',
      kind: 'KafkaUser',
      metadata: { name: 'backup-user' },
      spec: { authentication: { type: 'scram-sha-512' } },
    });
    const topic = await createTopic(uniqueTopic('op-strimzi'));
    topics.push(topic);
    await produceSpec(
      topic,
      Array.from({ length: 7 }, (_, i) => ({ partition: 0, key: `k${i}`, value: `v${i}` })),
    );
    await admin.post(path('kafkabackups'), {
      apiVersion: 'kafkabackup.io/v1alpha1',
      kind: 'KafkaBackup',
      metadata: { name: 'strimzi', annotations: { 'kafkabackup.io/run-now': '1' } },
      spec: {
        strimziClusterRef: { name: 'local', listener: 'plain' },
        topics: { include: [topic] },
        storage: storageSpec(),
      },
    });
    const b = await until(
      'the Strimzi backup run',
      async () => {
        const o = await admin.get(path('kafkabackups', 'strimzi'));
        return isFinalRun(statusOf(o).lastRun) ? o : undefined;
      },
      120_000,
    );
    assert.equal(statusOf(b).lastRun?.['phase'], 'Succeeded', JSON.stringify(statusOf(b)));
    assert.equal(statusOf(b).lastRun?.['records'], 7);
    const job = (await jobsOf('strimzi'))[0]!;
    const cm = await admin.get<{ data: Record<string, string> }>(
      `/api/v1/namespaces/${ns}/configmaps/${job.metadata?.name}`,
    );
    assert.match(
      cm.data['config.yaml']!,
      new RegExp(`bootstrap_servers:\\s*\\n\\s*- ${KAFKA_BOOTSTRAP.replace(/\./g, '\\.')}`),
    );

    // a SCRAM user: its Secret must exist; the password is referenced, never copied
    await admin.post(path('kafkabackups'), {
      apiVersion: 'kafkabackup.io/v1alpha1',
      kind: 'KafkaBackup',
      metadata: { name: 'strimzi-user' },
      spec: {
        strimziClusterRef: { name: 'local', listener: 'plain', kafkaUser: 'backup-user' },
        topics: { include: [topic] },
        storage: storageSpec(),
        schedule: { cron: '0 3 * * *' },
      },
    });
    const missing = await until(
      'the missing user Secret',
      async () => {
        const o = await admin.get(path('kafkabackups', 'strimzi-user'));
        return cond(o, 'Ready') ? o : undefined;
      },
      30_000,
    );
    assert.deepEqual([cond(missing, 'Ready')?.status, cond(missing, 'Ready')?.reason], ['False', 'SecretNotFound']);
    assert.match(String(cond(missing, 'Ready')?.message), /backup-user not found/);
    const missingCluster = await admin.post(path('kafkabackups'), {
      apiVersion: 'kafkabackup.io/v1alpha1',
      kind: 'KafkaBackup',
      metadata: { name: 'strimzi-nope' },
      spec: {
        strimziClusterRef: { name: 'nope', listener: 'plain' },
        storage: storageSpec(),
        schedule: { cron: '0 3 * * *' },
      },
    });
    void missingCluster;
    const nope = await until(
      'the missing Kafka',
      async () => {
        const o = await admin.get(path('kafkabackups', 'strimzi-nope'));
        return cond(o, 'Ready') ? o : undefined;
      },
      30_000,
    );
    assert.equal(cond(nope, 'Ready')?.reason, 'StrimziClusterNotFound');
  });
});

describe('continuous mode, deletion', () => {
  test('a continuous KafkaBackup is one long-running Job; deleting the resource stops it and keeps the data', async () => {
    const topic = await createTopic(uniqueTopic('op-cont'));
    topics.push(topic);
    await produceSpec(
      topic,
      Array.from({ length: 5 }, (_, i) => ({ partition: 0, key: `k${i}`, value: `v${i}` })),
    );
    await admin.post(path('kafkabackups'), {
      apiVersion: 'kafkabackup.io/v1alpha1',
      kind: 'KafkaBackup',
      metadata: { name: 'stream' },
      spec: {
        mode: 'continuous',
        kafka: { bootstrapServers: [KAFKA_BOOTSTRAP] },
        topics: { include: [topic] },
        storage: storageSpec(),
        backup: { segmentMaxIntervalSecs: 1, checkpointIntervalSecs: 1 },
      },
    });
    const running = await until(
      'the continuous run to be running',
      async () => {
        const o = await admin.get(path('kafkabackups', 'stream'));
        return statusOf(o).lastRun?.['phase'] === 'Running' ? o : undefined;
      },
      90_000,
    );
    assert.equal(statusOf(running).lastRun?.['job'], 'stream-continuous-1');
    assert.equal(cond(running, 'Running')?.status, 'True');
    assert.equal(statusOf(running).nextRun, undefined);
    // the backup writes to storage while it runs
    const objects = async () => {
      const client = new S3Client({
        endpoint: S3_ENDPOINT,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: S3_CREDENTIALS.access_key_id, secretAccessKey: SECRET },
      });
      try {
        const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'operator/stream' }));
        return r.KeyCount ?? 0;
      } finally {
        client.destroy();
      }
    };
    const written = await until('data in storage', async () => ((await objects()) > 0 ? objects() : undefined), 60_000);
    await admin.delete(path('kafkabackups', 'stream'), { propagationPolicy: 'Foreground' });
    await until('the Job to be gone', async () => ((await jobsOf('stream')).length === 0 ? true : undefined), 90_000);
    assert.ok((await objects()) >= written, 'deleting the resource deleted no backup data');
  });
});

describe('retention', () => {
  test('keep policies run forget, then prune, after a successful run; the older snapshot goes', async () => {
    const topic = await createTopic(uniqueTopic('op-keep'));
    topics.push(topic);
    await produceSpec(
      topic,
      Array.from({ length: 4 }, (_, i) => ({ partition: 0, key: `k${i}`, value: `v${i}` })),
    );
    const body = (runNow: string) => ({
      apiVersion: 'kafkabackup.io/v1alpha1',
      kind: 'KafkaBackup',
      metadata: { name: 'keep', annotations: { 'kafkabackup.io/run-now': runNow } },
      spec: {
        kafka: { bootstrapServers: [KAFKA_BOOTSTRAP] },
        topics: { include: [topic] },
        storage: storageSpec(),
        retention: { keepLast: 1, pruneGrace: '1s' },
      },
    });
    const retained = (n: number) =>
      until(
        `run ${n} with retention done`,
        async () => {
          const o = await admin.get(path('kafkabackups', 'keep'));
          const h = statusOf(o).history ?? [];
          const last = h[0];
          if (last?.['phase'] === 'Failed' || last?.['retention'] === 'Failed') return o;
          return h.length === n && last?.['retention'] === 'Done' ? o : undefined;
        },
        150_000,
      );
    await admin.post(path('kafkabackups'), body('a'));
    const first = await retained(1);
    assert.equal(statusOf(first).history![0]!['retention'], 'Done', JSON.stringify(statusOf(first).history));
    await produceSpec(topic, [{ partition: 0, key: 'k4', value: 'v4' }]);
    await admin.patch(path('kafkabackups', 'keep'), { metadata: { annotations: { 'kafkabackup.io/run-now': 'b' } } });
    const second = await retained(2);
    const [newest] = statusOf(second).history!;
    assert.equal(newest!['retention'], 'Done', JSON.stringify(statusOf(second).history));
    const steps = (await jobsOf('keep')).filter((j) => j.metadata?.labels?.['kafkabackup.io/step']);
    assert.deepEqual(steps.map((j) => j.metadata?.name).sort(), [
      `${newest!['job']}-forget`,
      `${newest!['job']}-prune`,
    ]);
    // the storage holds one snapshot of the line now: the newest
    const listed = await cli(['list', '--path', `s3://${bucket}/operator`, '--format', 'json'], {
      AWS_ACCESS_KEY_ID: S3_CREDENTIALS.access_key_id,
      AWS_SECRET_ACCESS_KEY: SECRET,
      AWS_ENDPOINT_URL_S3: S3_ENDPOINT,
      AWS_REGION: 'us-east-1',
    });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(String(newest!['snapshotId'])));
    assert.doesNotMatch(listed.stdout, new RegExp(String(statusOf(second).history![1]!['snapshotId'])));
  });
});

describe('restarts, replicas, secrets', () => {
  test('an operator killed mid-run loses nothing and starts no second run', async () => {
    const topic = await createTopic(uniqueTopic('op-restart'));
    topics.push(topic);
    await produceSpec(
      topic,
      Array.from({ length: 20 }, (_, i) => ({ partition: 0, key: `k${i}`, value: `v${i}` })),
    );
    await admin.post(path('kafkabackups'), {
      apiVersion: 'kafkabackup.io/v1alpha1',
      kind: 'KafkaBackup',
      metadata: { name: 'restart', annotations: { 'kafkabackup.io/run-now': 'one' } },
      spec: { kafka: { bootstrapServers: [KAFKA_BOOTSTRAP] }, topics: { include: [topic] }, storage: storageSpec() },
    });
    await until('the run Job', async () => ((await jobsOf('restart')).length ? true : undefined), 60_000);
    await operator.stop('SIGKILL');
    operator = launch();
    const b = await until(
      'the run to be recorded after the restart',
      async () => {
        const o = await admin.get(path('kafkabackups', 'restart'));
        return statusOf(o).lastRun?.['phase'] === 'Succeeded' ? o : undefined;
      },
      120_000,
    );
    assert.equal(statusOf(b).lastRun?.['records'], 20);
    // a few more passes of the new operator: still exactly one Job
    await new Promise((r) => setTimeout(r, 5000));
    assert.equal((await jobsOf('restart')).length, 1);
    assert.equal(statusOf(await admin.get(path('kafkabackups', 'restart'))).history?.length, 1);
  });

  test('two replicas: one holds the Lease and acts, the other waits and takes over when it goes', async () => {
    const second = launch();
    const [u1, u2] = await Promise.all([operator.url, second.url]);
    await new Promise((r) => setTimeout(r, 4000));
    const leaders = [
      await metricValue(u1, 'kafka_backup_operator_leader'),
      await metricValue(u2, 'kafka_backup_operator_leader'),
    ];
    assert.deepEqual(leaders.sort(), [0, 1]);
    const lease = await admin.get(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/kafka-backup-operator`);
    assert.match(String((lease['spec'] as { holderIdentity: string }).holderIdentity), /\S/);
    // both running: a run-now starts exactly one Job
    await admin.patch(path('kafkabackups', 'restart'), {
      metadata: { annotations: { 'kafkabackup.io/run-now': 'two' } },
    });
    await until(
      'the second run',
      async () => {
        const o = await admin.get(path('kafkabackups', 'restart'));
        return (statusOf(o).history ?? []).filter((r) => r['phase'] === 'Succeeded').length === 2 ? true : undefined;
      },
      120_000,
    );
    assert.equal((await jobsOf('restart')).length, 2);
    // the leader goes (SIGTERM releases the Lease): the other takes over
    const leaderProc = (await metricValue(u1, 'kafka_backup_operator_leader')) === 1 ? operator : second;
    const standbyProc = leaderProc === operator ? second : operator;
    // the standby has not reconciled anything (a counter with labels has no sample until counted)
    assert.equal(await metricValue(await standbyProc.url, 'kafka_backup_operator_reconciles_total'), undefined);
    assert.ok(((await metricValue(await leaderProc.url, 'kafka_backup_operator_reconciles_total')) ?? 0) > 0);
    await leaderProc.stop('SIGTERM');
    await until(
      'the standby to lead',
      async () => ((await metricValue(await standbyProc.url, 'kafka_backup_operator_leader')) === 1 ? true : undefined),
      30_000,
    );
    operator = standbyProc;
    const health = await fetch(`${await operator.url}/healthz`);
    assert.equal(health.status, 200);
    // ready once its first pass as the leader reached the API server
    await until(
      'the new leader to be ready',
      async () => ((await fetch(`${await operator.url}/readyz`)).status === 200 ? true : undefined),
      30_000,
    );
  });

  test('the secret value is in no rendered config, Job, status, event or log', async () => {
    const cms = await admin.get<{ items: KubeObject[] }>(`/api/v1/namespaces/${ns}/configmaps`);
    assert.ok(
      cms.items.some((c) => c.metadata?.name?.startsWith('orders-')),
      'rendered configs exist',
    );
    const where = await placesToGrep(
      admin,
      ns,
      operators.map((p) => p.output()),
    );
    assert.ok(where.length > 8);
    // the grep can see it: the Secret itself, read the same way, holds it
    const secret = await admin.get<{ data: Record<string, string> }>(`/api/v1/namespaces/${ns}/secrets/s3-credentials`);
    assert.ok(Buffer.from(secret.data['secret-access-key']!, 'base64').toString().includes(SECRET));
    for (const [what, text] of where) assert.ok(!text.includes(SECRET), `the secret value is in ${what}`);
    // and it did reach the runs: the S3 client signed with it (moto accepted), so runs succeeded
    const orders = await admin.get(path('kafkabackups', 'orders'));
    assert.ok((statusOf(orders).history ?? []).some((r) => r['phase'] === 'Succeeded'));
  });
});
