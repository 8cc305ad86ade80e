/**
 * Key management of an encrypted line (`kafka-backup key …`), plan then execute:
 *
 *   add     a new slot sealing the line's keyring under another key
 *   remove  a slot goes (its tombstone stays); the last slot of a line is never removed
 *   rotate  a new master key joins the keyring (it seals everything written from now on), a new
 *           slot seals that keyring under the new key, then every other slot is removed
 *
 * Every step writes one object or deletes one, in an order that leaves the line readable after a
 * crash at any point: the new slot is written (create-if-absent) before any slot is removed, and
 * re-running the same rotate finds its new slot and only completes the removals.
 */
import { KeyError, UsageError } from '../errors.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { AuthenticationError } from './aead.ts';
import { type Keyring, newMasterKey } from './keyring.ts';
import { describeSource, type KeySource, kekFor, newKek } from './providers.ts';
import {
  type KeySlot,
  listSlots,
  makeSlot,
  openSlot,
  removeSlot,
  SLOT_ID,
  type SlotListing,
  writeSlot,
} from './slots.ts';
import { unlockLine } from './unlock.ts';

export interface SlotView {
  id: string;
  provider: string;
  kms_key_id?: string;
  created_at: string;
  master_keys: string[];
  /** Lacks the newest master key (left by a rotation that did not finish): remove it. */
  stale: boolean;
}

export interface KeyListing {
  backup_id: string;
  encrypted: boolean;
  slots: SlotView[];
  removed: { id: string; provider: string; removed_at: string }[];
  damaged: { key: string; problem: string }[];
  /** The master key that seals new data (the newest any slot holds). */
  active_master_key: string | null;
}

export function describeSlots(backupId: string, l: SlotListing): KeyListing {
  const longest = l.slots.reduce<string[]>((m, s) => (s.master_keys.length > m.length ? s.master_keys : m), []);
  return {
    backup_id: backupId,
    encrypted: l.slots.length + l.tombstones.length > 0,
    slots: l.slots.map((s) => ({
      id: s.id,
      provider: s.provider.type,
      ...(s.provider.type === 'aws-kms' ? { kms_key_id: s.provider.kms_key_id } : {}),
      created_at: s.created_at,
      master_keys: s.master_keys,
      stale: longest.some((k) => !s.master_keys.includes(k)),
    })),
    removed: l.tombstones.map((t) => ({ id: t.id, provider: t.provider.type, removed_at: t.removed_at })),
    damaged: l.damaged,
    active_master_key: longest.at(-1) ?? null,
  };
}

export type KeyStep =
  | { op: 'add-master-key'; master_key: string }
  | { op: 'write-slot'; slot: string; provider: string; master_keys: string[]; resumed?: boolean }
  | { op: 'remove-slot'; slot: string };

export interface KeyPlan {
  backup_id: string;
  action: 'add' | 'remove' | 'rotate';
  /** The slot the current key opened. */
  unlocked_with: string;
  steps: KeyStep[];
}

interface Prepared {
  plan: KeyPlan;
  execute: () => Promise<void>;
}

async function stall(at: string | undefined, point: string): Promise<void> {
  if (at !== point) return;
  process.stderr.write(`key: stalled at ${point}\n`);
  // a timer keeps the process alive: a bare pending promise would let it exit
  await new Promise(() => setInterval(() => undefined, 60_000));
}

function freshSlotId(l: SlotListing, type: string): string {
  const taken = new Set([...l.slots.map((s) => s.id), ...l.tombstones.map((t) => t.id)]);
  for (let n = 1; ; n++) if (!taken.has(`${type}-${n}`)) return `${type}-${n}`;
}

function checkSlotId(id: string): void {
  if (!SLOT_ID.test(id))
    throw new UsageError(`key slot id '${id}' is not valid`, {
      hint: 'use letters, digits, ".", "_" and "-" (at most 64)',
    });
}

/**
 * The existing slot `id` when the new key opens it (a rotate or add that stopped after writing
 * it): the step is then done. Any other existing or removed slot of that id is an error.
 */
async function resumable(l: SlotListing, id: string, newKey: KeySource): Promise<Keyring | null> {
  if (l.tombstones.some((t) => t.id === id))
    throw new UsageError(`key slot id ${id} was used by a removed slot of this line`, { hint: 'choose another --id' });
  const existing = l.slots.find((s) => s.id === id);
  if (!existing) return null;
  const kek = await kekFor(newKey, existing);
  try {
    if (kek) return openSlot(existing, kek);
  } catch (e) {
    if (!(e instanceof AuthenticationError)) throw e;
  }
  throw new UsageError(`backup line already has a key slot ${id}, which the new key does not open`, {
    hint: 'choose another --id',
  });
}

async function newSlot(id: string, newKey: KeySource, ring: Keyring): Promise<KeySlot> {
  const { kek, provider } = await newKek(newKey, ring.backup_id, id);
  return makeSlot(id, provider, kek, ring);
}

async function unlockForManagement(
  storage: StorageBackend,
  backupId: string,
  current: KeySource | undefined,
  slotId?: string,
) {
  const l = await listSlots(storage, backupId);
  if (!l.slots.length && !l.tombstones.length)
    throw new UsageError(`backup line ${backupId} in ${storage.location} is not encrypted (it has no key slots)`, {
      hint: 'encryption is chosen when a line begins (backup.encryption.enabled); key commands manage encrypted lines',
      code: 'NOT_ENCRYPTED',
    });
  return unlockLine(storage, backupId, current, slotId);
}

export async function planAdd(
  storage: StorageBackend,
  backupId: string,
  current: KeySource | undefined,
  newKey: KeySource,
  id: string | undefined,
): Promise<Prepared> {
  const u = await unlockForManagement(storage, backupId, current);
  const slotId = id ?? freshSlotId(u.listing, newKey.type);
  checkSlotId(slotId);
  const done = await resumable(u.listing, slotId, newKey);
  const ring = done ?? u.ring;
  return {
    plan: {
      backup_id: backupId,
      action: 'add',
      unlocked_with: u.slot.id,
      steps: [
        {
          op: 'write-slot',
          slot: slotId,
          provider: describeSource(newKey),
          master_keys: ring.keys.map((k) => k.id),
          ...(done ? { resumed: true } : {}),
        },
      ],
    },
    execute: async () => {
      if (!done) await writeSlot(storage, await newSlot(slotId, newKey, ring));
    },
  };
}

export async function planRemove(
  storage: StorageBackend,
  backupId: string,
  current: KeySource | undefined,
  id: string,
): Promise<Prepared> {
  const u = await unlockForManagement(storage, backupId, current);
  const slot = u.listing.slots.find((s) => s.id === id);
  if (!slot)
    throw new UsageError(`backup line ${backupId} has no key slot ${id}`, {
      hint: `its key slots: ${u.listing.slots.map((s) => s.id).join(', ')}`,
      code: 'UNKNOWN_KEY_SLOT',
    });
  const view = describeSlots(backupId, u.listing);
  const keeps = view.slots.filter((s) => s.id !== id && !s.stale);
  if (!keeps.length)
    throw new UsageError(`removing key slot ${id} would leave backup line ${backupId} without a current key slot`, {
      hint: 'add another key first (kafka-backup key add); a line whose every key is gone cannot be read by anyone',
      code: 'LAST_KEY_SLOT',
    });
  return {
    plan: { backup_id: backupId, action: 'remove', unlocked_with: u.slot.id, steps: [{ op: 'remove-slot', slot: id }] },
    execute: () => removeSlot(storage, slot),
  };
}

export async function planRotate(
  storage: StorageBackend,
  backupId: string,
  current: KeySource | undefined,
  newKey: KeySource,
  id: string | undefined,
  /** Tests only: stop (and wait to be killed) at this point of the execution. */
  stallAt?: string,
): Promise<Prepared> {
  const u = await unlockForManagement(storage, backupId, current);
  const slotId = id ?? freshSlotId(u.listing, newKey.type);
  checkSlotId(slotId);
  const resumed = await resumable(u.listing, slotId, newKey);
  if (resumed && !u.ring.keys.every((k) => resumed.keys.some((r) => r.id === k.id)))
    throw new KeyError(`key slot ${slotId} lacks master keys the current key's slot holds`, {
      code: 'KEY_SLOT_DAMAGED',
    });
  const master = newMasterKey();
  const ring: Keyring = resumed ?? { backup_id: backupId, keys: [...u.ring.keys, master] };
  const removals = u.listing.slots.filter((s) => s.id !== slotId);
  const steps: KeyStep[] = [
    ...(resumed ? [] : [{ op: 'add-master-key' as const, master_key: master.id }]),
    {
      op: 'write-slot',
      slot: slotId,
      provider: describeSource(newKey),
      master_keys: ring.keys.map((k) => k.id),
      ...(resumed ? { resumed: true } : {}),
    },
    ...removals.map((s) => ({ op: 'remove-slot' as const, slot: s.id })),
  ];
  return {
    plan: { backup_id: backupId, action: 'rotate', unlocked_with: u.slot.id, steps },
    execute: async () => {
      if (!resumed) await writeSlot(storage, await newSlot(slotId, newKey, ring));
      await stall(stallAt, 'slot-written');
      for (const s of removals) await removeSlot(storage, s);
    },
  };
}
