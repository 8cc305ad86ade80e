/**
 * The Kubernetes test bed itself: the real kube-apiserver (validation, RBAC, TokenRequest), the
 * real Job and CronJob controllers of kube-controller-manager, and the node stand-in that runs
 * Pods as local processes (test/helpers/kube-node.ts). The operator tests build on all of it, so
 * each piece is proved here on its own. Starts the test bed (`scripts/services.sh start kube`,
 * which builds it on first use).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT } from '../../helpers/kafka.ts';
import {
  conditionTrue,
  createNamespace,
  deleteNamespace,
  KUBE_START_TIMEOUT_MS,
  KubeApiError,
  KubeClient,
  type KubeObject,
  serviceAccountCredentials,
  simpleCrd,
  startKube,
  waitForJob,
} from '../../helpers/kube.ts';
import { defaultImages, type NodeStandIn, type Pod, startNode } from '../../helpers/kube-node.ts';

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let admin: KubeClient;
let ns: string;
let node: NodeStandIn;
const hostDir = mkdtempSync(join(tmpdir(), 'kb-testbed-'));

before(
  async () => {
    admin = new KubeClient(await startKube());
    ns = await createNamespace(admin, 'kb-testbed');
    node = await startNode(admin, {
      namespaces: [ns],
      images: {
        ...defaultImages(),
        // a shell image for the tests of the stand-in's own mechanics
        busybox: { entrypoint: ['sh'], programs: { sh: ['/bin/sh'] } },
      },
    });
  },
  { timeout: KUBE_START_TIMEOUT_MS },
);

after(async () => {
  await node?.stop();
  if (ns) await deleteNamespace(admin, ns);
  rmSync(hostDir, { recursive: true, force: true });
});

function job(
  name: string,
  container: Record<string, unknown>,
  spec: Record<string, unknown> = {},
  podSpec: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: ns },
    spec: {
      backoffLimit: 0,
      ...spec,
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'main', image: 'kafka-backup:test', ...container }],
          ...podSpec,
        },
      },
    },
  };
}

async function podsOf(jobName: string): Promise<Pod[]> {
  const list = await admin.get<{ items: Pod[] }>(`/api/v1/namespaces/${ns}/pods`, {
    labelSelector: `batch.kubernetes.io/job-name=${jobName}`,
  });
  return list.items;
}

function terminated(pod: Pod): { exitCode: number; reason: string; message?: string } | undefined {
  const statuses = pod.status?.['containerStatuses'] as { state: { terminated?: never } }[] | undefined;
  return statuses?.[0]?.state.terminated;
}

describe('the API server', () => {
  test('is up and is the version built (v1.34.4), answering /readyz', async () => {
    const version = await admin.get<{ gitVersion: string }>('/version');
    assert.equal(version.gitVersion, 'v1.34.4');
    const ready = await admin.request<string>('GET', '/readyz');
    assert.equal(ready, 'ok');
  });

  test("a CRD's OpenAPI schema is enforced by the server: a bad object is refused with 422", async () => {
    const group = 'testbed.kafkabackup.io';
    await admin.apply(
      simpleCrd(group, 'Widget', 'widgets', {
        type: 'object',
        required: ['mode'],
        properties: { mode: { type: 'string', enum: ['snapshot', 'continuous'] } },
      }),
    );
    await admin.waitForCrd(`widgets.${group}`);
    const path = `/apis/${group}/v1/namespaces/${ns}/widgets`;
    const bad = { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'bad' }, spec: { mode: 'sometimes' } };
    const err = await admin.post(path, bad).then(
      () => assert.fail('the API server accepted a spec.mode outside its enum'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof KubeApiError, String(err));
    assert.equal(err.status, 422);
    assert.match(String((err.body as { message?: string }).message), /spec\.mode: Unsupported value: "sometimes"/);
    const missing = await admin
      .post(path, { ...bad, metadata: { name: 'missing' }, spec: {} })
      .catch((e: unknown) => e);
    assert.ok(missing instanceof KubeApiError && missing.status === 422, String(missing));
    assert.match(String((missing.body as { message?: string }).message), /spec\.mode: Required value/);
    const good = await admin.post(path, { ...bad, metadata: { name: 'good' }, spec: { mode: 'snapshot' } });
    assert.equal(good.metadata?.name, 'good');
  });

  test('RBAC is real: a ServiceAccount token (TokenRequest) can do what its Role grants and nothing else', async () => {
    const sa = new KubeClient(await serviceAccountCredentials(admin, ns, 'kb-reader'));
    const denied = await sa.get(`/api/v1/namespaces/${ns}/configmaps`).catch((e: unknown) => e);
    assert.ok(denied instanceof KubeApiError && denied.status === 403, String(denied));
    assert.match(
      String((denied.body as { message?: string }).message),
      new RegExp(`system:serviceaccount:${ns}:kb-reader`),
    );
    await admin.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'configmap-reader', namespace: ns },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
    });
    await admin.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'kb-reader', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'kb-reader', namespace: ns }],
    });
    const list = await sa.get<{ items: unknown[] }>(`/api/v1/namespaces/${ns}/configmaps`);
    assert.ok(Array.isArray(list.items));
    const write = await sa
      .post(`/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } })
      .catch((e: unknown) => e);
    assert.ok(write instanceof KubeApiError && write.status === 403, String(write));
    const secrets = await sa.get(`/api/v1/namespaces/${ns}/secrets`).catch((e: unknown) => e);
    assert.ok(secrets instanceof KubeApiError && secrets.status === 403, String(secrets));
  });
  test("the controller-manager's token controller fills a ServiceAccount token Secret, and that token authenticates", async () => {
    await admin.post(`/api/v1/namespaces/${ns}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'legacy' },
    });
    await admin.post(`/api/v1/namespaces/${ns}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'legacy-token', annotations: { 'kubernetes.io/service-account.name': 'legacy' } },
      type: 'kubernetes.io/service-account-token',
    });
    const secret = await admin.waitFor<KubeObject & { data?: Record<string, string> }>(
      `/api/v1/namespaces/${ns}/secrets/legacy-token`,
      (s) => !!s.data?.['token'],
      { what: 'the token controller to fill the Secret' },
    );
    const token = Buffer.from(secret.data?.['token'] ?? '', 'base64').toString('utf8');
    const review = await admin.post<{ status: { authenticated: boolean; user: { username: string } } }>(
      '/apis/authentication.k8s.io/v1/tokenreviews',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    );
    assert.equal(review.status.authenticated, true);
    assert.equal(review.status.user.username, `system:serviceaccount:${ns}:legacy`);
  });
});

describe('the Job and CronJob controllers with the node stand-in', () => {
  test('a Job running `kafka-backup --version` completes through the real Job controller; its log is served', async () => {
    await admin.post(`/apis/batch/v1/namespaces/${ns}/jobs`, job('version', { args: ['--version'] }));
    const done = await waitForJob(admin, ns, 'version', 120_000);
    assert.ok(conditionTrue(done, 'Complete'), JSON.stringify(done['status']));
    assert.equal((done['status'] as { succeeded?: number }).succeeded, 1);
    const [pod, ...others] = await podsOf('version');
    assert.ok(pod);
    assert.equal(others.length, 0);
    assert.equal(pod.status?.phase, 'Succeeded');
    assert.equal(pod.spec.nodeName, node.name);
    assert.deepEqual(
      { exitCode: terminated(pod)?.exitCode, reason: terminated(pod)?.reason },
      { exitCode: 0, reason: 'Completed' },
    );
    // through the API server's pods/log, which proxies to the node's log endpoint
    const log = await admin.request<string>('GET', `/api/v1/namespaces/${ns}/pods/${pod.metadata?.name}/log`);
    assert.equal(String(log).trim(), VERSION);
  });

  test('a failing command is retried per backoffLimit, then the Job is Failed; the reason reaches the Pod status', async () => {
    await admin.post(
      `/apis/batch/v1/namespaces/${ns}/jobs`,
      job(
        'failing',
        { args: ['no-such-command'], terminationMessagePolicy: 'FallbackToLogsOnError' },
        { backoffLimit: 1 },
      ),
    );
    const done = await waitForJob(admin, ns, 'failing', 240_000);
    assert.ok(conditionTrue(done, 'Failed'), JSON.stringify(done['status']));
    const failed = done['status'] as { conditions: { type: string; reason: string }[]; failed: number };
    assert.equal(failed.conditions.find((c) => c.type === 'Failed')?.reason, 'BackoffLimitExceeded');
    assert.equal(failed.failed, 2, 'backoffLimit 1: the first try and one retry');
    const pods = await podsOf('failing');
    assert.equal(pods.length, 2);
    for (const pod of pods) {
      assert.equal(pod.status?.phase, 'Failed');
      const t = terminated(pod);
      assert.equal(t?.exitCode, 2, 'the CLI exits 2 for a usage error');
      assert.equal(t?.reason, 'Error');
      assert.match(t?.message ?? '', /unknown command 'no-such-command'/);
    }
  });

  test('restartPolicy OnFailure: the container restarts in place and the Job controller counts the restarts', async () => {
    const failing = job('restarts', { args: ['no-such-command'] }, { backoffLimit: 1 });
    (failing['spec'] as { template: { spec: { restartPolicy: string } } }).template.spec.restartPolicy = 'OnFailure';
    await admin.post(`/apis/batch/v1/namespaces/${ns}/jobs`, failing);
    const restarted = await admin.waitFor<KubeObject & { items: Pod[] }>(
      `/api/v1/namespaces/${ns}/pods?labelSelector=batch.kubernetes.io/job-name%3Drestarts`,
      (list) =>
        list.items.some((p) =>
          (p.status?.['containerStatuses'] as { restartCount: number }[] | undefined)?.some((c) => c.restartCount >= 1),
        ),
      { timeoutMs: 120_000, what: 'the container to be restarted in its Pod' },
    );
    assert.equal(restarted.items.length, 1, 'restarted in place: one Pod');
    const done = await waitForJob(admin, ns, 'restarts', 240_000);
    assert.ok(conditionTrue(done, 'Failed'), JSON.stringify(done['status']));
    const status = done['status'] as { conditions: { type: string; reason: string }[] };
    assert.equal(status.conditions.find((c) => c.type === 'Failed')?.reason, 'BackoffLimitExceeded');
  });

  test('a CronJob produces a Job at its scheduled minute, which completes', async () => {
    await admin.post(`/apis/batch/v1/namespaces/${ns}/cronjobs`, {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'every-minute', namespace: ns },
      spec: {
        schedule: '* * * * *',
        concurrencyPolicy: 'Forbid',
        jobTemplate: job('unused', { args: ['--version'] }) as { spec: unknown },
      },
    });
    const cron = await admin.waitFor(
      `/apis/batch/v1/namespaces/${ns}/cronjobs/every-minute`,
      (c) => !!(c['status'] as { lastSuccessfulTime?: string } | undefined)?.lastSuccessfulTime,
      { timeoutMs: 200_000, what: 'the CronJob to have a successful run' },
    );
    const jobs = await admin.get<{ items: KubeObject[] }>(`/apis/batch/v1/namespaces/${ns}/jobs`);
    const owned = jobs.items.filter((j) =>
      j.metadata?.ownerReferences?.some((o) => o.kind === 'CronJob' && o.uid === cron.metadata?.uid),
    );
    assert.ok(owned.length >= 1, 'a Job owned by the CronJob');
    assert.ok(owned.some((j) => conditionTrue(j, 'Complete')));
    await admin.remove(`/apis/batch/v1/namespaces/${ns}/cronjobs/every-minute`);
  });
});

describe('the node stand-in', () => {
  test('env, envFrom, Secret/ConfigMap volumes and the termination message reach the process as a kubelet gives them', async () => {
    await admin.post(`/api/v1/namespaces/${ns}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'creds' },
      stringData: { password: 'pa55', user: 'backup' },
    });
    await admin.post(`/api/v1/namespaces/${ns}/configmaps`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'conf' },
      // a config that names a mounted path: rewritten to where the mount really is
      data: { 'config.yaml': 'password_file: /etc/kb/secret/password\n', LEVEL: 'debug' },
    });
    const script = [
      'set -e',
      'test "$(cat "$(sed -n "s/^password_file: //p" /etc/kb/config/config.yaml)")" = pa55',
      'printf "%s|%s|%s|%s|%s|%s" "$USER_NAME" "$CFG_LEVEL" "$GREETING" "$POD" "$(cat /etc/kb/secret/user)" "$(pwd | grep -c /work/dir)" > /dev/termination-log',
    ].join('\n');
    const container = {
      image: 'docker.io/library/busybox:1.37',
      command: ['sh', '-c', script],
      workingDir: '/work/dir',
      env: [
        { name: 'USER_NAME', valueFrom: { secretKeyRef: { name: 'creds', key: 'user' } } },
        { name: 'WHO', value: 'world' },
        { name: 'GREETING', value: 'hello $(WHO)' },
        { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      ],
      envFrom: [{ prefix: 'CFG_', configMapRef: { name: 'conf' } }],
      volumeMounts: [
        { name: 'secret', mountPath: '/etc/kb/secret', readOnly: true },
        { name: 'config', mountPath: '/etc/kb/config', readOnly: true },
      ],
    };
    const volumes = [
      { name: 'secret', secret: { secretName: 'creds' } },
      { name: 'config', configMap: { name: 'conf', items: [{ key: 'config.yaml', path: 'config.yaml' }] } },
    ];
    await admin.post(`/apis/batch/v1/namespaces/${ns}/jobs`, job('env', container, {}, { volumes }));
    const done = await waitForJob(admin, ns, 'env', 120_000);
    const [pod] = await podsOf('env');
    assert.ok(pod);
    assert.ok(conditionTrue(done, 'Complete'), JSON.stringify(pod.status));
    assert.equal(terminated(pod)?.message, `backup|debug|hello world|${ns}|backup|1`);
  });

  test('deleting a running Pod sends SIGTERM to its process, waits, and confirms the deletion', async () => {
    const marker = join(hostDir, 'got-term');
    await admin.post(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'sleeper' },
      spec: {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 20,
        containers: [
          {
            name: 'main',
            image: 'busybox',
            command: ['sh', '-c', 'trap "echo term > /host/got-term; exit 0" TERM; while true; do sleep 0.2; done'],
            volumeMounts: [{ name: 'host', mountPath: '/host' }],
          },
        ],
        volumes: [{ name: 'host', hostPath: { path: hostDir, type: 'Directory' } }],
      },
    });
    await admin.waitFor<Pod>(`/api/v1/namespaces/${ns}/pods/sleeper`, (p) => p.status?.phase === 'Running', {
      timeoutMs: 60_000,
      what: 'Pod sleeper Running',
    });
    await admin.delete(`/api/v1/namespaces/${ns}/pods/sleeper`);
    await waitGone(`/api/v1/namespaces/${ns}/pods/sleeper`);
    assert.ok(existsSync(marker), 'the process got SIGTERM and ran its trap');
    assert.equal(readFileSync(marker, 'utf8').trim(), 'term');
  });
});

async function waitGone(path: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (await admin.find(path)) {
    if (Date.now() > deadline) throw new Error(`${path} still there after 60 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
