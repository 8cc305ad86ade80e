/**
 * One run = one Job (and the ConfigMap with its rendered config, named like the Job), owned by the
 * resource so deleting the resource cleans them up (never the backup data). The container runs
 * the same CLI: `kafka-backup <command> -c /etc/kafka-backup/config.yaml`, and writes its one-line
 * summary to the termination message file (src/cli/summary.ts), which the kubelet copies into the
 * Pod's status where the operator reads the run's figures.
 */
import {
  ANNOTATION_SCHEDULED_AT,
  API_VERSION,
  type JobSettings,
  type Kind,
  LABEL_KIND,
  LABEL_MANAGED_BY,
  LABEL_OWNER,
  MANAGER,
  type ObjectMeta,
} from './api.ts';
import { POD_IP_ENV, RUN_METRICS_PORT } from './progress.ts';
import { CONFIG_DIR, type Rendered } from './render.ts';

export const TERMINATION_LOG = '/dev/termination-log';
export const LABEL_RUN = 'kafkabackup.io/run';
export const LABEL_STEP = 'kafkabackup.io/step';
export const DEFAULT_BACKOFF_LIMIT = 2;

export interface RunSpec {
  kind: Kind;
  owner: ObjectMeta;
  jobName: string;
  args: string[];
  rendered: Rendered;
  settings: JobSettings;
  image: string;
  scheduledAt?: Date;
  /** A continuous backup runs until stopped: retried without end. */
  continuous?: boolean;
  /** More environment (retention's storage variables). */
  extraEnv?: unknown[];
  /** A step after a run (forget, prune): labelled so it is not counted as a run. */
  step?: string;
}

export function ownerLabels(kind: Kind, owner: ObjectMeta): Record<string, string> {
  return { [LABEL_MANAGED_BY]: MANAGER, [LABEL_KIND]: kind, [LABEL_OWNER]: owner.name };
}

function ownerReference(kind: Kind, owner: ObjectMeta) {
  return {
    apiVersion: API_VERSION,
    kind,
    name: owner.name,
    uid: owner.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function configMapOf(run: RunSpec): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: run.jobName,
      namespace: run.owner.namespace,
      labels: { ...ownerLabels(run.kind, run.owner), [LABEL_RUN]: run.jobName },
      ownerReferences: [ownerReference(run.kind, run.owner)],
    },
    data: { 'config.yaml': run.rendered.yaml },
  };
}

function firstOfEachName(env: unknown[]): unknown[] {
  const seen = new Set<string>();
  return env.filter((e) => {
    const name = (e as { name: string }).name;
    if (seen.has(name)) return false;
    seen.add(name);
    return true;
  });
}

const servesMetrics = (r: Rendered) => (r.config['metrics'] as { enabled?: boolean } | undefined)?.enabled === true;

export function jobOf(run: RunSpec): Record<string, unknown> {
  const s = run.settings;
  const pod = s.podTemplate ?? {};
  const labels = {
    ...ownerLabels(run.kind, run.owner),
    [LABEL_RUN]: run.jobName,
    ...(run.step ? { [LABEL_STEP]: run.step } : {}),
  };
  const { volumes: secretVolumes, mounts: secretMounts } = run.rendered.secrets.volumes();
  const volumes: unknown[] = [{ name: 'config', configMap: { name: run.jobName } }, ...secretVolumes];
  const mounts: unknown[] = [{ name: 'config', mountPath: CONFIG_DIR, readOnly: true }, ...secretMounts];
  if (run.rendered.storageVolume) {
    volumes.push({ name: 'storage', ...run.rendered.storageVolume.volume });
    mounts.push({ name: 'storage', mountPath: run.rendered.storageVolume.mountPath });
  }
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: run.jobName,
      namespace: run.owner.namespace,
      labels,
      annotations: run.scheduledAt ? { [ANNOTATION_SCHEDULED_AT]: run.scheduledAt.toISOString() } : {},
      ownerReferences: [ownerReference(run.kind, run.owner)],
    },
    spec: {
      backoffLimit: run.continuous ? 1_000_000 : (s.backoffLimit ?? DEFAULT_BACKOFF_LIMIT),
      ...(s.activeDeadlineSeconds ? { activeDeadlineSeconds: s.activeDeadlineSeconds } : {}),
      // exit 2 is bad input or a line held by another writer: retrying cannot help
      podFailurePolicy: {
        rules: [{ action: 'FailJob', onExitCodes: { containerName: 'kafka-backup', operator: 'In', values: [2] } }],
      },
      template: {
        metadata: { labels: { ...(pod.labels ?? {}), ...labels }, annotations: pod.annotations ?? {} },
        spec: {
          restartPolicy: 'Never',
          ...(pod.serviceAccountName ? { serviceAccountName: pod.serviceAccountName } : {}),
          ...(pod.nodeSelector ? { nodeSelector: pod.nodeSelector } : {}),
          ...(pod.tolerations ? { tolerations: pod.tolerations } : {}),
          ...(pod.affinity ? { affinity: pod.affinity } : {}),
          ...(pod.imagePullSecrets ? { imagePullSecrets: pod.imagePullSecrets } : {}),
          ...(pod.securityContext ? { securityContext: pod.securityContext } : {}),
          containers: [
            {
              name: 'kafka-backup',
              image: s.image ?? run.image,
              ...(s.imagePullPolicy ? { imagePullPolicy: s.imagePullPolicy } : {}),
              command: ['kafka-backup', ...run.args],
              env: firstOfEachName([
                ...run.rendered.secrets.env,
                // a retention step's storage credentials come first: AWS_* there are the storage's
                ...(run.extraEnv ?? []),
                ...(run.rendered.env ?? []),
                { name: 'KAFKA_BACKUP_SUMMARY_FILE', value: TERMINATION_LOG },
                { name: 'KAFKA_BACKUP_PROGRESS_INTERVAL_MS', value: '10000' },
                { name: POD_IP_ENV, valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
              ]),
              ...(servesMetrics(run.rendered)
                ? { ports: [{ name: 'metrics', containerPort: RUN_METRICS_PORT, protocol: 'TCP' }] }
                : {}),
              terminationMessagePath: TERMINATION_LOG,
              terminationMessagePolicy: 'File',
              volumeMounts: mounts,
              ...(s.resources ? { resources: s.resources } : {}),
            },
          ],
          volumes,
        },
      },
    },
  };
}
