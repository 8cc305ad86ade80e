/**
 * The operator tests' own pieces over the test bed (test/helpers/kube.ts, kube-node.ts): the
 * operator as a real child process (`kafka-backup operator`) under a ServiceAccount bound by the
 * Helm chart's RBAC, and the CRDs from deploy/crds.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, sleep } from '../../helpers/kafka.ts';
import { type KubeClient, type KubeObject, renderChart, serviceAccountKubeconfig } from '../../helpers/kube.ts';

export const GROUP_PATH = '/apis/kafkabackup.io/v1alpha1';

export async function applyCrds(admin: KubeClient): Promise<void> {
  const dir = join(REPO_ROOT, 'deploy/crds');
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml')))
    await admin.applyYaml(readFileSync(join(dir, f), 'utf8'));
}

/**
 * The chart's RBAC (ServiceAccount, ClusterRole/Role and bindings, the leader-election Role) in
 * `namespace`, without its Deployment (the operator runs as a test process instead); answers a
 * kubeconfig for that ServiceAccount.
 */
export async function chartRbacKubeconfig(admin: KubeClient, namespace: string, dir: string): Promise<string> {
  const text = await renderChart('kb', namespace, { watchNamespaces: [namespace] }, { includeCrds: false });
  const { parseAllDocuments } = await import('yaml');
  const docs = parseAllDocuments(text)
    .map((d) => d.toJSON() as KubeObject | null)
    .filter((d): d is KubeObject => !!d && typeof d === 'object' && !!d.kind);
  const keep = docs.filter((d) =>
    ['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'].includes(d.kind ?? ''),
  );
  for (const d of keep) {
    if (d.metadata && !d.metadata.namespace && !d.kind?.startsWith('Cluster')) d.metadata.namespace = namespace;
    await admin.apply(d);
  }
  const sa = keep.find((d) => d.kind === 'ServiceAccount');
  if (!sa?.metadata?.name) throw new Error('the chart rendered no ServiceAccount');
  return serviceAccountKubeconfig(admin, { namespace, name: sa.metadata.name, dir });
}

export interface OperatorProcess {
  child: ChildProcess;
  output: () => string;
  /** http://127.0.0.1:port of /metrics, /healthz, /readyz */
  url: Promise<string>;
  stop: (signal?: NodeJS.Signals) => Promise<void>;
}

export function startOperator(kubeconfig: string, namespace: string, extra: string[] = []): OperatorProcess {
  const child = spawn(
    process.execPath,
    [
      join(REPO_ROOT, 'src/cli/main.ts'),
      'operator',
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      namespace,
      '--resync-interval',
      '1',
      '--metrics-address',
      '127.0.0.1:0',
      '--job-image',
      'kafka-backup:test',
      '--leader-election-namespace',
      namespace,
      ...extra,
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let resolveUrl: (u: string) => void;
  const url = new Promise<string>((r) => {
    resolveUrl = r;
  });
  const onData = (d: Buffer) => {
    out += d;
    const m = /"http":"(http:\/\/[^"]+)"/.exec(out);
    if (m) resolveUrl(m[1]!);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  return {
    child,
    output: () => out,
    url,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export async function metricValue(url: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

export async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(500);
  }
}
