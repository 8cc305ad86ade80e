/**
 * The operator tests' own pieces over the test bed (test/helpers/kube.ts, kube-node.ts): the
 * operator as a real child process (`kafka-backup operator`), its metrics, waiting.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT, sleep } from '../../helpers/kafka.ts';
import type { KubeClient, KubeObject } from '../../helpers/kube.ts';

export const GROUP_PATH = '/apis/kafkabackup.io/v1alpha1';

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

/**
 * Every place a secret must not reach, as [where, text]: the namespace's ConfigMaps (the rendered
 * configs), Jobs, the operator's resources, Events, the operators' output and every Pod's log.
 */
export async function placesToGrep(
  admin: KubeClient,
  ns: string,
  operatorOutputs: string[],
): Promise<[string, string][]> {
  const where: [string, string][] = [];
  where.push(['configmaps', JSON.stringify(await admin.get(`/api/v1/namespaces/${ns}/configmaps`))]);
  where.push(['jobs', JSON.stringify(await admin.get(`/apis/batch/v1/namespaces/${ns}/jobs`))]);
  for (const plural of ['kafkabackups', 'kafkarestores', 'kafkaoffsetresets', 'kafkaoffsetrollbacks'])
    where.push([plural, JSON.stringify(await admin.get(`${GROUP_PATH}/namespaces/${ns}/${plural}`))]);
  where.push(['events', JSON.stringify(await admin.get(`/api/v1/namespaces/${ns}/events`))]);
  for (const out of operatorOutputs) where.push(['operator log', out]);
  const pods = await admin.get<{ items: KubeObject[] }>(`/api/v1/namespaces/${ns}/pods`);
  for (const pod of pods.items) {
    const log = await admin
      .request<string>('GET', `/api/v1/namespaces/${ns}/pods/${pod.metadata?.name}/log`)
      .catch(() => '');
    where.push([`log of ${pod.metadata?.name}`, typeof log === 'string' ? log : JSON.stringify(log)]);
  }
  return where;
}
