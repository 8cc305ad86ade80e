/**
 * Key providers: where a key-encryption key (KEK) comes from. A key slot (slots.ts) seals the
 * line's keyring under a KEK; the provider makes the KEK when a slot is created and gets it back
 * when the slot is opened.
 *
 *   raw         a 256-bit key from a file or an environment variable (32 bytes, 64 hex digits, or base64)
 *   passphrase  scrypt(passphrase, salt, N = 2^log_n, r, p); the salt and parameters are in the slot
 *   aws-kms     KMS GenerateDataKey (AES_256) under a KMS key; the slot keeps the encrypted data key,
 *               and opening it is KMS Decrypt (with the line and slot as encryption context)
 *
 * Azure Key Vault and Google Cloud KMS are not provided (docs/security.md).
 */
import { createHmac, randomBytes, scryptSync } from 'node:crypto';
import { KeyError } from '../errors.ts';
import { KEY_BYTES } from './aead.ts';

export type KeySource =
  /** `from` says where the key came from, for messages ("file /etc/kb.key", "environment variable KB_KEY"). */
  | { type: 'raw'; key: Buffer; from: string }
  | { type: 'passphrase'; passphrase: string; from: string; logN?: number }
  | { type: 'aws-kms'; kmsKeyId: string; region?: string; endpoint?: string; from: string };

export type SlotProvider =
  | { type: 'raw' }
  | { type: 'passphrase'; kdf: 'scrypt'; salt: string; log_n: number; r: number; p: number }
  | { type: 'aws-kms'; kms_key_id: string; encrypted_key: string };

export const DEFAULT_SCRYPT_LOG_N = 17;
const SCRYPT_R = 8;
const SCRYPT_P = 1;

/** Parses a raw key: 32 bytes, or 64 hex digits, or base64 of 32 bytes (surrounding whitespace ignored). */
export function parseRawKey(bytes: Buffer, from: string): Buffer {
  if (bytes.length === KEY_BYTES) return Buffer.from(bytes);
  const text = bytes.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(text)) {
    const b = Buffer.from(text, 'base64');
    if (b.length === KEY_BYTES) return b;
  }
  throw new KeyError(`the encryption key from ${from} is not a 256-bit key`, {
    hint: 'give 32 random bytes, 64 hex digits or their base64 (e.g. `openssl rand -hex 32 > key`)',
    code: 'KEY_INVALID',
  });
}

/** A short public check value of a KEK (HMAC, reveals nothing of it): tells which slot a key opens. */
export function kekCheck(kek: Uint8Array): string {
  return createHmac('sha256', kek).update('kafka-backup/key-check').digest('hex').slice(0, 16);
}

function scrypt(passphrase: string, salt: Buffer, logN: number, r: number, p: number): Buffer {
  const N = 2 ** logN;
  return scryptSync(passphrase.normalize('NFC'), salt, KEY_BYTES, { N, r, p, maxmem: 256 * N * r + 16 * 1024 * 1024 });
}

async function kmsClient(source: { region?: string; endpoint?: string }) {
  const { KMSClient } = await import('@aws-sdk/client-kms');
  return new KMSClient({
    region: source.region ?? process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'] ?? 'us-east-1',
    ...(source.endpoint ? { endpoint: source.endpoint } : {}),
  });
}

function kmsFailure(what: string, kmsKeyId: string, e: unknown): KeyError {
  const name = (e as { name?: string }).name ?? 'Error';
  return new KeyError(`AWS KMS ${what} with key ${kmsKeyId} failed (${name}: ${(e as Error).message})`, {
    hint: 'check the KMS key id, the region/endpoint, and that these AWS credentials may use the key',
    code: 'KEY_PROVIDER_FAILED',
    cause: e,
  });
}

/** A new KEK for a slot of `backupId` named `slotId`, and what the slot must keep to get it back. */
export async function newKek(
  source: KeySource,
  backupId: string,
  slotId: string,
): Promise<{ kek: Buffer; provider: SlotProvider }> {
  switch (source.type) {
    case 'raw':
      return { kek: source.key, provider: { type: 'raw' } };
    case 'passphrase': {
      const salt = randomBytes(32);
      const logN = source.logN ?? DEFAULT_SCRYPT_LOG_N;
      return {
        kek: scrypt(source.passphrase, salt, logN, SCRYPT_R, SCRYPT_P),
        provider: {
          type: 'passphrase',
          kdf: 'scrypt',
          salt: salt.toString('base64'),
          log_n: logN,
          r: SCRYPT_R,
          p: SCRYPT_P,
        },
      };
    }
    case 'aws-kms': {
      const { GenerateDataKeyCommand } = await import('@aws-sdk/client-kms');
      const client = await kmsClient(source);
      try {
        const r = await client.send(
          new GenerateDataKeyCommand({
            KeyId: source.kmsKeyId,
            KeySpec: 'AES_256',
            EncryptionContext: { backup_id: backupId, key_slot: slotId },
          }),
        );
        if (!r.Plaintext || !r.CiphertextBlob) throw new Error('the answer holds no data key');
        return {
          kek: Buffer.from(r.Plaintext),
          provider: {
            type: 'aws-kms',
            kms_key_id: source.kmsKeyId,
            encrypted_key: Buffer.from(r.CiphertextBlob).toString('base64'),
          },
        };
      } catch (e) {
        throw kmsFailure('GenerateDataKey', source.kmsKeyId, e);
      } finally {
        client.destroy();
      }
    }
  }
}

/**
 * The KEK `source` gives for a slot, or null when the source cannot be for this slot (another
 * provider type, another KMS key). Whether it is the right one is told by the slot's check value.
 */
export async function kekFor(
  source: KeySource,
  slot: { backup_id: string; id: string; provider: SlotProvider },
): Promise<Buffer | null> {
  const p = slot.provider;
  if (source.type !== p.type) return null;
  switch (p.type) {
    case 'raw':
      return (source as Extract<KeySource, { type: 'raw' }>).key;
    case 'passphrase':
      return scrypt(
        (source as Extract<KeySource, { type: 'passphrase' }>).passphrase,
        Buffer.from(p.salt, 'base64'),
        p.log_n,
        p.r,
        p.p,
      );
    case 'aws-kms': {
      const s = source as Extract<KeySource, { type: 'aws-kms' }>;
      if (!sameKmsKey(s.kmsKeyId, p.kms_key_id)) return null;
      const { DecryptCommand } = await import('@aws-sdk/client-kms');
      const client = await kmsClient(s);
      try {
        const r = await client.send(
          new DecryptCommand({
            CiphertextBlob: Buffer.from(p.encrypted_key, 'base64'),
            KeyId: p.kms_key_id,
            EncryptionContext: { backup_id: slot.backup_id, key_slot: slot.id },
          }),
        );
        if (!r.Plaintext) throw new Error('the answer holds no plaintext');
        return Buffer.from(r.Plaintext);
      } catch (e) {
        const name = (e as { name?: string }).name;
        if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') return null;
        throw kmsFailure('Decrypt', p.kms_key_id, e);
      } finally {
        client.destroy();
      }
    }
  }
}

/** KMS keys may be named by id, ARN or alias; compare the id part when one side is an ARN. */
function sameKmsKey(a: string, b: string): boolean {
  const tail = (s: string) => s.replace(/^arn:aws[a-z-]*:kms:[^:]*:[^:]*:/, '');
  return a === b || tail(a) === tail(b);
}

/** How a source is described in messages: its kind and where it came from, never its value. */
export function describeSource(source: KeySource): string {
  switch (source.type) {
    case 'raw':
      return `raw key from ${source.from}`;
    case 'passphrase':
      return `passphrase from ${source.from}`;
    case 'aws-kms':
      return `AWS KMS key ${source.kmsKeyId} (${source.from})`;
  }
}
