/**
 * The real Kubernetes control plane of the operator tests (`scripts/services.sh start kube`:
 * kube-apiserver, etcd, kube-controller-manager; docs/testing.md) and a small client for it.
 *
 *   startKube()                      starts the test bed once per process (idempotent, shared by
 *                                    every test file; the test command stops it at the end)
 *   KubeClient                       JSON requests, server-side apply, watches, waits
 *   serviceAccountKubeconfig()       a kubeconfig for a ServiceAccount (TokenRequest API), so the
 *                                    operator runs under its chart's RBAC, not system:masters
 *   createNamespace/deleteNamespace  a namespace per test file
 *   helm(), renderChart()            helm v3 (built like the test bed) and the chart rendered with
 *                                    given values, ready for KubeClient.applyYaml
 *   installOperatorRbac()            the chart's ServiceAccount and RBAC applied, and a kubeconfig
 *                                    for that account: the operator runs under the chart's RBAC
 *
 * The client is deliberately our own few lines over node:https and not @kubernetes/client-node:
 * the test bed checks the operator, which is built on that library, so the tests reach the API
 * server through something independent of it (as Kafka data is checked with Kafka's Java client).
 * The node stand-in (the kubelet's part) is in ./kube-node.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { REPO_ROOT, run, sleep } from './kafka.ts';

export const KUBE_DIR = resolve(process.env['KB_STATE_DIR'] ?? join(REPO_ROOT, '.services'), 'kube');
export const KUBE_SERVER = `https://127.0.0.1:${process.env['KB_KUBE_PORT'] ?? '16443'}`;

export interface KubeCredentials {
  server: string;
  /** PEM of the API server's serving certificate (self-signed, its own CA). */
  ca: string;
  token: string;
}

/** A Kubernetes API object as JSON (only the fields every object has are typed). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string }[];
    deletionTimestamp?: string;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface KubeList<T = KubeObject> {
  metadata: { resourceVersion: string };
  items: T[];
}

/** An API answer that was not 2xx: the HTTP status and the server's Status object. */
export class KubeApiError extends Error {
  readonly status: number;
  readonly body: { message?: string; reason?: string; details?: unknown } | string;
  constructor(status: number, body: KubeApiError['body'], what: string) {
    super(`${what}: HTTP ${status}: ${typeof body === 'string' ? body.slice(0, 500) : (body.message ?? '')}`);
    this.status = status;
    this.body = body;
  }
}

export interface RequestOptions {
  /** Content type of the body: JSON by default; merge, strategic-merge and apply patches. */
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
}

/** Resource names the server's discovery gave for one apiVersion + kind. */
interface ResourceInfo {
  plural: string;
  namespaced: boolean;
}

export class KubeClient {
  private readonly discovery = new Map<string, Promise<Map<string, ResourceInfo>>>();

  readonly credentials: KubeCredentials;

  constructor(credentials: KubeCredentials) {
    this.credentials = credentials;
  }

  /** One request; resolves with the decoded JSON answer, rejects with KubeApiError on non-2xx. */
  request<T = KubeObject>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    return new Promise((resolvePromise, reject) => {
      const req = httpsRequest(
        this.url(path, options.query),
        {
          method,
          ca: this.credentials.ca,
          headers: {
            authorization: `Bearer ${this.credentials.token}`,
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': options.contentType ?? 'application/json' }),
          },
          timeout: 60_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : {};
            } catch {
              // a non-JSON answer (pod logs, some errors) stays text
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolvePromise(parsed as T);
            else reject(new KubeApiError(status, parsed as KubeApiError['body'], `${method} ${path}`));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 60 s`)));
      req.on('error', reject);
      req.end(body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
    });
  }

  get<T = KubeObject>(path: string, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('GET', path, undefined, { query });
  }

  /** GET that answers undefined for 404. */
  async find<T = KubeObject>(path: string): Promise<T | undefined> {
    try {
      return await this.get<T>(path);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  post<T = KubeObject>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  delete(path: string, query?: RequestOptions['query']): Promise<KubeObject> {
    return this.request('DELETE', path, undefined, { query });
  }

  /** DELETE that ignores 404. */
  async remove(path: string, query?: RequestOptions['query']): Promise<void> {
    try {
      await this.delete(path, query);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
  }

  patch<T = KubeObject>(path: string, body: unknown, type: 'merge' | 'strategic' | 'json' = 'merge'): Promise<T> {
    const contentType = {
      merge: 'application/merge-patch+json',
      strategic: 'application/strategic-merge-patch+json',
      json: 'application/json-patch+json',
    }[type];
    return this.request<T>('PATCH', path, body, { contentType });
  }

  /** What the server's discovery says of a kind: its plural name and whether it is namespaced. */
  async resourceOf(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    let resources = this.discovery.get(apiVersion);
    if (!resources) {
      resources = this.get<{ resources: { name: string; kind: string; namespaced: boolean }[] }>(base).then(
        (r) =>
          new Map(
            r.resources
              .filter((x) => !x.name.includes('/'))
              .map((x) => [x.kind, { plural: x.name, namespaced: x.namespaced }]),
          ),
      );
      this.discovery.set(apiVersion, resources);
      resources.catch(() => this.discovery.delete(apiVersion));
    }
    const info = (await resources).get(kind);
    if (!info) {
      this.discovery.delete(apiVersion); // a CRD may have been added since
      throw new Error(`the API server serves no kind ${kind} in ${apiVersion}`);
    }
    return info;
  }

  /** The REST path of an object (its collection when it has no name), from the server's discovery. */
  async pathOf(obj: KubeObject, options: { collection?: boolean } = {}): Promise<string> {
    const apiVersion = obj.apiVersion ?? '';
    const info = await this.resourceOf(apiVersion, obj.kind ?? '');
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const ns = obj.metadata?.namespace ?? 'default';
    const collection = info.namespaced ? `${base}/namespaces/${ns}/${info.plural}` : `${base}/${info.plural}`;
    return options.collection || !obj.metadata?.name ? collection : `${collection}/${obj.metadata.name}`;
  }

  /** Server-side apply of one object (the API server validates, defaults and stores it). */
  async apply<T = KubeObject>(obj: KubeObject, fieldManager = 'kb-tests'): Promise<T> {
    return this.request<T>('PATCH', await this.pathOf(obj), obj, {
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager, force: true },
    });
  }

  /** Applies every document of a multi-document YAML text, CRDs first (and waits until they serve). */
  async applyYaml(text: string, options: { namespace?: string; fieldManager?: string } = {}): Promise<KubeObject[]> {
    const docs = parseAllDocuments(text)
      .map((d) => d.toJSON() as KubeObject | null)
      .filter((d): d is KubeObject => !!d && typeof d === 'object' && !!d.kind);
    const crds = docs.filter((d) => d.kind === 'CustomResourceDefinition');
    const applied: KubeObject[] = [];
    for (const crd of crds) applied.push(await this.apply(crd, options.fieldManager));
    for (const crd of crds) await this.waitForCrd(crd.metadata?.name ?? '');
    for (const doc of docs.filter((d) => d.kind !== 'CustomResourceDefinition')) {
      const namespaced = (await this.resourceOf(doc.apiVersion ?? '', doc.kind ?? '')).namespaced;
      if (options.namespace && doc.metadata && !doc.metadata.namespace && namespaced) {
        doc.metadata.namespace = options.namespace;
      }
      applied.push(await this.apply(doc, options.fieldManager));
    }
    return applied;
  }

  /** Waits until a CustomResourceDefinition is Established (its kinds are served). */
  async waitForCrd(name: string, timeoutMs = 60_000): Promise<void> {
    await this.waitFor(
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
      (crd) => conditionTrue(crd, 'Established'),
      { timeoutMs, what: `CRD ${name} Established` },
    );
  }

  /**
   * Polls GET path until check(object) is true (a missing object counts as not yet); returns the
   * object. Polling (every 250 ms) rather than watching: simple, and no event can be missed.
   */
  async waitFor<T extends KubeObject = KubeObject>(
    path: string,
    check: (obj: T) => boolean,
    options: { timeoutMs?: number; what?: string } = {},
  ): Promise<T> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    let last: T | undefined;
    for (;;) {
      last = await this.find<T>(path);
      if (last && check(last)) return last;
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for ${options.what ?? path}; last seen: ${JSON.stringify(last ?? null).slice(0, 3000)}`,
        );
      }
      await sleep(250);
    }
  }

  /**
   * Watches a collection (list, then watch from the list's resourceVersion; re-lists when the
   * stream ends or the server answers 410 Gone). Every object of a (re-)list is handed over as
   * ADDED, so a handler that acts on the object's whole state (level-based) misses nothing.
   * Returns a function that stops the watch.
   */
  watch<T extends KubeObject = KubeObject>(
    path: string,
    onEvent: (type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T) => void,
    options: { labelSelector?: string; onError?: (err: unknown) => void } = {},
  ): () => void {
    let stopped = false;
    let current: { destroy(): void } | undefined;
    const loop = async () => {
      while (!stopped) {
        try {
          const list = await this.get<KubeList<T>>(path, { labelSelector: options.labelSelector });
          for (const item of list.items) if (!stopped) onEvent('ADDED', item);
          await this.stream<T>(path, list.metadata.resourceVersion, options.labelSelector, onEvent, (req) => {
            current = req;
            if (stopped) req.destroy();
          });
        } catch (err) {
          if (!stopped) options.onError?.(err);
        }
        if (!stopped) await sleep(500);
      }
    };
    void loop();
    return () => {
      stopped = true;
      current?.destroy();
    };
  }

  private stream<T extends KubeObject>(
    path: string,
    resourceVersion: string,
    labelSelector: string | undefined,
    onEvent: (type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T) => void,
    started: (req: { destroy(): void }) => void,
  ): Promise<void> {
    return new Promise((resolvePromise, reject) => {
      const req = httpsRequest(
        this.url(path, { watch: 1, resourceVersion, labelSelector, allowWatchBookmarks: true, timeoutSeconds: 300 }),
        { ca: this.credentials.ca, headers: { authorization: `Bearer ${this.credentials.token}` } },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new KubeApiError(res.statusCode ?? 0, '', `watch ${path}`));
            return;
          }
          let buffered = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffered += chunk;
            for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
              const line = buffered.slice(0, nl);
              buffered = buffered.slice(nl + 1);
              if (!line.trim()) continue;
              const event = JSON.parse(line) as { type: string; object: T };
              if (event.type === 'ERROR') {
                req.destroy();
                return; // 410 Gone and the like: the caller re-lists
              }
              if (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED') {
                onEvent(event.type, event.object);
              }
            }
          });
          res.on('end', () => resolvePromise());
          res.on('close', () => resolvePromise());
          res.on('error', () => resolvePromise());
        },
      );
      req.on('error', () => resolvePromise());
      req.end();
      started(req);
    });
  }

  private url(path: string, query: RequestOptions['query'] = {}): string {
    const u = new URL(path, this.credentials.server);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }
}

/** Waits until a Job is Complete or Failed and answers it. */
export function waitForJob(
  client: KubeClient,
  namespace: string,
  name: string,
  timeoutMs = 120_000,
): Promise<KubeObject> {
  return client.waitFor(
    `/apis/batch/v1/namespaces/${namespace}/jobs/${name}`,
    (j) => conditionTrue(j, 'Complete') || conditionTrue(j, 'Failed'),
    { timeoutMs, what: `Job ${namespace}/${name} to finish` },
  );
}

/**
 * A namespaced CustomResourceDefinition with one served version `v1` and the given schema for
 * `spec` (for tests that need a kind of their own, e.g. Strimzi's or prometheus-operator's).
 */
export function simpleCrd(group: string, kind: string, plural: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: { spec, status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            },
          },
        },
      ],
    },
  };
}

/** True when the object's status has a condition of that type with status "True". */
export function conditionTrue(obj: KubeObject, type: string): boolean {
  const conditions = (obj['status'] as { conditions?: { type: string; status: string }[] } | undefined)?.conditions;
  return !!conditions?.some((c) => c.type === type && c.status === 'True');
}

/**
 * How long a `before` hook that calls startKube() should allow: on a fresh machine the first start
 * builds the binaries (about 5 min on an idle 2-core machine, 37 min measured under heavy load),
 * longer than the test command's per-test timeout, which hooks inherit:
 * `before(async () => { ... await startKube() ... }, { timeout: KUBE_START_TIMEOUT_MS })`.
 */
export const KUBE_START_TIMEOUT_MS = 60 * 60_000;

let started: Promise<KubeCredentials> | undefined;

/**
 * Starts the test bed (`scripts/services.sh start kube`; builds the binaries on first use, which
 * takes minutes) once per process and answers the admin credentials (system:masters).
 */
export function startKube(): Promise<KubeCredentials> {
  started ??= (async () => {
    await run('bash', [join(REPO_ROOT, 'scripts/services.sh'), 'start', 'kube'], { timeoutMs: KUBE_START_TIMEOUT_MS });
    return adminCredentials();
  })();
  started.catch(() => {
    started = undefined;
  });
  return started;
}

/** The admin credentials of a running test bed (from $KB_STATE_DIR/kube). */
export function adminCredentials(): KubeCredentials {
  return {
    server: KUBE_SERVER,
    ca: readFileSync(join(KUBE_DIR, 'certs/apiserver.crt'), 'utf8'),
    token: readFileSync(join(KUBE_DIR, 'tokens.csv'), 'utf8').split(',')[0] ?? '',
  };
}

/** The admin kubeconfig the service script wrote (server, CA file, system:masters token). */
export const ADMIN_KUBECONFIG = join(KUBE_DIR, 'admin.kubeconfig');

/** Writes a kubeconfig for the credentials into dir/name (mode 600) and returns its path. */
export function writeKubeconfig(
  dir: string,
  name: string,
  credentials: KubeCredentials,
  options: { user?: string; namespace?: string } = {},
): string {
  const user = options.user ?? 'kb-user';
  const path = join(dir, name);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'kb-test',
        cluster: {
          server: credentials.server,
          'certificate-authority-data': Buffer.from(credentials.ca).toString('base64'),
        },
      },
    ],
    users: [{ name: user, user: { token: credentials.token } }],
    contexts: [{ name: 'kb-test', context: { cluster: 'kb-test', user, namespace: options.namespace ?? 'default' } }],
    'current-context': 'kb-test',
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
  return path;
}

/**
 * Credentials of a ServiceAccount (created when missing) through the TokenRequest API: the token
 * the API server itself signs, authenticated as system:serviceaccount:<namespace>:<name>, so
 * every call made with it is checked by RBAC against that account's bindings.
 */
export async function serviceAccountCredentials(
  admin: KubeClient,
  namespace: string,
  name: string,
  expirationSeconds = 3600,
): Promise<KubeCredentials> {
  const sa = `/api/v1/namespaces/${namespace}/serviceaccounts`;
  if (!(await admin.find(`${sa}/${name}`))) {
    await admin.post(sa, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } });
  }
  const answer = await admin.post<{ status: { token: string } }>(`${sa}/${name}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds },
  });
  return { ...admin.credentials, token: answer.status.token };
}

/** A kubeconfig file (in dir) for a ServiceAccount; see serviceAccountCredentials. */
export async function serviceAccountKubeconfig(
  admin: KubeClient,
  options: { namespace: string; name: string; dir: string; expirationSeconds?: number },
): Promise<string> {
  const credentials = await serviceAccountCredentials(
    admin,
    options.namespace,
    options.name,
    options.expirationSeconds,
  );
  return writeKubeconfig(options.dir, `${options.namespace}-${options.name}.kubeconfig`, credentials, {
    user: `system:serviceaccount:${options.namespace}:${options.name}`,
    namespace: options.namespace,
  });
}

/** Creates a namespace `<prefix>-<random>` and answers its name. */
export async function createNamespace(admin: KubeClient, prefix: string): Promise<string> {
  const name = `${prefix}-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
  await admin.post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return name;
}

/**
 * Deletes a namespace (the namespace controller removes what is in it). Pods are deleted at once
 * first (grace period 0): a pod bound to a node waits for that node's kubelet to confirm its end,
 * and the node stand-in may already be gone.
 */
export async function deleteNamespace(admin: KubeClient, namespace: string): Promise<void> {
  await admin.remove(`/api/v1/namespaces/${namespace}/pods`, { gracePeriodSeconds: 0 }).catch(() => {});
  await admin.remove(`/api/v1/namespaces/${namespace}`);
}

/** The operator's Helm chart. */
export const CHART_DIR = join(REPO_ROOT, 'deploy/helm/kafka-backup');

/** Runs helm (scripts/kube/helm.sh: built on first use) and answers its stdout. */
export async function helm(args: string[]): Promise<string> {
  const r = await run('bash', [join(REPO_ROOT, 'scripts/kube/helm.sh'), ...args], { timeoutMs: KUBE_START_TIMEOUT_MS });
  return r.stdout;
}

/**
 * `helm template` of the chart as release `release` in `namespace` with these values (merged over
 * values.yaml); CRDs included unless told otherwise. The text is ready for KubeClient.applyYaml.
 */
export async function renderChart(
  release: string,
  namespace: string,
  values: Record<string, unknown> = {},
  options: { includeCrds?: boolean } = {},
): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'kb-chart-'));
  try {
    const file = join(dir, 'values.json'); // JSON is YAML
    writeFileSync(file, JSON.stringify(values));
    const crds = options.includeCrds === false ? [] : ['--include-crds'];
    return await helm(['template', release, CHART_DIR, '--namespace', namespace, '-f', file, ...crds]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Installs the chart's ServiceAccount and RBAC for an operator that a test runs as a local process:
 * renders the chart (release `release`, in `namespace`, watching `watchNamespaces` or, when empty,
 * every namespace; CRDs included; the Deployment at 0 replicas, since its Pod could not reach the
 * API server from the node stand-in) and applies it, then writes a kubeconfig for the chart's
 * ServiceAccount (TokenRequest) into dir. Pass that to `kafka-backup operator --kubeconfig`: the
 * operator then runs under exactly the chart's RBAC. Answers the kubeconfig path and every object
 * applied (cluster-scoped ones are the caller's to remove).
 */
export async function installOperatorRbac(
  admin: KubeClient,
  options: {
    namespace: string;
    watchNamespaces?: string[];
    dir: string;
    release?: string;
    values?: Record<string, unknown>;
  },
): Promise<{ kubeconfig: string; serviceAccount: string; applied: KubeObject[] }> {
  const release = options.release ?? 'kb';
  const values = { watchNamespaces: options.watchNamespaces ?? [], replicaCount: 0, ...options.values };
  const applied = await admin.applyYaml(await renderChart(release, options.namespace, values));
  const sa = applied.find((o) => o.kind === 'ServiceAccount')?.metadata?.name;
  if (!sa) throw new Error('the chart rendered no ServiceAccount');
  const kubeconfig = await serviceAccountKubeconfig(admin, {
    namespace: options.namespace,
    name: sa,
    dir: options.dir,
  });
  return { kubeconfig, serviceAccount: sa, applied };
}
