/**
 * Retention after a successful backup run: `kafka-backup forget` with the keep policies, then
 * `kafka-backup prune` (unless retention.prune is false), each its own Job named after the run
 * (`<run>-forget`, `<run>-prune`). forget and prune take --path and read credentials from the
 * environment (src/cli/common.ts storageFromPath), so the storage settings become the SDKs'
 * standard variables here, the secret ones filled from Secrets like every other run.
 */
import type { KafkaBackupSpec, Section } from './api.ts';
import type { SecretKeyRef, SecretMounts } from './fields.ts';

/** The --path URL of a storage spec. */
export function storageUrl(storage: Section): string | undefined {
  if (typeof storage['url'] === 'string') return storage['url'];
  const prefix = typeof storage['prefix'] === 'string' && storage['prefix'] ? `/${storage['prefix']}` : '';
  switch (storage['backend'] ?? 'filesystem') {
    case 's3':
      return storage['bucket'] ? `s3://${storage['bucket']}${prefix}` : undefined;
    case 'gcs':
      return storage['bucket'] ? `gs://${storage['bucket']}${prefix}` : undefined;
    case 'azure':
      return storage['account'] && storage['container']
        ? `azure://${storage['account']}/${storage['container']}${prefix}`
        : undefined;
    default:
      return typeof storage['path'] === 'string' ? storage['path'] : undefined;
  }
}

const SECRET_ENV: Record<string, string> = {
  accessKeyIdSecret: 'AWS_ACCESS_KEY_ID',
  secretAccessKeySecret: 'AWS_SECRET_ACCESS_KEY',
  sessionTokenSecret: 'AWS_SESSION_TOKEN',
  accountKeySecret: 'AZURE_STORAGE_KEY',
  sasTokenSecret: 'AZURE_STORAGE_SAS_TOKEN',
  connectionStringSecret: 'AZURE_STORAGE_CONNECTION_STRING',
};

/** The environment that gives forget/prune the same storage as the backup's config. */
export function storageEnv(
  storage: Section,
  secrets: SecretMounts,
): { name: string; value?: string; valueFrom?: unknown }[] {
  const env: { name: string; value?: string; valueFrom?: unknown }[] = [];
  if (typeof storage['endpoint'] === 'string') {
    const backend = storage['backend'] ?? (String(storage['url'] ?? '').startsWith('s3:') ? 's3' : undefined);
    if (backend === 's3') env.push({ name: 'AWS_ENDPOINT_URL_S3', value: storage['endpoint'] });
  }
  if (typeof storage['region'] === 'string') env.push({ name: 'AWS_REGION', value: storage['region'] });
  if (typeof storage['account'] === 'string') env.push({ name: 'AZURE_STORAGE_ACCOUNT', value: storage['account'] });
  for (const [field, name] of Object.entries(SECRET_ENV)) {
    const ref = storage[field] as SecretKeyRef | undefined;
    if (ref) env.push({ name, valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } } });
  }
  const credentials = storage['credentialsSecret'] as SecretKeyRef | undefined;
  if (credentials) env.push({ name: 'GOOGLE_APPLICATION_CREDENTIALS', value: secrets.fileRef(credentials) });
  return env;
}

export function hasKeepPolicy(r: KafkaBackupSpec['retention']): boolean {
  return (
    !!r &&
    ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly', 'keepWithin', 'keepTags'].some(
      (k) => (r as Record<string, unknown>)[k] !== undefined,
    )
  );
}

export function forgetArgs(url: string, backupId: string, r: NonNullable<KafkaBackupSpec['retention']>): string[] {
  const args = ['forget', '--path', url, '--backup-id', backupId, '--format', 'json'];
  const flag = (name: string, v: unknown) => {
    if (v !== undefined) args.push(name, String(v));
  };
  flag('--keep-last', r.keepLast);
  flag('--keep-hourly', r.keepHourly);
  flag('--keep-daily', r.keepDaily);
  flag('--keep-weekly', r.keepWeekly);
  flag('--keep-monthly', r.keepMonthly);
  flag('--keep-yearly', r.keepYearly);
  flag('--keep-within', r.keepWithin);
  for (const t of r.keepTags ?? []) flag('--keep-tag', t);
  return args;
}

export function pruneArgs(url: string, backupId: string, r: NonNullable<KafkaBackupSpec['retention']>): string[] {
  return [
    'prune',
    '--path',
    url,
    '--backup-id',
    backupId,
    '--format',
    'json',
    ...(r.pruneGrace ? ['--grace', r.pruneGrace] : []),
  ];
}
