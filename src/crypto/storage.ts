/**
 * The encryption layer of a storage location: a StorageBackend wrapper, the one place the rest of
 * the tool meets encryption (docs/security.md). For each backup line it finds whether the line is
 * encrypted (it has key slots under `<backup_id>/keys/`), unlocks it with the configured key
 * before anything of the line is read or written, and then:
 *
 * - seals every object of the line except those that stay in clear: `keys/` (the slots),
 *   `data/` (data files encrypt their blocks themselves, format.md "Encrypted data files"),
 *   `head.json`, `lease.json`, `prune-lease.json` and `.probe/`;
 * - opens sealed objects on `get`, except the version 2 state objects (`*.json.zst`), which
 *   the state decoder opens (src/format/line-v2.ts, plainV2) so that a changed one is reported
 *   as a damaged metadata object, as any other;
 * - refuses on `get` an object of an encrypted line that should be sealed and is not (an
 *   IntegrityError naming it, `OBJECT_NOT_SEALED`): anyone who can write the bucket can put a
 *   clear object there, and no version ever wrote one, so it is never trusted;
 * - hands the line's active master key to the segment writer through the ObjectWriter of a data
 *   file (`dataEncryptionOf`).
 *
 * With `create`, a new line (no state, no slots) gets a keyring on its first write, and its first
 * slot just before its first sealed metadata object (in practice the first commit): a run that
 * fails before it commits anything (Kafka unreachable, nothing to back up, killed while writing
 * data files) leaves no slot behind, so a later run may begin the line with another key. An
 * existing line without slots is refused (encryption is chosen when a line begins).
 * A line that has slots cannot be written or read without its key: the KeyError comes before
 * anything is written.
 */
import { ConfigError, IntegrityError, isAlreadyExists, KeyError } from '../errors.ts';
import type { ObjectWriter, PutOptions, StorageBackend } from '../storage/backend.ts';
import { activeKey, type Keyring, newMasterKey, registerKeyring } from './keyring.ts';
import { decryptObject, isEncryptedObject } from './object.ts';
import { describeSource, type KeySource, newKek } from './providers.ts';
import { openSealed, putSealed, unsealedObject } from './sealed-io.ts';
import { type KeySlot, listSlots, makeSlot, slotKeys, writeSlot } from './slots.ts';
import { unlockLine } from './unlock.ts';
import { lineOf, WrappedStorage } from './wrapped-storage.ts';

export interface EncryptionSettings {
  /** The key to unlock lines with (and to make the first slot of a new line with). */
  source?: KeySource;
  /** The slot to use (unlock) or to create (new line). */
  slotId?: string;
  /** Encrypt new lines (backup.encryption.enabled). */
  create?: boolean;
  /**
   * The lines that must be encrypted: one that exists without key slots is refused, by readers
   * too (`NOT_ENCRYPTED`). Anyone who can write the bucket can replace an encrypted line by a
   * clear one of their own; a reader that knows the line must be encrypted is not fooled.
   * A backup id (backup.encryption.enabled names the config's line), or every line
   * (KB_ENCRYPTION_REQUIRED=1). `because` says which setting asked, for the message.
   */
  required?: { line: string | 'every line'; because: string };
}

export interface DataEncryption {
  keyId: string;
  masterKey: Buffer;
}

const DATA_ENCRYPTION = Symbol('kafka-backup data file encryption');
const LINE_KEYRING = Symbol('kafka-backup line keyring');

/**
 * The keyring of backup line `backupId` in `storage` when the storage is the encryption layer and
 * the line is encrypted (unlocking it with the configured key if not done yet), else null.
 */
export function lineKeyringOf(storage: StorageBackend, backupId: string): Promise<Keyring | null> {
  const f = (storage as { [LINE_KEYRING]?: (id: string) => Promise<Keyring | null> })[LINE_KEYRING];
  return f ? f.call(storage, backupId) : Promise.resolve(null);
}

/** The master key a data file's writer must seal its blocks with, when its line is encrypted. */
export function dataEncryptionOf(w: ObjectWriter): DataEncryption | undefined {
  return (w as { [DATA_ENCRYPTION]?: DataEncryption })[DATA_ENCRYPTION];
}

type LineState =
  | { encrypted: false }
  /** `begin`: writes the new line's first slot; set until it has (once, memoized). */
  | { encrypted: true; ring: Keyring; begin?: () => Promise<void> };

const CLEAR = /^[^/]+\/(?:keys\/|data\/|\.probe\/|head\.json$|lease\.json$|prune-lease\.json$)/;
const STATE_OBJECT = /^[^/]+\/(?:log|checkpoints|index|chunks)\/.*\.json\.zst$/;

class EncryptingStorage extends WrappedStorage {
  private readonly lines = new Map<string, Promise<LineState>>();
  private readonly settings: EncryptionSettings;

  constructor(inner: StorageBackend, settings: EncryptionSettings) {
    super(inner);
    this.settings = settings;
  }

  /** Whether the line is encrypted, unlocked; made once per line (a failure is not cached). */
  private state(backupId: string, forWrite: boolean): Promise<LineState> {
    let p = this.lines.get(backupId);
    if (!p) {
      p = this.resolve(backupId, forWrite);
      this.lines.set(backupId, p);
      p.catch(() => this.lines.delete(backupId));
    }
    return p.then(async (s) => {
      if (!s.encrypted && forWrite && this.settings.create) {
        // resolved by a read while the line did not exist: a write begins an encrypted line
        this.lines.delete(backupId);
        return this.state(backupId, true);
      }
      return s;
    });
  }

  private async resolve(backupId: string, forWrite: boolean): Promise<LineState> {
    const listing = await listSlots(this.inner, backupId);
    if (listing.slots.length || listing.tombstones.length) {
      const u = await this.unlock(backupId);
      registerKeyring(u.ring);
      return { encrypted: true, ring: u.ring };
    }
    const required = this.mustBeEncrypted(backupId);
    if (!required && (!forWrite || !this.settings.create)) return { encrypted: false };
    if (await this.hasCommit(backupId))
      throw this.notEncrypted(backupId, required ?? 'backup.encryption.enabled is true');
    if (!forWrite || !this.settings.create) return { encrypted: false };
    const source = this.settings.source;
    if (!source)
      throw new ConfigError('backup.encryption is enabled but gives no key', [
        'backup.encryption: set provider and its key',
      ]);
    const ring: Keyring = { backup_id: backupId, keys: [newMasterKey()] };
    const slotId = this.settings.slotId ?? `${source.type}-1`;
    // the key-encryption key now (a KMS that refuses fails the run before anything is written);
    // only the slot object waits for the first commit
    const { kek, provider } = await newKek(source, backupId, slotId);
    const slot = makeSlot(slotId, provider, kek, ring);
    registerKeyring(ring);
    let written: Promise<void> | undefined;
    const state: LineState = { encrypted: true, ring };
    state.begin = () => {
      written ??= this.writeFirstSlot(backupId, slot).then(
        () => {
          delete state.begin;
        },
        (e) => {
          written = undefined; // a storage error: the next sealed write tries again
          throw e;
        },
      );
      return written;
    };
    return state;
  }

  /** The setting that requires line `backupId` to be encrypted, if one does. */
  private mustBeEncrypted(backupId: string): string | undefined {
    const r = this.settings.required;
    return r && (r.line === 'every line' || r.line === backupId) ? r.because : undefined;
  }

  /**
   * A line with commits and no key slots where the settings say it is encrypted. The tool cannot
   * tell the two causes apart: a line written in clear before encryption was turned on, or an
   * encrypted line whose slots were deleted and which was replaced by someone who can write the
   * storage. Either way nothing of it is read or written.
   */
  private notEncrypted(backupId: string, because: string): ConfigError {
    const keys = `${this.location}/${slotKeys.dir(backupId)}`;
    return new ConfigError(
      `backup line ${backupId} in ${this.location} exists and is not encrypted (it has commits but no key slots under ${keys}), while ${because}: nothing of it was read or written`,
      [`${because} for an existing unencrypted line`],
      {
        hint: 'if the line was written without encryption: encryption can only be turned on for a new line, so back up to a new backup_id with encryption on, or turn encryption off for this line; if it was encrypted: its key slots were deleted and the line may have been replaced, so do not trust it and restore the line from a copy of the storage',
        code: 'NOT_ENCRYPTED',
      },
    );
  }

  /**
   * The first slot of a line this process began. Data files may already be sealed under the
   * keyring's master key, so losing a race to another process that began the same line at the
   * same moment cannot be repaired by adopting its keyring: this run fails, and its files (not
   * referenced by any commit) are for prune to delete.
   */
  private async writeFirstSlot(backupId: string, slot: KeySlot): Promise<void> {
    const slotId = slot.id;
    try {
      await writeSlot(this.inner, slot);
    } catch (e) {
      if (!isAlreadyExists(e) && !(e instanceof Error && e.name === 'ObjectTakenError')) throw e;
      throw new KeyError(
        `backup line ${backupId} in ${this.location} was begun by another process at the same moment (its key slot ${slotId} appeared while this run was writing)`,
        {
          hint: "run one backup per backup line; run again: the other run's keys are used from then on, and prune deletes what this run wrote",
          code: 'KEY_LINE_RACE',
        },
      );
    }
  }

  /**
   * unlockLine, with one case told apart: a line that has key slots but no commit was begun by an
   * encrypted run that stopped before it committed (older versions wrote the slot on the first
   * write, and a crash right before the first commit can still leave one). Nothing is backed up
   * in it, which "the key opens none of the slots" would hide.
   */
  private async unlock(backupId: string) {
    try {
      return await unlockLine(this.inner, backupId, this.settings.source, this.settings.slotId);
    } catch (e) {
      if (!(e instanceof KeyError) || e.code !== 'KEY_WRONG' || (await this.hasCommit(backupId))) throw e;
      const keys = `${this.location}/${slotKeys.dir(backupId)}`;
      throw new KeyError(
        `backup line ${backupId} in ${this.location} has key slots but no commit: an encrypted first run stopped before it committed anything, so nothing is backed up in it, and the ${describeSource(this.settings.source!)} opens none of its slots (${keys})`,
        {
          hint: `run again with the key of that first run; or, to begin the line with this key, delete ${keys} (the line's other objects are not readable without that key; prune deletes them)`,
          code: 'KEY_LINE_UNCOMMITTED',
        },
      );
    }
  }

  /**
   * Whether the line has any state (a commit, checkpoint, head or version 1 manifest). Data files
   * alone are not a line: a run that stopped before its first commit left them, unreferenced.
   */
  private async hasCommit(backupId: string): Promise<boolean> {
    for (const dir of ['log/', 'checkpoints/', 'manifests/'])
      for await (const _ of this.inner.list(`${backupId}/${dir}`)) return true;
    return (await this.inner.stat(`${backupId}/head.json`).catch(() => null)) !== null;
  }

  override async put(key: string, body: Uint8Array, options?: PutOptions): Promise<void> {
    const id = lineOf(key);
    if (!id) return this.inner.put(key, body, options);
    const s = await this.state(id, true);
    if (!s.encrypted || CLEAR.test(key)) return this.inner.put(key, body, options);
    // a new line's slot goes out with its first sealed metadata object, not before
    await s.begin?.();
    await putSealed(this.inner, key, s.ring, body, options, async (k) => {
      const stored = await this.get(k);
      return STATE_OBJECT.test(k) ? decryptObject(k, stored) : stored;
    });
  }

  override async openWriter(key: string): Promise<ObjectWriter> {
    const id = lineOf(key);
    const s = id ? await this.state(id, true) : { encrypted: false as const };
    const w = await this.inner.openWriter(key);
    if (!s.encrypted) return w;
    const k = activeKey(s.ring);
    return {
      write: (chunk) => w.write(chunk),
      commit: () => w.commit(),
      abort: () => w.abort(),
      get bytesWritten() {
        return w.bytesWritten;
      },
      [DATA_ENCRYPTION]: { keyId: k.id, masterKey: k.key },
    } as ObjectWriter;
  }

  override async get(key: string): Promise<Buffer> {
    const bytes = await this.inner.get(key);
    const id = lineOf(key);
    if (!id || CLEAR.test(key)) return bytes;
    const sealed = isEncryptedObject(bytes);
    const s = await this.state(id, false);
    if (!sealed) {
      // whoever can write the bucket can put a clear object here; only the key holder can seal one
      if (s.encrypted) throw unsealedObject(this.location, key, id);
      return bytes;
    }
    if (!s.encrypted)
      throw new IntegrityError(`${key} is encrypted but backup line ${id} has no key slots`, [key], {
        hint: 'the key slots under keys/ were deleted; restore them from a copy of the storage',
      });
    if (STATE_OBJECT.test(key)) return bytes;
    return openSealed(key, bytes, s.ring);
  }

  /** The keyring of an encrypted line (unlocked once), or null when the line is not encrypted. */
  async [LINE_KEYRING](backupId: string): Promise<Keyring | null> {
    const s = await this.state(backupId, false);
    return s.encrypted ? s.ring : null;
  }
}

/** The storage with its lines' encryption (transparent to callers; see the module comment). */
export function withEncryption(storage: StorageBackend, settings: EncryptionSettings = {}): StorageBackend {
  return new EncryptingStorage(storage, settings);
}
