/**
 * Encryption of data file blocks (docs/format.md, "Encrypted data files"). Each data file has a
 * key of its own, HKDF(master key, salt, "data-file") with a fresh 256-bit salt kept in the
 * file's encryption step; block `i` is sealed with AES-256-GCM under that key with nonce `i`
 * (counterNonce) and the block header (all of it but its two checksums) as associated data.
 * The payload stored is ciphertext || tag: 16 bytes longer than the compressed block.
 */
import { KeyError } from '../errors.ts';
import { counterNonce, deriveKey, open, preparedKey, randomSalt, sealPieces, TAG_BYTES } from './aead.ts';
import { lookupMasterKey } from './keyring.ts';

export interface EncryptionStep {
  type: 'encryption';
  name: 'aes-256-gcm';
  /** The master key (of the line's keyring) the file key is derived from. */
  key_id: string;
  /** base64 of the 32-byte HKDF salt of this file's key. */
  salt: string;
}

export interface BlockSealer {
  readonly overhead: number;
  /** [ciphertext pieces, tag]: stored one after the other as the block's payload. */
  seal(index: number, compressed: readonly Buffer[], aad: Buffer): [Buffer[], Buffer];
}

export interface BlockOpener {
  open(index: number, stored: Buffer, aad: Buffer): Buffer;
}

export function blockSealer(keyId: string, masterKey: Buffer): { sealer: BlockSealer; step: EncryptionStep } {
  const salt = randomSalt();
  const fileKey = preparedKey(deriveKey(masterKey, salt, 'data-file'));
  return {
    step: { type: 'encryption', name: 'aes-256-gcm', key_id: keyId, salt: salt.toString('base64') },
    sealer: {
      overhead: TAG_BYTES,
      seal: (i, compressed, aad) => sealPieces(fileKey, counterNonce(i), compressed, aad),
    },
  };
}

/** Throws KeyError when the master key the step names was not unlocked in this process. */
export function blockOpener(fileKey: string, step: EncryptionStep): BlockOpener {
  if (step.name !== 'aes-256-gcm')
    throw new KeyError(`data file ${fileKey} is encrypted with ${String(step.name)}, which this tool does not know`, {
      code: 'KEY_UNKNOWN_CIPHER',
    });
  const master = lookupMasterKey(step.key_id);
  if (!master)
    throw new KeyError(
      `data file ${fileKey} is encrypted with master key ${step.key_id}, which no unlocked key slot of its line holds`,
      {
        hint: 'give a key of this backup line (docs/security.md); `kafka-backup key list` shows its key slots',
        code: 'KEY_NOT_IN_KEYRING',
      },
    );
  const key = preparedKey(deriveKey(master, Buffer.from(step.salt, 'base64'), 'data-file'));
  return { open: (i, stored, aad) => open(key, counterNonce(i), stored, aad) };
}
