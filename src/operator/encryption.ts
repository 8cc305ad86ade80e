/**
 * A backup line's encryption key, for the runs: `backup.encryption` of a KafkaBackup (or
 * `encryption` of a resource that reads a line) as the CLI's section, with the key from a Secret
 * mounted as a file (`keySecret` -> key_file: a raw key or a passphrase), or an AWS KMS key whose
 * credentials come from a Secret (`kmsCredentials`, as AWS_* variables filled by the kubelet) or
 * from the Pod's workload identity (no credentials: the SDK's default chain). Only references
 * reach the rendered config and the Job, never a key, passphrase or credential.
 */
import type { z } from 'zod';
import { SectionSchemas, unwrapSchema } from '../config/schema.ts';
import type { Section } from './api.ts';
import { renderSection, type SecretKeyRef, type SecretMounts } from './fields.ts';

type AnySchema = z.core.$ZodType;
type EnvVar = { name: string; value?: string; valueFrom?: unknown };

/** The zod schema of backup.encryption. */
export const ENCRYPTION_SCHEMA = (
  unwrapSchema(SectionSchemas.backup)._zod.def as unknown as { shape: Record<string, AnySchema> }
).shape['encryption'] as AnySchema;

export interface KmsCredentials {
  accessKeyIdSecret?: SecretKeyRef;
  secretAccessKeySecret?: SecretKeyRef;
  sessionTokenSecret?: SecretKeyRef;
}

const KMS_ENV: [keyof KmsCredentials, string][] = [
  ['accessKeyIdSecret', 'AWS_ACCESS_KEY_ID'],
  ['secretAccessKeySecret', 'AWS_SECRET_ACCESS_KEY'],
  ['sessionTokenSecret', 'AWS_SESSION_TOKEN'],
];

const secretEnv = (name: string, ref: SecretKeyRef): EnvVar => ({
  name,
  valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } },
});

/** The AWS credentials of a KMS key (none: workload identity). */
export function kmsEnv(encryption: Section | undefined): EnvVar[] {
  const creds = encryption?.['kmsCredentials'] as KmsCredentials | undefined;
  return KMS_ENV.flatMap(([field, name]) => (creds?.[field] ? [secretEnv(name, creds[field])] : []));
}

/** The section for a config (key_file a mounted Secret path). */
export function renderEncryption(encryption: Section, secrets: SecretMounts): Record<string, unknown> {
  return renderSection(encryption, ENCRYPTION_SCHEMA, secrets) as Record<string, unknown>;
}

/**
 * The key of the line for the commands that take only --path (forget, prune): the CLI's
 * KB_ENCRYPTION_* variables, with the key file mounted from its Secret.
 */
export function encryptionPathEnv(encryption: Section | undefined, secrets: SecretMounts): EnvVar[] {
  if (!encryption) return [];
  const env: EnvVar[] = [];
  const keySecret = encryption['keySecret'] as SecretKeyRef | undefined;
  const provider = encryption['provider'] ?? 'raw';
  if (provider === 'aws-kms' && typeof encryption['kmsKeyId'] === 'string') {
    env.push({ name: 'KB_ENCRYPTION_KMS_KEY_ID', value: encryption['kmsKeyId'] });
    if (typeof encryption['kmsEndpoint'] === 'string')
      env.push({ name: 'KB_ENCRYPTION_KMS_ENDPOINT', value: encryption['kmsEndpoint'] });
  } else if (keySecret)
    env.push({
      name: provider === 'passphrase' ? 'KB_ENCRYPTION_PASSPHRASE_FILE' : 'KB_ENCRYPTION_KEY_FILE',
      value: secrets.fileRef(keySecret),
    });
  if (typeof encryption['keySlot'] === 'string')
    env.push({ name: 'KB_ENCRYPTION_KEY_SLOT', value: encryption['keySlot'] });
  return env;
}
