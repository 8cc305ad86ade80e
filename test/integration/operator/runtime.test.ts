/**
 * The operator while runs are going, against the real test bed (as operator.test.ts: real
 * kube-apiserver, Job controller, node stand-in, Kafka, moto S3, the chart's RBAC): progress in
 * the status read from the run Pod's metrics, watches that act at once (the resync is set far
 * beyond the test's waits, so only a watch can explain a prompt reaction), a continuous backup
 * whose spec changes (the Job is replaced and nothing is lost: a restore is exact by Kafka's Java
 * consumer), a retention step that fails (its reason in the status), and an encrypted backup and
 * its restore, with the grep for the passphrase.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { createTopic, deleteTopics, KAFKA_BOOTSTRAP, produceWithPerf, uniqueTopic } from '../../helpers/kafka.ts';
import {
  createNamespace,
  deleteNamespace,
  installOperatorRbac,
  KUBE_START_TIMEOUT_MS,
  KubeClient,
  type KubeObject,
  startKube,
} from '../../helpers/kube.ts';
import { type NodeStandIn, startNode } from '../../helpers/kube-node.ts';
import { dumpTopic, produceSpec } from '../../helpers/peers.ts';
import { createS3Bucket, S3_CREDENTIALS, S3_ENDPOINT } from '../../helpers/storage-servers.ts';
import { GROUP_PATH, type OperatorProcess, placesToGrep, startOperator, until } from './harness.ts';

const SECRET = `kb-secret-${randomBytes(8).toString('hex')}`;
/** The encrypted line's passphrase: in its Secret, and nowhere else the grep looks. */
const PASSPHRASE = `kb-passphrase-${randomBytes(8).toString('hex')}`;
/** Far beyond every wait below: a reaction within them is a watch's doing, not the resync's. */
const RESYNC_SECS = 3600;

let admin: KubeClient;
let ns: string;
let node: NodeStandIn;
let operator: OperatorProcess;
const dir = mkdtempSync(join(tmpdir(), 'kb-operator-rt-'));
const topics: string[] = [];
let bucket: string;

const path = (plural: string, name = '') => `${GROUP_PATH}/namespaces/${ns}/${plural}${name ? `/${name}` : ''}`;
type Run = Record<string, unknown>;
type Status = { lastRun?: Run; history?: Run[]; phase?: string; progress?: Record<string, unknown> };
const statusOf = (o: KubeObject) => (o['status'] ?? {}) as Status;
const strip = (rs: Awaited<ReturnType<typeof dumpTopic>>) => rs.map(({ topic: _t, ...r }) => r);

const storageSpec = () => ({
  url: `s3://${bucket}/rt`,
  endpoint: S3_ENDPOINT,
  region: 'us-east-1',
  pathStyle: true,
  accessKeyIdSecret: { name: 's3-credentials', key: 'access-key-id' },
  secretAccessKeySecret: { name: 's3-credentials', key: 'secret-access-key' },
});

function s3(): S3Client {
  return new S3Client({
    endpoint: S3_ENDPOINT,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: S3_CREDENTIALS.access_key_id, secretAccessKey: SECRET },
  });
}

async function jobsOf(owner: string): Promise<KubeObject[]> {
  const list = await admin.get<{ items: KubeObject[] }>(`/apis/batch/v1/namespaces/${ns}/jobs`, {
    labelSelector: `kafkabackup.io/owner=${owner}`,
  });
  return list.items;
}

/** Applies a KafkaRestore of `topic` into `target`, waits for it to succeed, and compares the two topics by Kafka's Java consumer. */
async function restoreExactly(name: string, source: Record<string, unknown>, topic: string, target: string, n: number) {
  await admin.post(path('kafkarestores'), {
    apiVersion: 'kafkabackup.io/v1alpha1',
    kind: 'KafkaRestore',
    metadata: { name },
    spec: { ...source, restore: { topics: { include: [topic] }, topicMapping: { [topic]: target } } },
  });
  const restored = await until(
    `the restore ${name}`,
    async () => {
      const o = await admin.get(path('kafkarestores', name));
      return ['Succeeded', 'Failed'].includes(String(statusOf(o).phase)) ? o : undefined;
    },
    180_000,
  );
  assert.equal(statusOf(restored).phase, 'Succeeded', JSON.stringify(statusOf(restored)));
  const original = await dumpTopic(topic);
  assert.equal(original.length, n);
  assert.deepEqual(strip(await dumpTopic(target)), strip(original));
}

before(
  async () => {
    admin = new KubeClient(await startKube());
    ns = await createNamespace(admin, 'kb-operator-rt');
    const { kubeconfig } = await installOperatorRbac(admin, { namespace: ns, watchNamespaces: [ns], dir });
    bucket = await createS3Bucket('kb-operator-rt');
    await admin.post(`/api/v1/namespaces/${ns}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's3-credentials' },
      stringData: { 'access-key-id': S3_CREDENTIALS.access_key_id, 'secret-access-key': SECRET },
    });
    await admin.post(`/api/v1/namespaces/${ns}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'line-key' },
      stringData: { passphrase: PASSPHRASE },
    });
    node = await startNode(admin, { namespaces: [ns] });
    operator = startOperator(kubeconfig, ns, ['--resync-interval', String(RESYNC_SECS), '--progress-interval', '2']);
    await operator.url;
  },
  { timeout: KUBE_START_TIMEOUT_MS },
);

after(async () => {
  await operator?.stop('SIGKILL');
  await node?.stop();
  if (ns) await deleteNamespace(admin, ns).catch(() => {});
  await deleteTopics(topics);
  rmSync(dir, { recursive: true, force: true });
});

describe('progress and watches', () => {
  test('a throttled backup shows its progress growing in status while it runs; a watch starts it at once', async () => {
    const topic = await createTopic(uniqueTopic('op-progress'));
    topics.push(topic);
    const total = 4000;
    await produceWithPerf(topic, total, 1000); // 4 MB
    const created = Date.now();
    await admin.post(path('kafkabackups'), {
      apiVersion: 'kafkabackup.io/v1alpha1',
      kind: 'KafkaBackup',
      metadata: { name: 'slow', annotations: { 'kafkabackup.io/run-now': 'go' } },
      spec: {
        kafka: { bootstrapServers: [KAFKA_BOOTSTRAP] },
        topics: { include: [topic] },
        storage: storageSpec(),
        // about 25 s: 160 kB/s in 64 kB batches, files of a second
        backup: { maxBytesPerSec: 160_000, maxBatchBytes: 65_536, segmentMaxIntervalSecs: 1, compression: 'none' },
      },
    });
    await until('the run Job', async () => ((await jobsOf('slow')).length ? true : undefined), 60_000);
    const startedAfterMs = Date.now() - created;
    assert.ok(startedAfterMs < 60_000, `the run started ${startedAfterMs} ms after the resource was created`);
    // watch the status while the run goes: progress figures, each newer than the last
    const seen: Record<string, unknown>[] = [];
    const final = await until(
      'the run to finish',
      async () => {
        const o = await admin.get(path('kafkabackups', 'slow'));
        const s = statusOf(o);
        if (s.lastRun?.['phase'] === 'Running' && s.progress && seen.at(-1)?.['updatedAt'] !== s.progress['updatedAt'])
          seen.push(s.progress);
        return s.lastRun?.['phase'] === 'Succeeded' || s.lastRun?.['phase'] === 'Failed' ? o : undefined;
      },
      240_000,
    );
    assert.equal(statusOf(final).lastRun?.['phase'], 'Succeeded', JSON.stringify(statusOf(final)));
    assert.equal(statusOf(final).lastRun?.['records'], total);
    assert.equal(statusOf(final).progress, undefined, 'no progress once the run has ended');
    const records = seen.map((p) => Number(p['records'] ?? 0));
    assert.ok(seen.length >= 2, `progress seen at least twice while running: ${JSON.stringify(seen)}`);
    const during = records.filter((r) => r > 0 && r < total);
    assert.ok(during.length >= 1, `a figure between 0 and ${total} while running: ${JSON.stringify(seen)}`);
    for (let i = 1; i < records.length; i++) assert.ok(records[i]! >= records[i - 1]!, 'records never go back');
    assert.ok(records.at(-1)! > records[0]!, `records grew: ${JSON.stringify(records)}`);
    const last = seen.at(-1)!;
    assert.equal(last['job'], statusOf(final).lastRun?.['job']);
    assert.equal(last['partitionsTotal'], 1);
    assert.equal(typeof last['bytes'], 'number');
    const percents = seen.map((p) => p['percent']).filter((p) => typeof p === 'number') as number[];
    assert.ok(
      percents.some((p) => p > 0 && p < 100),
      `a percentage between 0 and 100: ${JSON.stringify(seen)}`,
    );
    // bounded rate: updates at least ~2 s apart (the --progress-interval)
    const times = seen.map((p) => Date.parse(String(p['updatedAt'])));
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= 1500, `updates ${times}`);
  });

  test('watches: a run-now annotation is acted on within seconds, far inside the resync interval', async () => {
    const before = Date.now();
    await admin.patch(path('kafkabackups', 'slow'), {
      metadata: { annotations: { 'kafkabackup.io/run-now': 'again' } },
      spec: { backup: { maxBytesPerSec: 0 } },
    });
    await until('the second run Job', async () => ((await jobsOf('slow')).length === 2 ? true : undefined), 60_000);
    const tookMs = Date.now() - before;
    assert.ok(tookMs < 60_000 && tookMs < RESYNC_SECS * 1000, `acted on after ${tookMs} ms`);
    // and the run's end reaches the status through the Job's watch
    const done = await until(
      'the second run to succeed',
      async () => {
        const o = await admin.get(path('kafkabackups', 'slow'));
        return statusOf(o).history?.filter((r) => r['phase'] === 'Succeeded').length === 2 ? o : undefined;
      },
      120_000,
    );
    assert.equal(statusOf(done).lastRun?.['phase'], 'Succeeded');
  });
});

describe('continuous backup whose spec changes', () => {
  test('the long-running Job is replaced by the new generation and nothing is lost: a restore is exact', async () => {
    const topic = await createTopic(uniqueTopic('op-cont-change'), { partitions: 2 });
    const target = `${topic}-restored`;
    topics.push(topic, target);
    const batch = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        partition: (from + i) % 2,
        key: `k${from + i}`,
        value: `value-${from + i}`,
      }));
    await produceSpec(topic, batch(0, 50));
    await admin.post(path('kafkabackups'), {
      apiVersion: 'kafkabackup.io/v1alpha1',
      kind: 'KafkaBackup',
      metadata: { name: 'stream' },
      spec: {
        backupId: 'stream-line',
        mode: 'continuous',
        kafka: { bootstrapServers: [KAFKA_BOOTSTRAP] },
        topics: { include: [topic] },
        storage: storageSpec(),
        backup: { segmentMaxIntervalSecs: 1, checkpointIntervalSecs: 1, pollIntervalMs: 200 },
      },
    });
    const progressAt = (records: number, job: string) =>
      until(
        `${job} to have stored ${records} records`,
        async () => {
          const s = statusOf(await admin.get(path('kafkabackups', 'stream')));
          return s.progress?.['job'] === job && Number(s.progress['records']) >= records ? s : undefined;
        },
        120_000,
      );
    await progressAt(50, 'stream-continuous-1');
    await produceSpec(topic, batch(50, 30));
    // the spec changes: generation 2
    await admin.patch(path('kafkabackups', 'stream'), { spec: { backup: { tags: ['changed'] } } });
    await produceSpec(topic, batch(80, 30));
    await until(
      'generation 2 to be the only Job',
      async () => {
        const names = (await jobsOf('stream')).map((j) => j.metadata?.name);
        return names.length === 1 && names[0] === 'stream-continuous-2' ? true : undefined;
      },
      120_000,
    );
    await produceSpec(topic, batch(110, 30));
    // the new Job resumes the line from its checkpoint: it needs only what the first did not store
    const s = statusOf(
      await until(
        'generation 2 to catch up',
        async () => {
          const st = statusOf(await admin.get(path('kafkabackups', 'stream')));
          return st.progress?.['job'] === 'stream-continuous-2' && st.progress['lagRecords'] === 0
            ? await admin.get(path('kafkabackups', 'stream'))
            : undefined;
        },
        120_000,
      ),
    );
    assert.equal(s.lastRun?.['job'], 'stream-continuous-2');
    // stop it (SIGTERM: it finishes its files and checkpoints), then restore the line
    await admin.delete(path('kafkabackups', 'stream'), { propagationPolicy: 'Foreground' });
    await until('the Job to be gone', async () => ((await jobsOf('stream')).length === 0 ? true : undefined), 120_000);
    await restoreExactly(
      'stream-restore',
      { backupId: 'stream-line', storage: storageSpec(), kafka: { bootstrapServers: [KAFKA_BOOTSTRAP] } },
      topic,
      target,
      140,
    );
  });
});

describe('retention that fails', () => {
  test('a forget step that fails puts its reason into the run record and an event; the run itself stays Succeeded', async () => {
    const topic = await createTopic(uniqueTopic('op-keep-fail'));
    topics.push(topic);
    await produceSpec(topic, [{ partition: 0, key: 'k', value: 'v' }]);
    await admin.post(path('kafkabackups'), {
      apiVersion: 'kafkabackup.io/v1alpha1',
      kind: 'KafkaBackup',
      metadata: { name: 'keepfail', annotations: { 'kafkabackup.io/run-now': 'one' } },
      spec: {
        backupId: 'keepfail-line',
        kafka: { bootstrapServers: [KAFKA_BOOTSTRAP] },
        topics: { include: [topic] },
        storage: storageSpec(),
      },
    });
    await until(
      'the run to succeed',
      async () =>
        statusOf(await admin.get(path('kafkabackups', 'keepfail'))).lastRun?.['phase'] === 'Succeeded'
          ? true
          : undefined,
      120_000,
    );
    // the line vanishes from storage (someone removed it), then retention is asked for
    const client = s3();
    try {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'rt/keepfail-line' }));
      const keys = (listed.Contents ?? []).map((o) => ({ Key: o.Key! }));
      assert.ok(keys.length > 0, 'the run wrote its line');
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
    } finally {
      client.destroy();
    }
    await admin.patch(path('kafkabackups', 'keepfail'), { spec: { retention: { keepLast: 1 } } });
    const failed = await until(
      'retention to fail',
      async () => {
        const o = await admin.get(path('kafkabackups', 'keepfail'));
        const r = statusOf(o).lastRun?.['retention'];
        return r === 'Failed' || r === 'Done' ? o : undefined;
      },
      120_000,
    );
    const last = statusOf(failed).lastRun!;
    assert.equal(last['retention'], 'Failed', JSON.stringify(last));
    assert.equal(last['phase'], 'Succeeded', 'the backup run itself succeeded');
    assert.match(String(last['retentionMessage']), /^forget failed \(\w+\): \S/);
    const events = await admin.get<{ items: { reason: string; message: string; involvedObject: { name: string } }[] }>(
      `/api/v1/namespaces/${ns}/events`,
    );
    const ev = events.items.find((e) => e.reason === 'RetentionFailed' && e.involvedObject.name === 'keepfail');
    assert.ok(ev, 'a RetentionFailed event');
    assert.equal(ev.message, last['retentionMessage']);
    // the failure is final for this run: no second forget Job
    await new Promise((r) => setTimeout(r, 3000));
    const steps = (await jobsOf('keepfail')).filter((j) => j.metadata?.labels?.['kafkabackup.io/step']);
    assert.deepEqual(
      steps.map((j) => j.metadata?.name),
      [`${last['job']}-forget`],
    );
  });
});

describe('encryption', () => {
  test('an encrypted KafkaBackup (passphrase from a Secret, retention on the encrypted line) and an exact KafkaRestore of it', async () => {
    const topic = await createTopic(uniqueTopic('op-sealed'), { partitions: 2 });
    const target = `${topic}-restored`;
    topics.push(topic, target);
    const marker = `plain-${randomBytes(4).toString('hex')}`;
    await produceSpec(
      topic,
      Array.from({ length: 40 }, (_, i) => ({ partition: i % 2, key: `k${i}`, value: `${marker}-${i}` })),
    );
    const encryption = {
      enabled: true,
      provider: 'passphrase',
      keySecret: { name: 'line-key', key: 'passphrase' },
      scryptLogN: 14,
    };
    await admin.post(path('kafkabackups'), {
      apiVersion: 'kafkabackup.io/v1alpha1',
      kind: 'KafkaBackup',
      metadata: { name: 'sealed', annotations: { 'kafkabackup.io/run-now': 'one' } },
      spec: {
        backupId: 'sealed-line',
        kafka: { bootstrapServers: [KAFKA_BOOTSTRAP] },
        topics: { include: [topic] },
        storage: storageSpec(),
        backup: { compression: 'none', encryption },
        retention: { keepLast: 3 },
      },
    });
    const done = await until(
      'the encrypted run and its retention',
      async () => {
        const s = statusOf(await admin.get(path('kafkabackups', 'sealed')));
        const r = s.lastRun;
        return r?.['phase'] === 'Failed' || ['Done', 'Failed'].includes(String(r?.['retention'])) ? s : undefined;
      },
      180_000,
    );
    assert.equal(done.lastRun?.['phase'], 'Succeeded', JSON.stringify(done));
    assert.equal(done.lastRun?.['records'], 40);
    // forget read the encrypted line with the key from KB_ENCRYPTION_PASSPHRASE_FILE
    assert.equal(done.lastRun?.['retention'], 'Done', JSON.stringify(done.lastRun));
    // the stored objects do not hold the records in the clear (compression is off)
    const client = s3();
    try {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'rt/sealed-line' }));
      assert.ok((listed.KeyCount ?? 0) > 0);
      for (const o of listed.Contents ?? []) {
        const body = await (
          await client.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }))
        ).Body!.transformToByteArray();
        assert.ok(!Buffer.from(body).includes(marker), `${o.Key} holds a record value in the clear`);
      }
    } finally {
      client.destroy();
    }
    await restoreExactly('sealed-restore', { backupRef: { name: 'sealed' } }, topic, target, 40);
  });

  test('AWS KMS (moto): the key id in the config, the credentials from a Secret as env; a restore of it is exact', async () => {
    const kms = new KMSClient({
      endpoint: S3_ENDPOINT,
      region: 'us-east-1',
      credentials: { accessKeyId: S3_CREDENTIALS.access_key_id, secretAccessKey: SECRET },
    });
    const arn = (await kms.send(new CreateKeyCommand({ Description: 'kafka-backup operator test' }))).KeyMetadata!.Arn!;
    kms.destroy();
    const topic = await createTopic(uniqueTopic('op-kms'));
    const target = `${topic}-restored`;
    topics.push(topic, target);
    await produceSpec(
      topic,
      Array.from({ length: 12 }, (_, i) => ({ partition: 0, key: `k${i}`, value: `kms-${i}` })),
    );
    await admin.post(path('kafkabackups'), {
      apiVersion: 'kafkabackup.io/v1alpha1',
      kind: 'KafkaBackup',
      metadata: { name: 'kms', annotations: { 'kafkabackup.io/run-now': 'one' } },
      spec: {
        backupId: 'kms-line',
        kafka: { bootstrapServers: [KAFKA_BOOTSTRAP] },
        topics: { include: [topic] },
        storage: storageSpec(),
        backup: {
          encryption: {
            enabled: true,
            provider: 'aws-kms',
            kmsKeyId: arn,
            kmsRegion: 'us-east-1',
            kmsEndpoint: S3_ENDPOINT,
            // the node stand-in passes no AWS_* of its own: without these the SDK finds no credentials
            kmsCredentials: {
              accessKeyIdSecret: { name: 's3-credentials', key: 'access-key-id' },
              secretAccessKeySecret: { name: 's3-credentials', key: 'secret-access-key' },
            },
          },
        },
      },
    });
    const done = await until(
      'the KMS-encrypted run',
      async () => {
        const r = statusOf(await admin.get(path('kafkabackups', 'kms'))).lastRun;
        return r?.['phase'] === 'Succeeded' || r?.['phase'] === 'Failed' ? r : undefined;
      },
      180_000,
    );
    assert.equal(done['phase'], 'Succeeded', JSON.stringify(done));
    const cm = await admin.get<{ data: Record<string, string> }>(
      `/api/v1/namespaces/${ns}/configmaps/${String(done['job'])}`,
    );
    assert.match(cm.data['config.yaml']!, /kms_key_id: arn:aws:kms:/);
    assert.doesNotMatch(cm.data['config.yaml']!, /kms_credentials|kmsCredentials/);
    await restoreExactly('kms-restore', { backupRef: { name: 'kms' } }, topic, target, 12);
  });

  test('neither the passphrase nor the storage secret is in a rendered config, Job, resource, event or log', async () => {
    const where = await placesToGrep(admin, ns, [operator.output()]);
    assert.ok(
      where.some(([w]) => w.startsWith('log of sealed-')),
      "the encrypted runs' logs are searched",
    );
    const configs = where.find(([w]) => w === 'configmaps')![1];
    assert.match(configs, /key_file: \/var\/run\/kafka-backup\/secrets\/line-key\/passphrase/);
    // the grep can see them: the Secrets, read the same way, hold them
    const key = await admin.get<{ data: Record<string, string> }>(`/api/v1/namespaces/${ns}/secrets/line-key`);
    assert.equal(Buffer.from(key.data['passphrase']!, 'base64').toString(), PASSPHRASE);
    for (const [what, text] of where) {
      assert.ok(!text.includes(PASSPHRASE), `the passphrase is in ${what}`);
      assert.ok(!text.includes(SECRET), `the storage secret is in ${what}`);
    }
  });
});
