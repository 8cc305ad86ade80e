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
 * - hands the line's active master key to the segment writer through the ObjectWriter of a data
 *   file (`dataEncryptionOf`).
 *
 * With `create`, a new line (no state, no slots) gets a keyring and its first slot on its first
 * write; an existing line without slots is refused (encryption is chosen when a line begins).
 * A line that has slots cannot be written or read without its key: the KeyError comes before
 * anything is written.
 */
import { ConfigError, IntegrityError, isAlreadyExists } from '../errors.ts';
import {
  type ByteRange,
  incompleteOf,
  type LoadHints,
  type ObjectInfo,
  type ObjectWriter,
  type PutOptions,
  type StorageBackend,
} from '../storage/backend.ts';
import { AuthenticationError } from './aead.ts';
import { activeKey, type Keyring, newMasterKey, registerKeyring } from './keyring.ts';
import { decryptObject, isEncryptedObject, objectKeyId, openObject, sealObject } from './object.ts';
import { type KeySource, newKek } from './providers.ts';
import { listSlots, makeSlot, writeSlot } from './slots.ts';
import { unlockLine } from './unlock.ts';

export interface EncryptionSettings {
  /** The key to unlock lines with (and to make the first slot of a new line with). */
  source?: KeySource;
  /** The slot to use (unlock) or to create (new line). */
  slotId?: string;
  /** Encrypt new lines (backup.encryption.enabled). */
  create?: boolean;
}

export interface DataEncryption {
  keyId: string;
  masterKey: Buffer;
}

const DATA_ENCRYPTION = Symbol('kafka-backup data file encryption');

/** The master key a data file's writer must seal its blocks with, when its line is encrypted. */
export function dataEncryptionOf(w: ObjectWriter): DataEncryption | undefined {
  return (w as { [DATA_ENCRYPTION]?: DataEncryption })[DATA_ENCRYPTION];
}

type LineState = { encrypted: false } | { encrypted: true; ring: Keyring };

const CLEAR = /^[^/]+\/(?:keys\/|data\/|\.probe\/|head\.json$|lease\.json$|prune-lease\.json$)/;
const STATE_OBJECT = /^[^/]+\/(?:log|checkpoints|index|chunks)\/.*\.json\.zst$/;

function lineOf(key: string): string | null {
  const i = key.indexOf('/');
  return i > 0 ? key.slice(0, i) : null;
}

class EncryptingStorage implements StorageBackend {
  readonly location: string;
  private readonly lines = new Map<string, Promise<LineState>>();
  private readonly inner: StorageBackend;
  private readonly settings: EncryptionSettings;

  constructor(inner: StorageBackend, settings: EncryptionSettings) {
    this.inner = inner;
    this.settings = settings;
    this.location = inner.location;
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
      const u = await unlockLine(this.inner, backupId, this.settings.source, this.settings.slotId);
      registerKeyring(u.ring);
      return { encrypted: true, ring: u.ring };
    }
    if (!forWrite || !this.settings.create) return { encrypted: false };
    if (await this.lineExists(backupId))
      throw new ConfigError(
        `backup line ${backupId} in ${this.location} exists and is not encrypted; encryption can only be turned on for a new line`,
        ['backup.encryption.enabled: true for an existing unencrypted line'],
        {
          hint: 'back up to a new backup_id with encryption on, or turn backup.encryption off for this line',
          code: 'NOT_ENCRYPTED',
        },
      );
    const source = this.settings.source;
    if (!source)
      throw new ConfigError('backup.encryption is enabled but gives no key', [
        'backup.encryption: set provider and its key',
      ]);
    const ring: Keyring = { backup_id: backupId, keys: [newMasterKey()] };
    const slotId = this.settings.slotId ?? `${source.type}-1`;
    const { kek, provider } = await newKek(source, backupId, slotId);
    try {
      await writeSlot(this.inner, makeSlot(slotId, provider, kek, ring));
    } catch (e) {
      if (!isAlreadyExists(e) && !(e instanceof Error && e.name === 'ObjectTakenError')) throw e;
      // another process began the line at the same moment: use its keyring
      const u = await unlockLine(this.inner, backupId, source, this.settings.slotId);
      registerKeyring(u.ring);
      return { encrypted: true, ring: u.ring };
    }
    registerKeyring(ring);
    return { encrypted: true, ring };
  }

  private async lineExists(backupId: string): Promise<boolean> {
    for await (const _ of this.inner.list(`${backupId}/`)) {
      if (!_.key.startsWith(`${backupId}/.probe/`) && !_.key.startsWith(`${backupId}/lease.json`)) return true;
    }
    return false;
  }

  async put(key: string, body: Uint8Array, options?: PutOptions): Promise<void> {
    const id = lineOf(key);
    if (!id) return this.inner.put(key, body, options);
    const s = await this.state(id, true);
    if (!s.encrypted || CLEAR.test(key)) return this.inner.put(key, body, options);
    const k = activeKey(s.ring);
    try {
      await this.inner.put(key, sealObject(key, k.id, k.key, body), options);
    } catch (e) {
      // sealing is not deterministic: a create-if-absent retry of our own write compares plaintexts
      if (!(options?.ifAbsent && isAlreadyExists(e))) throw e;
      const stored = await this.get(key).catch(() => null);
      if (!stored || !Buffer.from(body).equals(STATE_OBJECT.test(key) ? decryptObject(key, stored) : stored)) throw e;
    }
  }

  async openWriter(key: string): Promise<ObjectWriter> {
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

  async get(key: string): Promise<Buffer> {
    const bytes = await this.inner.get(key);
    const id = lineOf(key);
    if (!id || !isEncryptedObject(bytes)) return bytes;
    const s = await this.state(id, false);
    if (!s.encrypted)
      throw new IntegrityError(`${key} is encrypted but backup line ${id} has no key slots`, [key], {
        hint: 'the key slots under keys/ were deleted; restore them from a copy of the storage',
      });
    if (STATE_OBJECT.test(key)) return bytes;
    const k = s.ring.keys.find((x) => x.id === objectKeyId(bytes));
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

  load(key: string, range?: ByteRange, hints?: LoadHints) {
    return this.inner.load(key, range, hints);
  }
  stat(key: string): Promise<ObjectInfo> {
    return this.inner.stat(key);
  }
  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  // incomplete writes hold nothing readable; the inner backend's, when it has them
  get listIncomplete() {
    return incompleteOf(this.inner).listIncomplete;
  }
  get abortIncomplete() {
    return incompleteOf(this.inner).abortIncomplete;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The storage with its lines' encryption (transparent to callers; see the module comment). */
export function withEncryption(storage: StorageBackend, settings: EncryptionSettings = {}): StorageBackend {
  return new EncryptingStorage(storage, settings);
}
