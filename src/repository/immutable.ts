/**
 * Create-if-absent writes of immutable objects, recognising our own earlier attempt.
 *
 * A put whose answer was lost (timeout, reset) may have been applied: the retry then finds the
 * key taken. Comparing the stored bytes with ours tells "it was our write" (success) from "another
 * writer took the key" (ObjectTakenError), so a lost answer is never mistaken for a fence.
 */
import { isAlreadyExists } from '../errors.ts';
import type { StorageBackend } from '../storage/backend.ts';

export class ObjectTakenError extends Error {
  readonly key: string;
  constructor(key: string) {
    super(`${key} already exists with other content`);
    this.key = key;
  }
}

export async function putImmutable(storage: StorageBackend, key: string, body: Buffer): Promise<void> {
  try {
    await storage.put(key, body, { ifAbsent: true });
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
    const stored = await storage.get(key);
    if (!stored.equals(body)) throw new ObjectTakenError(key);
  }
}
