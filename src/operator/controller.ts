/**
 * The operator loop: while it holds the Lease, every resync interval it lists each kind's
 * resources (in its namespaces, or all) and reconciles each one: read its Jobs and Pods, prepare
 * (resolve and render), plan (pure, ./plan.ts), then carry out the plan: ConfigMap + Job per run,
 * Events for every step, the status. Polling keeps it level-based and simple to resume; a Job
 * name AlreadyExists means the run was started before (by us before a restart, or by a former
 * leader) and is not started again.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../util/log.ts';
import { API_VERSION, type Kind, LABEL_KIND, LABEL_OWNER, MANAGER, type Resource, type ResourceStatus } from './api.ts';
import { configMapOf, jobOf } from './jobs.ts';
import { errorText, type Kube } from './kube.ts';
import type { OperatorMetrics } from './metrics.ts';
import { type Action, type Prepared, planBackup, planOneShot } from './plan.ts';
import {
  type PrepareContext,
  prepareBackup,
  prepareOffsetReset,
  prepareOffsetRollback,
  prepareRestore,
} from './prepare.ts';

export interface ControllerOptions {
  /** undefined: all namespaces */
  namespaces?: string[];
  image: string;
  resyncMs: number;
  isLeader: () => boolean;
  log: Logger;
  metrics: OperatorMetrics;
}

const ORDER: Kind[] = ['KafkaBackup', 'KafkaRestore', 'KafkaOffsetReset', 'KafkaOffsetRollback'];
const PREPARE: Record<Kind, (ctx: PrepareContext, r: Resource<never>) => Promise<Prepared>> = {
  KafkaBackup: prepareBackup,
  KafkaRestore: prepareRestore,
  KafkaOffsetReset: prepareOffsetReset,
  KafkaOffsetRollback: prepareOffsetRollback,
};

export class Controller {
  private readonly kube: Kube;
  private readonly o: ControllerOptions;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;
  /** Set once a full pass reached the API server (readiness). */
  synced = false;

  constructor(kube: Kube, options: ControllerOptions) {
    this.kube = kube;
    this.o = options;
  }

  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      this.running = this.pass().catch((e) => this.o.log.warn('reconcile pass failed', { error: errorText(e) }));
      await this.running;
      if (!this.stopped) this.timer = setTimeout(loop, this.o.resyncMs);
    };
    void loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One pass over every resource. */
  async pass(): Promise<void> {
    if (!this.o.isLeader()) return;
    const namespaces = this.o.namespaces ?? [undefined];
    for (const kind of ORDER)
      for (const ns of namespaces) {
        const items = await this.kube.listResources<never>(kind, ns);
        for (const r of items) {
          if (this.stopped || !this.o.isLeader()) return;
          await this.reconcile(kind, r).then(
            () => this.o.metrics.reconciled(kind, 'ok'),
            (e) => {
              this.o.metrics.reconciled(kind, 'error');
              this.o.log.warn('reconcile failed', {
                kind,
                namespace: r.metadata.namespace,
                name: r.metadata.name,
                error: errorText(e),
              });
            },
          );
        }
      }
    this.synced = true;
  }

  async reconcile(kind: Kind, r: Resource<never>): Promise<void> {
    if (r.metadata.deletionTimestamp) return; // deletionPolicy Retain: the owner references clean up Jobs, never data
    const ns = r.metadata.namespace;
    const selector = `${LABEL_KIND}=${kind},${LABEL_OWNER}=${r.metadata.name}`;
    const [jobs, pods] = await Promise.all([this.kube.listJobs(ns, selector), this.kube.listPods(ns, selector)]);
    const prepared = await PREPARE[kind]({ kube: this.kube, image: this.o.image }, r);
    const now = new Date();
    const plan =
      kind === 'KafkaBackup'
        ? planBackup({ resource: r, jobs, pods, prepared, now })
        : planOneShot({ kind, resource: r, jobs, pods, prepared, now });
    for (const action of plan.actions) {
      if (!this.o.isLeader()) return; // lost the Lease mid-way: the new leader takes over from the cluster's state
      await this.act(kind, r, action);
    }
    if (statusChanged(r.status, plan.status)) {
      // a merge patch keeps keys it does not name: the ones the plan dropped are set to null
      const body: Record<string, unknown> = { ...plan.status };
      for (const k of Object.keys(r.status ?? {})) if (!(k in body)) body[k] = null;
      await this.kube.patchStatus(kind, ns, r.metadata.name, body as ResourceStatus);
    }
  }

  private async act(kind: Kind, r: Resource<never>, a: Action): Promise<void> {
    const ns = r.metadata.namespace;
    if (a.type === 'createRun') {
      await this.kube.createConfigMap(ns, configMapOf(a.run));
      const created = await this.kube.createJob(ns, jobOf(a.run));
      if (created) this.o.metrics.runCreated(kind);
      this.o.log.info(created ? 'run created' : 'run already exists', {
        kind,
        namespace: ns,
        name: r.metadata.name,
        job: a.run.jobName,
      });
    } else if (a.type === 'deleteJob') {
      await this.kube.deleteJob(ns, a.name);
    } else {
      this.o.log.info('event', { kind, namespace: ns, name: r.metadata.name, reason: a.reason, message: a.message });
      const now = new Date();
      await this.kube
        .createEvent(
          {
            metadata: {
              name: `${r.metadata.name}.${now.getTime().toString(16)}${randomBytes(2).toString('hex')}`,
              namespace: ns,
            },
            involvedObject: {
              apiVersion: API_VERSION,
              kind,
              name: r.metadata.name,
              namespace: ns,
              uid: r.metadata.uid,
            },
            reason: a.reason,
            message: a.message.slice(0, 1024),
            type: a.eventType,
            source: { component: MANAGER },
            reportingComponent: MANAGER,
            reportingInstance: MANAGER,
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
          },
          ns,
        )
        .catch((e) => this.o.log.warn('event not recorded', { error: errorText(e) }));
    }
  }
}

/** Status equality ignoring condition timestamps that did not move (they carry over in the plan). */
function statusChanged(old: ResourceStatus | undefined, now: ResourceStatus): boolean {
  return JSON.stringify(old ?? {}) !== JSON.stringify(JSON.parse(JSON.stringify(now)));
}
