/**
 * The four CustomResourceDefinitions, built from the CLI's config schema (./fields.ts) plus the
 * operator's own fields. deploy/crds/*.yaml are this module's output (`node
 * src/operator/write-crds.ts`); test/unit/operator/crds.test.ts fails when they drift apart.
 */
import type { z } from 'zod';
import { BACKUP_ID, ConfigSchema, OFFSET_STRATEGIES, SectionSchemas, TOPIC_NAME } from '../config/schema.ts';
import { GROUP, KINDS, type Kind, VERSION } from './api.ts';
import { ENCRYPTION_SCHEMA } from './encryption.ts';
import { SECRET_KEY_REF, sectionSchema } from './fields.ts';
import type { OpenApi } from './openapi.ts';

type AnySchema = z.core.$ZodType;
const shapeOf = (s: AnySchema): Record<string, AnySchema> =>
  ((s._zod.def as unknown as { in?: AnySchema; shape?: Record<string, AnySchema> }).shape ??
    shapeOf((s._zod.def as unknown as { in: AnySchema }).in)) as Record<string, AnySchema>;

const str = (extra: OpenApi = {}): OpenApi => ({ type: 'string', ...extra });
const int = (minimum: number, maximum?: number): OpenApi => ({
  type: 'integer',
  minimum,
  ...(maximum !== undefined ? { maximum } : {}),
});
const obj = (properties: Record<string, OpenApi>, required: string[] = [], extra: OpenApi = {}): OpenApi => ({
  type: 'object',
  properties,
  ...(required.length ? { required } : {}),
  ...extra,
});
const free = (description: string): OpenApi => ({
  type: 'object',
  description,
  'x-kubernetes-preserve-unknown-fields': true,
});
const stringMap = (): OpenApi => ({ type: 'object', additionalProperties: { type: 'string' } });
const DNS_NAME = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const nameRef = (what: string): OpenApi =>
  obj({ name: str({ minLength: 1, maxLength: 253, pattern: DNS_NAME, description: what }) }, ['name']);
/** Durations as the CLI reads them (30d, 12h, 1w2d, 90min). */
const DURATION = str({ pattern: '^([0-9]+(ms|s|sec|min|m|h|d|w|y))+$' });
const CONFIG_TIME = { 'x-kubernetes-int-or-string': true, description: 'ISO-8601 time with a zone, or epoch ms' };

const configShape = shapeOf(ConfigSchema);
const kafka = (): OpenApi => ({
  ...sectionSchema(SectionSchemas.target, { required: false }),
  description: 'the Kafka cluster: bootstrap servers, TLS and SASL with credentials from Secrets',
});
const storage = (): OpenApi => {
  const s = sectionSchema(SectionSchemas.storage, { required: false }) as { properties: Record<string, OpenApi> };
  s.properties['volume'] = free(
    'for the filesystem backend: a Kubernetes volume source (persistentVolumeClaim, nfs, ...) mounted at path',
  );
  return { ...s, description: 'where the backup lives: url or backend settings, credentials from Secrets' };
};
const strimziClusterRef = (): OpenApi =>
  obj(
    {
      name: str({ minLength: 1, pattern: DNS_NAME, description: 'the Strimzi Kafka resource' }),
      namespace: str({ minLength: 1, pattern: DNS_NAME, description: "its namespace (default: the resource's)" }),
      listener: str({ minLength: 1, description: 'the listener (.status.listeners[].name) to connect through' }),
      kafkaUser: str({
        minLength: 1,
        pattern: DNS_NAME,
        description: 'a KafkaUser whose Secret (same name) holds the SCRAM password or TLS client certificate',
      }),
    },
    ['name', 'listener'],
  );

const resources = (): OpenApi =>
  obj(
    {
      limits: { type: 'object', additionalProperties: { 'x-kubernetes-int-or-string': true } },
      requests: { type: 'object', additionalProperties: { 'x-kubernetes-int-or-string': true } },
    },
    [],
    { description: "the run container's resource requests and limits" },
  );

const podTemplate = (): OpenApi =>
  obj(
    {
      nodeSelector: stringMap(),
      tolerations: { type: 'array', items: free('a toleration') },
      affinity: free('pod affinity, as in a Pod spec'),
      serviceAccountName: str({ pattern: DNS_NAME, description: 'e.g. one bound to a cloud identity' }),
      labels: stringMap(),
      annotations: stringMap(),
      imagePullSecrets: { type: 'array', items: nameRef('a Secret of type dockerconfigjson') },
      securityContext: free('the pod securityContext'),
    },
    [],
    { description: "settings of the runs' Pods" },
  );

/** Fields of every kind that runs Jobs. */
const jobFields = (): Record<string, OpenApi> => ({
  image: str({ minLength: 1, description: "the image of the runs (default: the operator's --job-image)" }),
  imagePullPolicy: str({ enum: ['Always', 'IfNotPresent', 'Never'] }),
  backoffLimit: { ...int(0, 20), description: 'retries of a failed run (Job backoffLimit), default 2' },
  activeDeadlineSeconds: { ...int(1), description: 'a run that takes longer is stopped and fails' },
  resources: resources(),
  podTemplate: podTemplate(),
  logging: sectionSchema(SectionSchemas.logging),
  maxMemoryBytes: { ...int(64 * 1024 * 1024), description: 'the CLI memory budget (max_memory_bytes)' },
});

/** backup.encryption: the key from a Secret (keySecret), or AWS KMS with kmsCredentials or workload identity. */
const encryption = (description: string): OpenApi => {
  const s = sectionSchema(ENCRYPTION_SCHEMA) as { properties: Record<string, OpenApi> };
  s.properties['kmsCredentials'] = obj(
    {
      accessKeyIdSecret: SECRET_KEY_REF,
      secretAccessKeySecret: SECRET_KEY_REF,
      sessionTokenSecret: SECRET_KEY_REF,
    },
    [],
    { description: "provider aws-kms: AWS credentials from Secrets (leave out to use the Pod's workload identity)" },
  );
  return {
    ...s,
    description,
    'x-kubernetes-validations': [
      {
        rule: "!has(self.enabled) || !self.enabled || (has(self.provider) && self.provider == 'aws-kms') || has(self.keySecret)",
        message: 'encryption with provider raw or passphrase needs keySecret (the key is never written in a resource)',
      },
      {
        rule: "!has(self.provider) || self.provider != 'aws-kms' || !has(self.enabled) || !self.enabled || has(self.kmsKeyId)",
        message: 'provider aws-kms needs kmsKeyId',
      },
    ],
  };
};

const backupRefFields = (): Record<string, OpenApi> => ({
  backupRef: nameRef('a KafkaBackup in this namespace: its storage, backup id and cluster'),
  backupId: str({ pattern: BACKUP_ID.source, description: 'with storage, when there is no backupRef' }),
  storage: storage(),
  kafka: kafka(),
  strimziClusterRef: strimziClusterRef(),
  encryption: encryption(
    "the key of an encrypted line read with storage and backupId (with backupRef, the KafkaBackup's backup.encryption is used)",
  ),
});
const BACKUP_REF_RULES = [
  { rule: 'has(self.backupRef) != has(self.storage)', message: 'set backupRef, or storage and backupId (not both)' },
  { rule: '!has(self.storage) || has(self.backupId)', message: 'storage needs backupId' },
  {
    rule: '!(has(self.kafka) && has(self.strimziClusterRef))',
    message: 'set kafka or strimziClusterRef, not both',
  },
  {
    rule: 'has(self.backupRef) || has(self.strimziClusterRef) || (has(self.kafka) && has(self.kafka.bootstrapServers))',
    message: 'without backupRef, set kafka.bootstrapServers or strimziClusterRef',
  },
];

const backupSection = (): OpenApi => {
  const s = sectionSchema(SectionSchemas.backup, { omit: ['mode', 'retention'] }) as {
    properties: Record<string, OpenApi>;
  };
  s.properties['encryption'] = encryption('client-side encryption of the line (docs/security.md)');
  return { ...s, description: "the CLI's backup options (docs/configuration.md, backup.*)" };
};

const backupSpec = (): OpenApi =>
  obj(
    {
      backupId: str({ pattern: BACKUP_ID.source, description: 'the backup line (default: the resource name)' }),
      kafka: kafka(),
      strimziClusterRef: strimziClusterRef(),
      topics: sectionSchema(shapeOf(SectionSchemas.source)['topics']!),
      storage: storage(),
      mode: str({ enum: ['snapshot', 'continuous'], default: 'snapshot' }),
      backup: backupSection(),
      schedule: obj(
        {
          cron: str({
            minLength: 1,
            pattern: '^(@(yearly|annually|monthly|weekly|daily|hourly)|\\S+( +\\S+){4,5})$',
            description: 'five-field cron (or @daily ...): when snapshot runs start',
          }),
          timeZone: str({ minLength: 1, description: 'IANA time zone of the cron (default UTC)' }),
          suspend: { type: 'boolean', description: 'no new scheduled runs while true' },
          startingDeadlineSeconds: {
            ...int(1),
            description: 'a run missed by more than this (operator down) is skipped, default 3600',
          },
        },
        ['cron'],
      ),
      retention: obj(
        {
          keepLast: int(1),
          keepHourly: int(1),
          keepDaily: int(1),
          keepWeekly: int(1),
          keepMonthly: int(1),
          keepYearly: int(1),
          keepWithin: DURATION,
          keepTags: { type: 'array', items: str({ minLength: 1 }) },
          maxAge: DURATION,
          prune: { type: 'boolean', description: 'run prune after forget (default true)' },
          pruneGrace: DURATION,
        },
        [],
        { description: 'keep policies applied by forget (and prune) after each successful run' },
      ),
      historyLimit: { ...int(1, 100), description: 'runs kept in status.history and as Jobs, default 10' },
      deletionPolicy: str({
        enum: ['Retain'],
        default: 'Retain',
        description: 'Retain: deleting the resource never deletes backup data',
      }),
      ...jobFields(),
    },
    ['storage'],
    {
      'x-kubernetes-validations': [
        {
          rule: 'has(self.strimziClusterRef) || (has(self.kafka) && has(self.kafka.bootstrapServers))',
          message: 'set kafka.bootstrapServers or strimziClusterRef',
        },
        {
          rule: '!(has(self.kafka) && has(self.strimziClusterRef))',
          message: 'set kafka or strimziClusterRef, not both',
        },
        {
          rule: "!has(self.schedule) || !has(self.mode) || self.mode == 'snapshot'",
          message: 'schedule is for snapshot mode; a continuous backup runs all the time',
        },
      ],
    },
  );

const restoreSpec = (): OpenApi =>
  obj(
    {
      ...backupRefFields(),
      snapshot: str({ minLength: 1, description: 'snapshot id, or latest (default)' }),
      restore: {
        ...sectionSchema(SectionSchemas.restore),
        description: "the CLI's restore options: point in time, windows, topic and partition mapping, groups, dry run",
      },
      offsets: sectionSchema(SectionSchemas.offsets),
      ...jobFields(),
    },
    [],
    { 'x-kubernetes-validations': BACKUP_REF_RULES },
  );

const GROUP_PATTERN = str({ minLength: 1 });
const offsetResetSpec = (): OpenApi =>
  obj(
    {
      ...backupRefFields(),
      groups: { type: 'array', minItems: 1, items: GROUP_PATTERN, description: 'groups: names, globs or ~regex' },
      groupMapping: stringMap(),
      topicMapping: { type: 'object', additionalProperties: str({ pattern: TOPIC_NAME.source }) },
      restoreId: str({ pattern: BACKUP_ID.source, description: 'the restore to follow' }),
      strategy: str({ enum: [...OFFSET_STRATEGIES] }),
      toDatetime: CONFIG_TIME,
      toOffset: int(0),
      pointInTime: CONFIG_TIME,
      backupSnapshot: str({ minLength: 1 }),
      dryRun: { type: 'boolean', description: 'plan only, write nothing' },
      ...jobFields(),
    },
    ['groups'],
    {
      'x-kubernetes-validations': [
        ...BACKUP_REF_RULES,
        {
          rule: "!has(self.strategy) || self.strategy != 'to-offset' || has(self.toOffset)",
          message: 'strategy to-offset needs toOffset',
        },
        {
          rule: "!has(self.strategy) || self.strategy != 'to-datetime' || has(self.toDatetime)",
          message: 'strategy to-datetime needs toDatetime',
        },
      ],
    },
  );

const offsetRollbackSpec = (): OpenApi =>
  obj(
    {
      ...backupRefFields(),
      offsetResetRef: nameRef('a KafkaOffsetReset whose rollback snapshot to return to'),
      snapshot: str({ minLength: 1, description: 'an offset snapshot id (instead of offsetResetRef)' }),
      groups: { type: 'array', items: GROUP_PATTERN },
      dryRun: { type: 'boolean' },
      ...jobFields(),
    },
    [],
    {
      'x-kubernetes-validations': [
        ...BACKUP_REF_RULES,
        { rule: 'has(self.offsetResetRef) != has(self.snapshot)', message: 'set offsetResetRef or snapshot' },
      ],
    },
  );

const readyColumns = [
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
];
const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

const SPECS: Record<Kind, { spec: () => OpenApi; columns: unknown[] }> = {
  KafkaBackup: {
    spec: backupSpec,
    columns: [
      { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
      { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule.cron' },
      ...readyColumns,
      { name: 'Last Snapshot', type: 'string', jsonPath: '.status.lastRun.snapshotId' },
      { name: 'Last Run', type: 'string', jsonPath: '.status.lastRun.phase' },
      { name: 'Next Run', type: 'string', jsonPath: '.status.nextRun', priority: 1 },
      age,
    ],
  },
  KafkaRestore: {
    spec: restoreSpec,
    columns: [
      { name: 'Backup', type: 'string', jsonPath: '.status.backupId' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      ...readyColumns,
      { name: 'Records', type: 'integer', jsonPath: '.status.lastRun.records' },
      age,
    ],
  },
  KafkaOffsetReset: {
    spec: offsetResetSpec,
    columns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      ...readyColumns,
      { name: 'Rollback Snapshot', type: 'string', jsonPath: '.status.lastRun.rollbackSnapshot' },
      age,
    ],
  },
  KafkaOffsetRollback: {
    spec: offsetRollbackSpec,
    columns: [{ name: 'Phase', type: 'string', jsonPath: '.status.phase' }, ...readyColumns, age],
  },
};

void configShape;

/** The CustomResourceDefinition of one kind. */
export function crdOf(kind: Kind): Record<string, unknown> {
  const names = KINDS[kind];
  const { spec, columns } = SPECS[kind];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${names.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'kafka-backup', 'app.kubernetes.io/component': 'crd' },
    },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind,
        listKind: `${kind}List`,
        plural: names.plural,
        singular: names.singular,
        shortNames: [...names.short],
        categories: ['kafka-backup'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: spec(),
                status: free('written by the operator: conditions, lastRun, nextRun, history, progress'),
              },
            },
          },
        },
      ],
    },
  };
}

export const ALL_KINDS = Object.keys(KINDS) as Kind[];
