/**
 * The operator's only door to the API server: the few calls it makes, through @kubernetes/client-node
 * (loaded only by the operator command). Everything returned is plain JSON-shaped data.
 */
import * as k8s from '@kubernetes/client-node';
import { GROUP, KINDS, type Kind, type Resource, type ResourceStatus, VERSION } from './api.ts';

export interface KubeOptions {
  kubeconfig?: string;
  inCluster?: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: the generated client's models are cast at this boundary
type Any = any;

export function loadKubeConfig(o: KubeOptions): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (o.inCluster) kc.loadFromCluster();
  else if (o.kubeconfig) kc.loadFromFile(o.kubeconfig);
  else kc.loadFromDefault();
  return kc;
}

export function statusCode(e: unknown): number | undefined {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** An API error as one line: HTTP status and the server's message (never a request body). */
export function errorText(e: unknown): string {
  const code = statusCode(e);
  if (code === undefined) return e instanceof Error ? e.message : String(e);
  const body = (e as { body?: unknown }).body;
  let message: unknown = body;
  try {
    message = (typeof body === 'string' ? JSON.parse(body) : body)?.message ?? body;
  } catch {
    // not JSON: the text itself
  }
  return `HTTP ${code}: ${String(typeof message === 'string' ? message : JSON.stringify(message)).slice(0, 500)}`;
}

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

/** Plain JSON of a generated model (dates as ISO text), the way the API server sent it. */
function plain<T>(v: unknown): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

export class Kube {
  readonly custom: k8s.CustomObjectsApi;
  readonly batch: k8s.BatchV1Api;
  readonly core: k8s.CoreV1Api;
  readonly coordination: k8s.CoordinationV1Api;

  readonly config: k8s.KubeConfig;

  constructor(config: k8s.KubeConfig) {
    this.config = config;
    this.custom = config.makeApiClient(k8s.CustomObjectsApi);
    this.batch = config.makeApiClient(k8s.BatchV1Api);
    this.core = config.makeApiClient(k8s.CoreV1Api);
    this.coordination = config.makeApiClient(k8s.CoordinationV1Api);
  }

  /** Resources of a kind in one namespace, or in all (namespace undefined). */
  async listResources<S>(kind: Kind, namespace: string | undefined): Promise<Resource<S>[]> {
    const plural = KINDS[kind].plural;
    const list: Any = namespace
      ? await this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural })
      : await this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural });
    return (list.items ?? []) as Resource<S>[];
  }

  async getResource<S>(kind: Kind, namespace: string, name: string): Promise<Resource<S> | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: KINDS[kind].plural,
        name,
      })) as Resource<S>;
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw e;
    }
  }

  async getCustom(
    group: string,
    version: string,
    plural: string,
    namespace: string,
    name: string,
  ): Promise<Any | undefined> {
    try {
      return await this.custom.getNamespacedCustomObject({ group, version, namespace, plural, name });
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw e;
    }
  }

  async patchStatus(kind: Kind, namespace: string, name: string, status: ResourceStatus): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, namespace, plural: KINDS[kind].plural, name, body: { status } },
      mergePatch,
    );
  }

  async listJobs(namespace: string, selector: string): Promise<Any[]> {
    const list = await this.batch.listNamespacedJob({ namespace, labelSelector: selector });
    return plain<Any[]>(list.items);
  }

  async listPods(namespace: string, selector: string): Promise<Any[]> {
    const list = await this.core.listNamespacedPod({ namespace, labelSelector: selector });
    return plain<Any[]>(list.items);
  }

  /** false when it already exists (a run already started under this name). */
  async createJob(namespace: string, job: Record<string, unknown>): Promise<boolean> {
    try {
      await this.batch.createNamespacedJob({ namespace, body: job as Any });
      return true;
    } catch (e) {
      if (statusCode(e) === 409) return false;
      throw e;
    }
  }

  async deleteJob(namespace: string, name: string): Promise<void> {
    try {
      await this.batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' });
    } catch (e) {
      if (statusCode(e) !== 404) throw e;
    }
    try {
      await this.core.deleteNamespacedConfigMap({ namespace, name });
    } catch (e) {
      if (statusCode(e) !== 404) throw e;
    }
  }

  async createConfigMap(namespace: string, cm: Record<string, unknown>): Promise<void> {
    try {
      await this.core.createNamespacedConfigMap({ namespace, body: cm as Any });
    } catch (e) {
      if (statusCode(e) !== 409) throw e;
    }
  }

  /** The key names of a Secret (never its values), or undefined when it does not exist. */
  async secretKeys(namespace: string, name: string): Promise<Set<string> | undefined> {
    try {
      const s = await this.core.readNamespacedSecret({ namespace, name });
      return new Set(Object.keys(s.data ?? {}));
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw e;
    }
  }

  async createEvent(event: Record<string, unknown>, namespace: string): Promise<void> {
    await this.core.createNamespacedEvent({ namespace, body: event as Any });
  }
}
