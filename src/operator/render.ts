/**
 * A resource's spec -> the CLI config file the run reads (snake_case YAML, src/config/schema.ts).
 * Secret values never enter it: Secret references become `${KB_SECRET_n}` (filled from env
 * valueFrom.secretKeyRef) or mounted file paths (./fields.ts). The CLI's own parser checks the
 * result (./validate.ts), so the rules of the config file hold for the resources word for word.
 */
import { stringify } from 'yaml';
import { SectionSchemas } from '../config/schema.ts';
import type {
  JobSettings,
  KafkaBackupSpec,
  KafkaOffsetResetSpec,
  KafkaOffsetRollbackSpec,
  KafkaRestoreSpec,
  Section,
} from './api.ts';
import { kmsEnv, renderEncryption } from './encryption.ts';
import { renderSection, SecretMounts } from './fields.ts';
import { POD_IP_ENV, RUN_METRICS_PORT } from './progress.ts';

export const CONFIG_DIR = '/etc/kafka-backup';
export const CONFIG_FILE = `${CONFIG_DIR}/config.yaml`;
export const STORAGE_MOUNT = '/var/lib/kafka-backup/storage';

export interface Rendered {
  config: Record<string, unknown>;
  yaml: string;
  secrets: SecretMounts;
  /** More environment of the run (KMS credentials from Secrets). */
  env: { name: string; value?: string; valueFrom?: unknown }[];
  /** The filesystem backend's volume, mounted where storage.path points. */
  storageVolume?: { volume: Record<string, unknown>; mountPath: string };
}

/** What a run needs besides its own spec, resolved by the reconciler (refs, Strimzi). */
export interface Resolved {
  backupId: string;
  /** The line's encryption (a KafkaBackup's backup.encryption). */
  encryption?: Section;
  kafka: Section;
  storage: Section & { volume?: unknown };
}

function storageSection(storage: Section & { volume?: unknown }, secrets: SecretMounts) {
  const { volume, ...rest } = storage;
  const section = renderSection(rest, SectionSchemas.storage, secrets) as Record<string, unknown>;
  if (volume === undefined) return { section };
  const mountPath = typeof section['path'] === 'string' ? section['path'] : STORAGE_MOUNT;
  section['path'] ??= mountPath;
  return { section, storageVolume: { volume: volume as Record<string, unknown>, mountPath } };
}

function common(spec: JobSettings & { maxMemoryBytes?: number }): Record<string, unknown> {
  return {
    ...(spec.maxMemoryBytes !== undefined ? { max_memory_bytes: spec.maxMemoryBytes } : {}),
    logging: {
      format: 'json',
      ...(renderSection(spec.logging ?? {}, SectionSchemas.logging, new SecretMounts()) as object),
    },
  };
}

/**
 * Backup and restore runs serve their metrics on the Pod's IP, where the operator reads their
 * progress (./progress.ts) and a PodMonitor can scrape them.
 */
const RUN_METRICS = { enabled: true, port: RUN_METRICS_PORT, bind_address: `\${${POD_IP_ENV}}` };

function finish(
  config: Record<string, unknown>,
  secrets: SecretMounts,
  storageVolume?: Rendered['storageVolume'],
  encryption?: Section,
): Rendered {
  return {
    config,
    yaml: stringify(config, { lineWidth: 0 }),
    secrets,
    env: kmsEnv(encryption),
    ...(storageVolume ? { storageVolume } : {}),
  };
}

/** Reading an encrypted line: its key as the CLI takes it (backup.encryption; `enabled` is for new lines only). */
function lineKey(r: Resolved, secrets: SecretMounts): Record<string, unknown> {
  if (!r.encryption) return {};
  const { enabled: _, ...key } = r.encryption;
  return { backup: { encryption: renderEncryption(key, secrets) } };
}

export function renderBackup(spec: KafkaBackupSpec, r: Resolved): Rendered {
  const secrets = new SecretMounts();
  // topics belongs to source in the CLI's schema; the connection is the same as a target's
  const source = renderSection(
    { ...r.kafka, ...(spec.topics ? { topics: spec.topics } : {}) },
    SectionSchemas.source,
    secrets,
  );
  const { section: storage, storageVolume } = storageSection(r.storage, secrets);
  const { encryption, ...options } = spec.backup ?? {};
  const backup = renderSection(options, SectionSchemas.backup, secrets) as Record<string, unknown>;
  if (encryption) backup['encryption'] = renderEncryption(encryption as Section, secrets);
  backup['mode'] = spec.mode ?? 'snapshot';
  if (spec.retention?.maxAge) backup['retention'] = { max_age: spec.retention.maxAge, apply: 'end' };
  return finish(
    { backup_id: r.backupId, ...common(spec), source, storage, backup, metrics: RUN_METRICS },
    secrets,
    storageVolume,
    encryption as Section | undefined,
  );
}

export function renderRestore(spec: KafkaRestoreSpec, r: Resolved): Rendered {
  const secrets = new SecretMounts();
  const { section: storage, storageVolume } = storageSection(r.storage, secrets);
  const config: Record<string, unknown> = {
    backup_id: r.backupId,
    ...(spec.snapshot ? { snapshot: spec.snapshot } : {}),
    ...common(spec),
    target: renderSection(r.kafka, SectionSchemas.target, secrets),
    storage,
    restore: renderSection(spec.restore ?? {}, SectionSchemas.restore, secrets),
    ...(spec.offsets ? { offsets: renderSection(spec.offsets, SectionSchemas.offsets, secrets) } : {}),
    ...lineKey(r, secrets),
    metrics: RUN_METRICS,
  };
  return finish(config, secrets, storageVolume, r.encryption);
}

/** Offsets apply/rollback: the connection and storage in the config; the rest as flags (./jobs.ts). */
export function renderOffsets(spec: KafkaOffsetResetSpec | KafkaOffsetRollbackSpec, r: Resolved): Rendered {
  const secrets = new SecretMounts();
  const { section: storage, storageVolume } = storageSection(r.storage, secrets);
  const reset = spec as KafkaOffsetResetSpec;
  const config: Record<string, unknown> = {
    backup_id: r.backupId,
    ...common(spec),
    target: renderSection(r.kafka, SectionSchemas.target, secrets),
    storage,
    ...(spec.groups?.length || reset.strategy
      ? {
          offsets: {
            ...(spec.groups ? { groups: spec.groups } : {}),
            ...(reset.strategy ? { strategy: reset.strategy } : {}),
          },
        }
      : {}),
    ...(reset.groupMapping ? { restore: { group_mapping: reset.groupMapping } } : {}),
    ...lineKey(r, secrets),
  };
  return finish(config, secrets, storageVolume, r.encryption);
}

/** The command line of an offsets run. */
export function offsetsArgs(
  kind: 'reset' | 'rollback',
  spec: KafkaOffsetResetSpec | KafkaOffsetRollbackSpec,
  rollbackSnapshot?: string,
): string[] {
  const args = ['offsets', kind === 'reset' ? 'apply' : 'rollback', '-c', CONFIG_FILE, '--format', 'json'];
  if (kind === 'rollback') {
    args.push('--snapshot', rollbackSnapshot ?? (spec as KafkaOffsetRollbackSpec).snapshot ?? '');
    if (spec.dryRun) args.push('--dry-run');
    return args;
  }
  const s = spec as KafkaOffsetResetSpec;
  if (!s.dryRun) args.push('--execute');
  const flag = (name: string, v: unknown) => {
    if (v !== undefined) args.push(name, String(v));
  };
  flag('--restore-id', s.restoreId);
  if (s.topicMapping)
    flag(
      '--topic-mapping',
      Object.entries(s.topicMapping)
        .map(([a, b]) => `${a}=${b}`)
        .join(','),
    );
  flag('--to-datetime', s.toDatetime);
  flag('--to-offset', s.toOffset);
  flag('--point-in-time', s.pointInTime);
  flag('--backup-snapshot', s.backupSnapshot);
  return args;
}
