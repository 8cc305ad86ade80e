/**
 * The operator loop: while it holds the Lease, it reconciles each resource when a watch says it or
 * one of its Jobs changed (./watches.ts), when a requeue it asked for is due (a running run's
 * progress, the next scheduled time), and on every resync interval for all of them (lists each
 * kind's resources in its namespaces, or all) as the fallback. A reconcile reads the resource's
 * Jobs and Pods, prepares (resolve and render), plans (pure, ./plan.ts), then carries out the plan:
 * ConfigMap + Job per run, Events for every step, the status. One reconcile at a time, from the
 * state in the cluster only (level-based), so it is idempotent and resumes after a restart; a Job
 * name AlreadyExists means the run was started before (by us before a restart, or by a former
 * leader) and is not started again.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../util/log.ts';
import {
  API_VERSION,
  GROUP,
  KINDS,
  type Kind,
  LABEL_KIND,
  LABEL_MANAGED_BY,
  LABEL_OWNER,
  MANAGER,
  type Resource,
  type ResourceStatus,
  VERSION,
} from './api.ts';
import { configMapOf, jobOf, LABEL_RUN } from './jobs.ts';
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
import { progressOf, type RunProgress, scrapeRun } from './progress.ts';
import type { PodLike } from './runs.ts';
import { type Watcher, Watches } from './watches.ts';

export interface ControllerOptions {
  /** undefined: all namespaces */
  namespaces?: string[];
  image: string;
  /** Every resource is reconciled at least this often (the fallback to the watches). */
  resyncMs: number;
  /** How often a running run's progress is read into its resource's status. */
  progressMs?: number;
  /** Watches to react at once; without, the operator only polls every resyncMs. */
  watcher?: Watcher;
  isLeader: () => boolean;
  log: Logger;
  metrics: OperatorMetrics;
}

export const DEFAULT_PROGRESS_MS = 15_000;

const ORDER: Kind[] = ['KafkaBackup', 'KafkaRestore', 'KafkaOffsetReset', 'KafkaOffsetRollback'];
const PREPARE: Record<Kind, (ctx: PrepareContext, r: Resource<never>) => Promise<Prepared>> = {
  KafkaBackup: prepareBackup,
  KafkaRestore: prepareRestore,
  KafkaOffsetReset: prepareOffsetReset,
  KafkaOffsetRollback: prepareOffsetRollback,
};

interface Key {
  kind: Kind;
  namespace: string;
  name: string;
}
const keyText = (k: Key) => `${k.kind}/${k.namespace}/${k.name}`;

export class Controller {
  private readonly kube: Kube;
  private readonly o: ControllerOptions;
  private readonly progressMs: number;
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private worker: Promise<void> | undefined;
  private fullPassDue = true;
  private readonly queue = new Map<string, Key>();
  private readonly requeues = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private wake: (() => void) | undefined;
  private watches: Watches | undefined;
  /** Set once a full pass reached the API server (readiness). */
  synced = false;

  constructor(kube: Kube, options: ControllerOptions) {
    this.kube = kube;
    this.o = options;
    this.progressMs = options.progressMs ?? DEFAULT_PROGRESS_MS;
  }

  start(): void {
    const resync = () => {
      this.resyncNow();
      this.resyncTimer = setTimeout(resync, this.o.resyncMs);
    };
    this.resyncTimer = setTimeout(resync, this.o.resyncMs);
    if (this.o.watcher) {
      this.watches = new Watches(this.o.watcher, this.o.log);
      this.watches.start(this.watchTargets());
    }
    this.worker = this.work();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.resyncTimer);
    for (const r of this.requeues.values()) clearTimeout(r.timer);
    this.watches?.stop();
    this.wake?.();
    await this.worker;
  }

  /** Reconcile everything soon (the resync; also when this replica becomes the leader). */
  resyncNow(): void {
    this.fullPassDue = true;
    this.wake?.();
  }

  enqueue(key: Key): void {
    this.queue.set(keyText(key), key);
    this.wake?.();
  }

  /** Reconcile this resource again in ms (the earliest of the requests stands). */
  private requeueAfter(key: Key, ms: number): void {
    if (ms >= this.o.resyncMs) return; // the resync comes first
    const text = keyText(key);
    const at = Date.now() + Math.max(ms, 0);
    const had = this.requeues.get(text);
    if (had && had.at <= at) return;
    if (had) clearTimeout(had.timer);
    const timer = setTimeout(() => {
      this.requeues.delete(text);
      this.enqueue(key);
    }, at - Date.now());
    this.requeues.set(text, { at, timer });
  }

  private watchTargets() {
    const namespaces = this.o.namespaces ?? [undefined];
    const prefix = (group: string, ns: string | undefined) =>
      `${group}${ns ? `/namespaces/${encodeURIComponent(ns)}` : ''}`;
    const targets = [];
    for (const ns of namespaces) {
      for (const kind of ORDER)
        targets.push({
          what: `${KINDS[kind].plural}${ns ? ` in ${ns}` : ''}`,
          path: `${prefix(`/apis/${GROUP}/${VERSION}`, ns)}/${KINDS[kind].plural}`,
          onEvent: (type: string, obj: { metadata?: Record<string, unknown> }) => {
            const m = obj.metadata as { name?: string; namespace?: string } | undefined;
            if (type !== 'DELETED' && m?.name && m.namespace)
              this.enqueue({ kind, namespace: m.namespace, name: m.name });
          },
        });
      // the runs' Jobs: their owner, by the labels the operator put on them
      targets.push({
        what: `jobs${ns ? ` in ${ns}` : ''}`,
        path: `${prefix('/apis/batch/v1', ns)}/jobs`,
        query: { labelSelector: `${LABEL_MANAGED_BY}=${MANAGER}` },
        onEvent: (_type: string, obj: { metadata?: Record<string, unknown> }) => {
          const m = obj.metadata as { namespace?: string; labels?: Record<string, string> } | undefined;
          const kind = m?.labels?.[LABEL_KIND] as Kind | undefined;
          const owner = m?.labels?.[LABEL_OWNER];
          if (kind && owner && m?.namespace && ORDER.includes(kind))
            this.enqueue({ kind, namespace: m.namespace, name: owner });
        },
      });
    }
    return targets;
  }

  /** One reconcile at a time: full passes when due, else the queued resources in order. */
  private async work(): Promise<void> {
    while (!this.stopped) {
      if (this.fullPassDue) {
        this.fullPassDue = false;
        await this.pass().catch((e) => this.o.log.warn('reconcile pass failed', { error: errorText(e) }));
        continue;
      }
      const next = this.queue.entries().next();
      if (next.done) {
        await new Promise<void>((r) => {
          this.wake = r;
        });
        this.wake = undefined;
        continue;
      }
      const [text, key] = next.value;
      this.queue.delete(text);
      if (!this.o.isLeader()) continue;
      try {
        const r = await this.kube.getResource<never>(key.kind, key.namespace, key.name);
        if (r) await this.reconcileCounted(key.kind, r);
      } catch (e) {
        this.o.log.warn('reconcile failed', { ...key, error: errorText(e) });
      }
    }
  }

  private reconcileCounted(kind: Kind, r: Resource<never>): Promise<void> {
    return this.reconcile(kind, r).then(
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

  /** One pass over every resource. */
  async pass(): Promise<void> {
    if (!this.o.isLeader()) return;
    const namespaces = this.o.namespaces ?? [undefined];
    for (const kind of ORDER)
      for (const ns of namespaces) {
        const items = await this.kube.listResources<never>(kind, ns);
        for (const r of items) {
          if (this.stopped || !this.o.isLeader()) return;
          await this.reconcileCounted(kind, r);
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
    const key = { kind, namespace: ns, name: r.metadata.name };
    if (await this.progress(kind, r, plan.status, pods, now)) this.requeueAfter(key, this.progressMs);
    else if (plan.actions.some((a) => a.type === 'createRun')) this.requeueAfter(key, 2000);
    if (typeof plan.status.nextRun === 'string')
      this.requeueAfter(key, Date.parse(plan.status.nextRun) - now.getTime() + 250);
    if (statusChanged(r.status, plan.status)) {
      // a merge patch keeps keys it does not name: the ones the plan dropped are set to null
      const body: Record<string, unknown> = { ...plan.status };
      for (const k of Object.keys(r.status ?? {})) if (!(k in body)) body[k] = null;
      await this.kube.patchStatus(kind, ns, r.metadata.name, body as ResourceStatus);
    }
  }

  /**
   * status.progress of the run that is running (backup and restore runs), read from its Pod's
   * metrics at most once per progress interval; true while a run is running.
   */
  private async progress(
    kind: Kind,
    r: Resource<never>,
    status: ResourceStatus,
    pods: PodLike[],
    now: Date,
  ): Promise<boolean> {
    const running = status.history?.find((h) => h.phase === 'Running' || h.phase === 'Pending');
    const old = r.status?.progress as RunProgress | undefined;
    delete status.progress;
    if (!running) return false;
    if (kind !== 'KafkaBackup' && kind !== 'KafkaRestore') return true;
    const kept = old?.job === running.job ? old : undefined;
    if (kept) status.progress = kept;
    if (kept && now.getTime() - Date.parse(kept.updatedAt) < this.progressMs * 0.8) return true;
    const pod = pods
      .filter((p) => p.metadata.labels?.[LABEL_RUN] === running.job && p.status?.phase === 'Running' && p.status.podIP)
      .at(-1);
    if (!pod) return true;
    try {
      const fresh = progressOf(
        kind === 'KafkaBackup' ? 'backup' : 'restore',
        await scrapeRun(pod.status!.podIP!),
        running.job,
        now,
      );
      if (fresh) status.progress = fresh;
    } catch (e) {
      // the run may be starting or ending: the next interval tries again; the status keeps the last figures
      this.o.log.debug('run progress not read', { job: running.job, error: errorText(e) });
    }
    return true;
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
