/**
 * Where the key of an encrypted line comes from: `backup.encryption` in the config, or (commands
 * that take only --path, and as the fallback) the environment:
 *
 *   KB_ENCRYPTION_KEY_FILE / KB_ENCRYPTION_KEY            a raw 256-bit key (file, or the value itself)
 *   KB_ENCRYPTION_PASSPHRASE_FILE / KB_ENCRYPTION_PASSPHRASE
 *   KB_ENCRYPTION_KMS_KEY_ID (KB_ENCRYPTION_KMS_ENDPOINT, AWS_REGION)  an AWS KMS key
 *   KB_ENCRYPTION_KEY_SLOT                                the key slot to use
 *   KB_ENCRYPTION_REQUIRED=1                              refuse any line that is not encrypted
 *
 * Only names of files and variables reach messages, never their contents.
 */
import { readFileSync } from 'node:fs';
import type { EncryptionConfig } from '../config/schema.ts';
import { ConfigError } from '../errors.ts';
import { type KeySource, parseRawKey } from './providers.ts';
import type { EncryptionSettings } from './storage.ts';

function readKeyFile(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError(
      `cannot read the encryption key file ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      [`${setting}: ${path} cannot be read`],
    );
  }
}

function envValue(env: NodeJS.ProcessEnv, name: string, setting: string): string {
  const v = env[name];
  if (v === undefined || v === '')
    throw new ConfigError(`environment variable ${name} (${setting}) is not set`, [`${setting}: ${name} is not set`]);
  return v;
}

/** A raw key read from a file (`setting` names where the file was given, for messages). */
export function rawKeyFromFile(path: string, setting: string): KeySource {
  return { type: 'raw', key: parseRawKey(readKeyFile(path, setting), `file ${path}`), from: `file ${path}` };
}

/** A raw key given as text (hex or base64) in the environment variable `name`. */
export function rawKeyFromEnv(env: NodeJS.ProcessEnv, name: string, setting: string): KeySource {
  const from = `environment variable ${name}`;
  return { type: 'raw', key: parseRawKey(Buffer.from(envValue(env, name, setting)), from), from };
}

/** A passphrase read from a file (one trailing newline dropped). */
export function passphraseFromFile(path: string, setting: string, logN?: number): KeySource {
  const passphrase = readKeyFile(path, setting)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  return { type: 'passphrase', passphrase, from: `file ${path}`, ...(logN ? { logN } : {}) };
}

export function passphraseFromEnv(env: NodeJS.ProcessEnv, name: string, setting: string, logN?: number): KeySource {
  const passphrase = envValue(env, name, setting);
  return { type: 'passphrase', passphrase, from: `environment variable ${name}`, ...(logN ? { logN } : {}) };
}

/** The key the config names (backup.encryption), or null when it names none. */
function fromConfig(c: EncryptionConfig, env: NodeJS.ProcessEnv): KeySource | null {
  const file = c.key_file;
  const name = c.key_env;
  switch (c.provider) {
    case 'aws-kms':
      if (!c.kms_key_id) return null;
      return {
        type: 'aws-kms',
        kmsKeyId: c.kms_key_id,
        from: 'backup.encryption',
        ...(c.kms_region ? { region: c.kms_region } : {}),
        ...(c.kms_endpoint ? { endpoint: c.kms_endpoint } : {}),
      };
    case 'raw':
      if (file) return rawKeyFromFile(file, 'backup.encryption.key_file');
      if (name) return rawKeyFromEnv(env, name, 'backup.encryption.key_env');
      return null;
    case 'passphrase':
      if (file) return passphraseFromFile(file, 'backup.encryption.key_file', c.scrypt_log_n);
      if (name) return passphraseFromEnv(env, name, 'backup.encryption.key_env', c.scrypt_log_n);
      return null;
  }
}

/** The key the environment gives (KB_ENCRYPTION_*), or undefined. */
export function keyFromEnv(env: NodeJS.ProcessEnv = process.env): KeySource | undefined {
  const file = env['KB_ENCRYPTION_KEY_FILE'];
  if (file) return rawKeyFromFile(file, 'KB_ENCRYPTION_KEY_FILE');
  if (env['KB_ENCRYPTION_KEY']) return rawKeyFromEnv(env, 'KB_ENCRYPTION_KEY', 'KB_ENCRYPTION_KEY');
  const pfile = env['KB_ENCRYPTION_PASSPHRASE_FILE'];
  if (pfile) return passphraseFromFile(pfile, 'KB_ENCRYPTION_PASSPHRASE_FILE');
  if (env['KB_ENCRYPTION_PASSPHRASE'])
    return passphraseFromEnv(env, 'KB_ENCRYPTION_PASSPHRASE', 'KB_ENCRYPTION_PASSPHRASE');
  if (env['KB_ENCRYPTION_KMS_KEY_ID'])
    return {
      type: 'aws-kms',
      kmsKeyId: env['KB_ENCRYPTION_KMS_KEY_ID'],
      from: 'KB_ENCRYPTION_KMS_KEY_ID',
      ...(env['KB_ENCRYPTION_KMS_ENDPOINT'] ? { endpoint: env['KB_ENCRYPTION_KMS_ENDPOINT'] } : {}),
    };
  return undefined;
}

/**
 * The encryption settings of a command: the config's section first, the environment otherwise.
 * `backupId` is the config's line: with `enabled`, it must be encrypted, for readers too.
 */
export function encryptionSettings(
  config: EncryptionConfig | undefined,
  env: NodeJS.ProcessEnv = process.env,
  backupId?: string,
): EncryptionSettings {
  const source = (config ? fromConfig(config, env) : null) ?? keyFromEnv(env);
  const slotId = config?.key_slot ?? env['KB_ENCRYPTION_KEY_SLOT'];
  const everyLine = ['1', 'true'].includes(env['KB_ENCRYPTION_REQUIRED'] ?? '');
  const required: EncryptionSettings['required'] = everyLine
    ? { line: 'every line', because: 'KB_ENCRYPTION_REQUIRED is set' }
    : config?.enabled && backupId
      ? { line: backupId, because: 'backup.encryption.enabled is true for it' }
      : undefined;
  return {
    ...(source ? { source } : {}),
    ...(slotId ? { slotId } : {}),
    create: config?.enabled ?? false,
    ...(required ? { required } : {}),
  };
}
