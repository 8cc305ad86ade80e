/**
 * Key slots, after restic's key files: `<backup_id>/keys/<slot id>.json`, each the line's whole
 * keyring sealed under one key-encryption key (KEK). Any one slot's KEK unlocks the line; adding a
 * slot (`key add`) re-seals the same keyring under another KEK, removing one deletes its sealed
 * copy. Data is never rewritten: the data keys are derived from the master keys in the keyring.
 *
 * A removed slot leaves a tombstone `<backup_id>/keys/removed/<slot id>.json` (its public fields
 * and check value, nothing sealed), so a removed key is told apart from a wrong one.
 *
 * Slots are signed JSON (src/format/signed.ts), so validate finds a damaged slot without a key.
 */
import { isNotFound } from '../errors.ts';
import { decodeSigned, encodeSigned } from '../format/signed.ts';
import { putImmutable } from '../repository/immutable.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { AuthenticationError, counterNonce, deriveKey, open, randomSalt, seal } from './aead.ts';
import { decodeKeyring, encodeKeyring, type Keyring } from './keyring.ts';
import { kekCheck, type SlotProvider } from './providers.ts';

export interface KeySlot {
  format: 'kafka-backup/key-slot';
  version: 1;
  backup_id: string;
  id: string;
  created_at: string;
  provider: SlotProvider;
  /** kekCheck of the slot's KEK: which slot a given key opens, without trying to unseal. */
  check: string;
  /** Ids of the master keys in the sealed keyring, oldest first (public, so `key list` can tell a stale slot). */
  master_keys: string[];
  /** base64 of salt (32) | ciphertext | tag: the keyring under HKDF(KEK, salt, "key-slot"), nonce 0. */
  sealed: string;
}

export type Tombstone = Omit<KeySlot, 'sealed' | 'format'> & {
  format: 'kafka-backup/key-slot-removed';
  removed_at: string;
};

export const slotKeys = {
  dir: (backupId: string) => `${backupId}/keys/`,
  slot: (backupId: string, id: string) => `${backupId}/keys/${id}.json`,
  tombstone: (backupId: string, id: string) => `${backupId}/keys/removed/${id}.json`,
};

/** Slot ids are names chosen by the user (or generated): safe in a key and in a message. */
export const SLOT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function aadOf(s: Omit<KeySlot, 'sealed'>): Buffer {
  return Buffer.from(
    JSON.stringify([s.format, s.version, s.backup_id, s.id, s.created_at, s.provider, s.check, s.master_keys]),
  );
}

export function makeSlot(id: string, provider: SlotProvider, kek: Buffer, ring: Keyring): KeySlot {
  const body: Omit<KeySlot, 'sealed'> = {
    format: 'kafka-backup/key-slot',
    version: 1,
    backup_id: ring.backup_id,
    id,
    created_at: new Date().toISOString(),
    provider,
    check: kekCheck(kek),
    master_keys: ring.keys.map((k) => k.id),
  };
  const salt = randomSalt();
  const sealed = seal(deriveKey(kek, salt, 'key-slot'), counterNonce(0), encodeKeyring(ring), aadOf(body));
  return { ...body, sealed: Buffer.concat([salt, sealed]).toString('base64') };
}

/** The keyring a slot holds; throws AuthenticationError when `kek` is not the slot's (or it was changed). */
export function openSlot(slot: KeySlot, kek: Buffer): Keyring {
  if (kekCheck(kek) !== slot.check) throw new AuthenticationError();
  const { sealed, ...body } = slot;
  const bytes = Buffer.from(sealed, 'base64');
  const ring = decodeKeyring(
    open(deriveKey(kek, bytes.subarray(0, 32), 'key-slot'), counterNonce(0), bytes.subarray(32), aadOf(body)),
  );
  if (ring.backup_id !== slot.backup_id || ring.keys.map((k) => k.id).join() !== slot.master_keys.join())
    throw new AuthenticationError();
  return ring;
}

export interface SlotListing {
  slots: KeySlot[];
  tombstones: Tombstone[];
  /** Slot objects that do not decode (damaged): key and problem. */
  damaged: { key: string; problem: string }[];
}

export async function listSlots(storage: StorageBackend, backupId: string): Promise<SlotListing> {
  const out: SlotListing = { slots: [], tombstones: [], damaged: [] };
  for await (const o of storage.list(slotKeys.dir(backupId))) {
    const rel = o.key.slice(slotKeys.dir(backupId).length);
    const tomb = rel.startsWith('removed/');
    if (!/\.json$/.test(rel)) continue;
    let bytes: Buffer;
    try {
      bytes = await storage.get(o.key);
    } catch (e) {
      if (isNotFound(e)) continue;
      throw e;
    }
    try {
      const v = decodeSigned<KeySlot | Tombstone>(o.key, bytes);
      if (tomb && v.format === 'kafka-backup/key-slot-removed') out.tombstones.push(v as Tombstone);
      else if (!tomb && v.format === 'kafka-backup/key-slot' && v.version === 1 && v.backup_id === backupId)
        out.slots.push(v as KeySlot);
      else out.damaged.push({ key: o.key, problem: `is not a key slot of ${backupId}` });
    } catch (e) {
      out.damaged.push({ key: o.key, problem: (e as Error).message });
    }
  }
  out.slots.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  return out;
}

export async function writeSlot(storage: StorageBackend, slot: KeySlot): Promise<void> {
  await putImmutable(storage, slotKeys.slot(slot.backup_id, slot.id), encodeSigned(slot));
}

/** Tombstone first, then the slot: a crash in between leaves the slot usable and the removal repeatable. */
export async function removeSlot(storage: StorageBackend, slot: KeySlot): Promise<void> {
  const { sealed: _sealed, format: _format, ...rest } = slot;
  const tomb: Tombstone = { ...rest, format: 'kafka-backup/key-slot-removed', removed_at: new Date().toISOString() };
  await storage.put(slotKeys.tombstone(slot.backup_id, slot.id), encodeSigned(tomb));
  await storage.delete(slotKeys.slot(slot.backup_id, slot.id));
}
