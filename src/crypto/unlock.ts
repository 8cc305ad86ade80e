/**
 * Unlocking a line: find the key slot the given key opens and unseal the keyring. Every failure
 * is one KeyError that names the line's key slots and where they were looked for.
 */
import { KeyError } from '../errors.ts';
import type { StorageBackend } from '../storage/backend.ts';
import type { Keyring } from './keyring.ts';
import { describeSource, type KeySource, kekCheck, kekFor } from './providers.ts';
import { type KeySlot, listSlots, openSlot, type SlotListing, slotKeys } from './slots.ts';

export interface Unlocked {
  ring: Keyring;
  slot: KeySlot;
  listing: SlotListing;
}

function slotList(l: SlotListing): string {
  return l.slots.length
    ? l.slots
        .map((s) => `${s.id} (${s.provider.type}${s.provider.type === 'aws-kms' ? ` ${s.provider.kms_key_id}` : ''})`)
        .join(', ')
    : 'none';
}

export const KEY_HINT =
  'give the key with backup.encryption in the config, or KB_ENCRYPTION_KEY_FILE, KB_ENCRYPTION_KEY, KB_ENCRYPTION_PASSPHRASE(_FILE) or KB_ENCRYPTION_KMS_KEY_ID (docs/security.md)';

export async function unlockLine(
  storage: StorageBackend,
  backupId: string,
  source: KeySource | undefined,
  slotId?: string,
): Promise<Unlocked> {
  const listing = await listSlots(storage, backupId);
  const where = `${storage.location}/${slotKeys.dir(backupId)}`;
  const needed = `backup line ${backupId} is encrypted; its key slots in ${where}: ${slotList(listing)}`;
  if (!source) throw new KeyError(`${needed}; no key was given`, { hint: KEY_HINT, code: 'KEY_MISSING' });
  const given = describeSource(source);
  let candidates = listing.slots;
  if (slotId) {
    candidates = listing.slots.filter((s) => s.id === slotId);
    if (!candidates.length) {
      const tomb = listing.tombstones.find((t) => t.id === slotId);
      throw new KeyError(
        tomb
          ? `key slot ${slotId} of backup line ${backupId} was removed at ${tomb.removed_at}; remaining key slots in ${where}: ${slotList(listing)}`
          : `backup line ${backupId} has no key slot ${slotId}; its key slots in ${where}: ${slotList(listing)}`,
        { hint: 'use a key of a remaining slot', code: tomb ? 'KEY_REMOVED' : 'KEY_UNKNOWN_SLOT' },
      );
    }
  }
  for (const slot of candidates) {
    const kek = await kekFor(source, slot);
    if (!kek || kekCheck(kek) !== slot.check) continue;
    try {
      return { ring: openSlot(slot, kek), slot, listing };
    } catch {
      throw new KeyError(
        `key slot ${slotKeys.slot(backupId, slot.id)} does not open with the ${given}, whose check value it carries: the slot was changed or damaged`,
        {
          hint: 'use another key slot of the line (run validate --deep), or restore the slot object from a copy',
          code: 'KEY_SLOT_DAMAGED',
        },
      );
    }
  }
  for (const t of listing.tombstones) {
    const kek = await kekFor(source, t);
    if (kek && kekCheck(kek) === t.check)
      throw new KeyError(
        `the ${given} was key slot ${t.id} of backup line ${backupId}, removed at ${t.removed_at}; it no longer opens the line. Remaining key slots in ${where}: ${slotList(listing)}`,
        { hint: 'use a key of a remaining slot', code: 'KEY_REMOVED' },
      );
  }
  throw new KeyError(`${needed}; the ${given} opens none of them`, {
    hint: 'check that the key is the one this line was encrypted with; `kafka-backup key list` shows its slots',
    code: 'KEY_WRONG',
  });
}
