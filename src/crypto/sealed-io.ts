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

/**
 * A clear object where an encrypted line keeps only sealed ones: not written by this tool (no
 * version wrote metadata of an encrypted line in clear), so not trusted, whatever it holds.
 */
export function unsealedObject(location: string, key: string, backupId: string): IntegrityError {
  return new IntegrityError(
    `${location}/${key} is not encrypted, but backup line ${backupId} is: every metadata object of an encrypted line is sealed, so this one was not written by kafka-backup with the line's key and is not trusted`,
    [key],
    {
      hint: 'someone with write access to the storage put it there (or replaced the sealed object); investigate, then delete it or restore the original from a copy of the storage. `validate --deep` lists every such object',
      code: 'OBJECT_NOT_SEALED',
    },
  );
}
