/**
 * Encrypted metadata objects (docs/format.md, "Encryption"): what a line stores as commits,
 * checkpoints, indexes, chunks, consumer-offset captures and the other JSON objects of
 * an encrypted line, sealed whole:
 *
 *   "KBENC\0\0\x01" (8) | u8 n | master key id (n bytes, ASCII) | salt (32) | ciphertext | tag (16)
 *
 * The object key is HKDF(master key, salt, "object"), the nonce 0, and the associated data the
 * bytes before the ciphertext followed by the object's storage key, so an object moved to another
 * key, or one whose key id was edited, fails authentication like a changed byte.
 */
import { KeyError } from '../errors.ts';
import { SignedObjectError } from '../format/signed.ts';
import { AuthenticationError, counterNonce, deriveKey, open, randomSalt, SALT_BYTES, seal } from './aead.ts';
import { lookupMasterKey } from './keyring.ts';

export const OBJECT_MAGIC = Buffer.from('KBENC\0\0\x01', 'latin1');

export function isEncryptedObject(bytes: Uint8Array): boolean {
  return bytes.length >= OBJECT_MAGIC.length && Buffer.from(bytes.buffer, bytes.byteOffset, 8).equals(OBJECT_MAGIC);
}

function headerOf(keyId: string, salt: Uint8Array): Buffer {
  const id = Buffer.from(keyId, 'latin1');
  return Buffer.concat([OBJECT_MAGIC, Buffer.from([id.length]), id, salt]);
}

export function sealObject(storageKey: string, keyId: string, masterKey: Uint8Array, plain: Uint8Array): Buffer {
  const salt = randomSalt();
  const header = headerOf(keyId, salt);
  const aad = Buffer.concat([header, Buffer.from(storageKey, 'utf8')]);
  return Buffer.concat([header, seal(deriveKey(masterKey, salt, 'object'), counterNonce(0), plain, aad)]);
}

/** The master key id an encrypted object names (readable without any key). */
export function objectKeyId(bytes: Buffer): string {
  const n = bytes.readUInt8(8);
  return bytes.subarray(9, 9 + n).toString('latin1');
}

/** Throws AuthenticationError when the object was changed, moved, or sealed under another key. */
export function openObject(storageKey: string, masterKey: Uint8Array, bytes: Buffer): Buffer {
  if (bytes.length < 9) throw new AuthenticationError();
  const n = bytes.readUInt8(8);
  const headerLen = 9 + n + SALT_BYTES;
  if (bytes.length < headerLen) throw new AuthenticationError();
  const header = bytes.subarray(0, headerLen);
  const salt = header.subarray(9 + n);
  const aad = Buffer.concat([header, Buffer.from(storageKey, 'utf8')]);
  return open(deriveKey(masterKey, salt, 'object'), counterNonce(0), bytes.subarray(headerLen), aad);
}

/**
 * Opens an encrypted object with the master key it names, from the keys unlocked in this process
 * (keyring.ts). A changed object is a SignedObjectError naming it, like any damaged metadata
 * object; a key that was not unlocked is a KeyError.
 */
export function decryptObject(storageKey: string, bytes: Buffer): Buffer {
  const id = objectKeyId(bytes);
  const key = lookupMasterKey(id);
  if (!key)
    throw new KeyError(
      `${storageKey} is encrypted with master key ${id}, which no unlocked key slot of its line holds`,
      {
        hint: 'give a key of this backup line (docs/security.md); `kafka-backup key list` shows its key slots',
        code: 'KEY_NOT_IN_KEYRING',
      },
    );
  try {
    return openObject(storageKey, key, bytes);
  } catch (e) {
    if (e instanceof AuthenticationError) throw new SignedObjectError(storageKey, e.message);
    throw e;
  }
}
