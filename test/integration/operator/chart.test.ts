/**
 * The Helm chart (deploy/helm/kafka-backup) and the plain manifests rendered from it: rendered by
 * real helm (built from the Go module proxy, scripts/kube/helm.sh) and applied to the real API
 * server of the test bed, whose validation and RBAC decide; the chart's CRDs are deploy/crds; the
 * manifests are up to date; the RBAC grants what the operator needs and no more.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { REPO_ROOT, run } from '../../helpers/kafka.ts';
import {
  CHART_DIR,
  createNamespace,
  deleteNamespace,
  helm,
  installOperatorRbac,
  KUBE_START_TIMEOUT_MS,
  KubeClient,
  type KubeObject,
  renderChart,
  simpleCrd,
  startKube,
} from '../../helpers/kube.ts';

const CRD_DIR = join(REPO_ROOT, 'deploy/crds');
const crdFiles = () =>
  readdirSync(CRD_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
const docsOf = (text: string) =>
  parseAllDocuments(text)
    .map((d) => d.toJSON() as KubeObject | null)
    .filter((d): d is KubeObject => !!d?.kind);

// A ServiceMonitor CRD of our own (prometheus-operator's has the same group, version and kind);
// it keeps unknown fields, so the server checks the object's envelope, not Prometheus' schema.
const SERVICE_MONITOR_CRD = simpleCrd('monitoring.coreos.com', 'ServiceMonitor', 'servicemonitors', {
  type: 'object',
  'x-kubernetes-preserve-unknown-fields': true,
});

let admin: KubeClient;
const namespaces: string[] = [];
const clusterObjects: string[] = [];

before(
  async () => {
    admin = new KubeClient(await startKube());
    await helm(['version']); // builds helm on first use
    await admin.apply(SERVICE_MONITOR_CRD);
    await admin.waitForCrd('servicemonitors.monitoring.coreos.com');
  },
  { timeout: KUBE_START_TIMEOUT_MS },
);

after(async () => {
  for (const path of clusterObjects) await admin.remove(path);
  for (const ns of namespaces) await deleteNamespace(admin, ns);
});

async function namespace(prefix: string): Promise<string> {
  const ns = await createNamespace(admin, prefix);
  namespaces.push(ns);
  return ns;
}

/** Applies a rendering; cluster-scoped objects other than CRDs are removed after the file. */
async function applyRendering(text: string): Promise<KubeObject[]> {
  const applied = await admin.applyYaml(text);
  for (const obj of applied) {
    if (obj.kind === 'ClusterRole' || obj.kind === 'ClusterRoleBinding') clusterObjects.push(await admin.pathOf(obj));
  }
  return applied;
}

/** What the API server's RBAC lets a ServiceAccount do: SelfSubjectAccessReview with its own token. */
async function can(sa: KubeClient, verb: string, resource: string, namespace: string, group = ''): Promise<boolean> {
  const [res, sub] = resource.split('/');
  const review = await sa.post<{ status: { allowed: boolean } }>(
    '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
    {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { verb, group, resource: res, subresource: sub, namespace } },
    },
  );
  return review.status.allowed;
}

describe('the Helm chart', () => {
  test('passes helm lint', async () => {
    const out = await helm(['lint', CHART_DIR, '--strict']);
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test("its crds/ are deploy/crds, the operator's CustomResourceDefinitions, and every one is rendered", async () => {
    const files = crdFiles();
    const kinds = files.map(
      (f) =>
        (docsOf(readFileSync(join(CRD_DIR, f), 'utf8'))[0]?.['spec'] as { names?: { kind: string } } | undefined)?.names
          ?.kind,
    );
    assert.deepEqual([...kinds].sort(), ['KafkaBackup', 'KafkaOffsetReset', 'KafkaOffsetRollback', 'KafkaRestore']);
    const chartCrds = join(CHART_DIR, 'crds');
    assert.deepEqual(
      readdirSync(chartCrds)
        .filter((f) => f.endsWith('.yaml'))
        .sort(),
      files,
    );
    for (const f of files) {
      assert.equal(readFileSync(join(chartCrds, f), 'utf8'), readFileSync(join(CRD_DIR, f), 'utf8'), f);
    }
    const rendered = docsOf(await renderChart('kafka-backup', 'kafka-backup'));
    const renderedCrds = rendered.filter((d) => d.kind === 'CustomResourceDefinition');
    assert.deepEqual(
      renderedCrds.map((d) => d.metadata?.name).sort(),
      files.map((f) => docsOf(readFileSync(join(CRD_DIR, f), 'utf8'))[0]?.metadata?.name).sort(),
    );
  });

  test('deploy/manifests/operator.yaml is what the chart renders now, and the API server accepts it with deploy/crds', async () => {
    const r = await run('bash', [join(REPO_ROOT, 'scripts/kube/render-manifests.sh'), '--check'], {
      timeoutMs: 40 * 60_000,
    });
    assert.match(r.stderr, /operator\.yaml is up to date/);
    const crds = crdFiles().map((f) => readFileSync(join(CRD_DIR, f), 'utf8'));
    const manifest = readFileSync(join(REPO_ROOT, 'deploy/manifests/operator.yaml'), 'utf8');
    const applied = await applyRendering([...crds, manifest].join('\n---\n'));
    namespaces.push('kafka-backup');
    assert.ok(applied.some((o) => o.kind === 'Deployment' && o.metadata?.namespace === 'kafka-backup'));
    assert.equal(applied.filter((o) => o.kind === 'CustomResourceDefinition').length, 4);
  });

  test('watching every namespace, with ServiceMonitor and dashboard: the API server accepts the whole rendering', async () => {
    const ns = await namespace('kb-chart-all');
    const release = ns; // cluster-scoped names carry the release: unique per run
    const text = await renderChart(release, ns, {
      replicaCount: 2,
      serviceMonitor: { enabled: true },
      grafanaDashboard: { enabled: true },
    });
    const applied = await applyRendering(text);
    const kinds = applied.map((o) => o.kind).sort();
    for (const kind of [
      'ClusterRole',
      'ClusterRoleBinding',
      'ConfigMap',
      'Deployment',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
      'ServiceMonitor',
    ]) {
      assert.ok(kinds.includes(kind), `${kind} in ${kinds.join(', ')}`);
    }
    const dashboard = applied.find((o) => o.kind === 'ConfigMap') as KubeObject & { data: Record<string, string> };
    assert.deepEqual(
      JSON.parse(dashboard.data['kafka-backup.json'] ?? ''),
      JSON.parse(readFileSync(join(REPO_ROOT, 'ops/grafana-dashboard.json'), 'utf8')),
    );
    const deployment = (await admin.get(
      `/apis/apps/v1/namespaces/${ns}/deployments/${release}-kafka-backup`,
    )) as KubeObject & {
      spec: {
        replicas: number;
        template: { spec: { containers: Record<string, unknown>[]; securityContext: Record<string, unknown> } };
      };
    };
    assert.equal(deployment.spec.replicas, 2);
    const [container] = deployment.spec.template.spec.containers;
    assert.ok(container);
    assert.equal(container['image'], 'kafka-backup:0.1.0');
    assert.deepEqual((container['args'] as string[]).slice(0, 2), ['operator', '--in-cluster']);
    assert.ok((container['args'] as string[]).includes('--all-namespaces'));
    assert.equal((container['livenessProbe'] as { httpGet: { path: string } }).httpGet.path, '/healthz');
    assert.equal((container['readinessProbe'] as { httpGet: { path: string } }).httpGet.path, '/readyz');
    assert.deepEqual(container['securityContext'], {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    assert.equal(deployment.spec.template.spec.securityContext['runAsNonRoot'], true);
  });

  test("watching listed namespaces: Roles only there, and the ServiceAccount's token can do what the operator needs and nothing more", async () => {
    const home = await namespace('kb-chart-home');
    const watched = await namespace('kb-chart-watched');
    const other = await namespace('kb-chart-other');
    const dir = mkdtempSync(join(tmpdir(), 'kb-chart-'));
    const installed = await installOperatorRbac(admin, { namespace: home, watchNamespaces: [watched], dir });
    const applied = installed.applied;
    assert.equal(installed.serviceAccount, 'kb-kafka-backup');
    assert.ok(!applied.some((o) => o.kind === 'ClusterRole'), 'no ClusterRole when namespaces are listed');
    const deployment = applied.find((o) => o.kind === 'Deployment') as KubeObject & {
      spec: { replicas: number; template: { spec: { containers: { args: string[] }[] } } };
    };
    assert.ok(deployment.spec.template.spec.containers[0]?.args.includes(`--namespace=${watched}`));
    assert.equal(deployment.spec.replicas, 0);
    // the kubeconfig written for the operator holds the ServiceAccount's token
    const config = parse(readFileSync(installed.kubeconfig, 'utf8')) as { users: { user: { token: string } }[] };
    const sa = new KubeClient({ ...admin.credentials, token: config.users[0]?.user.token ?? '' });
    rmSync(dir, { recursive: true, force: true });
    const expect = async (verb: string, resource: string, ns: string, group: string, allowed: boolean) =>
      assert.equal(await can(sa, verb, resource, ns, group), allowed, `${verb} ${group}/${resource} in ${ns}`);
    // what the operator needs, in the watched namespace
    await expect('watch', 'kafkabackups', watched, 'kafkabackup.io', true);
    await expect('patch', 'kafkarestores/status', watched, 'kafkabackup.io', true);
    await expect('create', 'jobs', watched, 'batch', true);
    await expect('delete', 'jobs', watched, 'batch', true);
    await expect('list', 'pods', watched, '', true);
    await expect('get', 'pods/log', watched, '', true);
    await expect('create', 'configmaps', watched, '', true);
    await expect('get', 'secrets', watched, '', true);
    await expect('create', 'events', watched, '', true);
    await expect('get', 'kafkausers', watched, 'kafka.strimzi.io', true);
    await expect('update', 'leases', home, 'coordination.k8s.io', true);
    // and nothing more
    await expect('update', 'kafkabackups', watched, 'kafkabackup.io', false);
    await expect('delete', 'kafkabackups', watched, 'kafkabackup.io', false);
    await expect('list', 'secrets', watched, '', false);
    await expect('list', 'configmaps', watched, '', false);
    await expect('create', 'secrets', watched, '', false);
    await expect('delete', 'pods', watched, '', false);
    await expect('create', 'pods', watched, '', false);
    await expect('create', 'cronjobs', watched, 'batch', false);
    await expect('create', 'deployments', watched, 'apps', false);
    await expect('create', 'rolebindings', watched, 'rbac.authorization.k8s.io', false);
    await expect('update', 'leases', watched, 'coordination.k8s.io', false);
    await expect('list', 'kafkabackups', other, 'kafkabackup.io', false);
    await expect('create', 'jobs', other, 'batch', false);
    await expect('get', 'secrets', other, '', false);
    // and a real call, not only the review: listing the watched namespace's Jobs works, another's does not
    await sa.get(`/apis/batch/v1/namespaces/${watched}/jobs`);
    await assert.rejects(sa.get(`/apis/batch/v1/namespaces/${other}/jobs`), /HTTP 403/);
  });
});
