/**
 * Storing and reading one sealed metadata object under a line's keyring (object.ts does the
 * sealing): what the storage layer of a line (storage.ts) and of a separate restore state location
 * (state-storage.ts) share.
 */
import { IntegrityError, isAlreadyExists } from '../errors.ts';
import type { PutOptions, StorageBackend } from '../storage/backend.ts';
import { AuthenticationError } from './aead.ts';
import { activeKey, type Keyring } from './keyring.ts';
import { decryptObject, objectKeyId, openObject, sealObject } from './object.ts';

/**
 * Puts `body` sealed under the keyring's active key. Sealing is not deterministic, so a
 * create-if-absent retry of our own write is recognised by comparing plaintexts (`plainOf` reads
 * the stored object back, opened).
 */
export async function putSealed(
  inner: StorageBackend,
  key: string,
  ring: Keyring,
  body: Uint8Array,
  options: PutOptions | undefined,
  plainOf: (key: string) => Promise<Buffer>,
): Promise<void> {
  const k = activeKey(ring);
  try {
    await inner.put(key, sealObject(key, k.id, k.key, body), options);
  } catch (e) {
    if (!(options?.ifAbsent && isAlreadyExists(e))) throw e;
    const stored = await plainOf(key).catch(() => null);
    if (!stored || !Buffer.from(body).equals(stored)) throw e;
  }
}

/** The plaintext of a sealed object; a changed one is an IntegrityError naming it. */
export function openSealed(key: string, bytes: Buffer, ring: Keyring): Buffer {
  const k = ring.keys.find((x) => x.id === objectKeyId(bytes));
  try {
    if (!k) return decryptObject(key, bytes);
    return openObject(key, k.key, bytes);
  } catch (e) {
    if (e instanceof AuthenticationError || (e instanceof Error && e.name === 'SignedObjectError'))
      throw new IntegrityError(`${key} is corrupt: ${e.message}`, [key], {
        hint: 'the object was changed or damaged after it was written; restore it from a copy of the storage',
      });
    throw e;
  }
}
