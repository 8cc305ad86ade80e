/**
 * A line's master keys. A line has one keyring: the list of master keys it was ever written
 * with, oldest first; the newest seals what is written from now on, the older ones are kept so
 * that files written before a `key rotate` stay readable. Key slots (slots.ts) each hold the
 * whole keyring, sealed under a key-encryption key.
 *
 * Unlocked master keys are also registered here by id, process-wide: a data file names the
 * master key it was sealed under (`key_id` of its encryption step), and the segment reader looks
 * it up without knowing which line or location the file came from. Ids are random (96 bits), so
 * keys of different lines never collide.
 */
import { randomBytes } from 'node:crypto';
import { randomKey } from './aead.ts';

export interface MasterKey {
  id: string;
  key: Buffer;
  created_at: string;
}

export interface Keyring {
  backup_id: string;
  /** Oldest first; the last one is the active key. */
  keys: MasterKey[];
}

interface KeyringJson {
  format: 'kafka-backup/keyring';
  version: 1;
  backup_id: string;
  keys: { id: string; key: string; created_at: string }[];
}

export function newMasterKey(): MasterKey {
  return { id: `mk-${randomBytes(12).toString('hex')}`, key: randomKey(), created_at: new Date().toISOString() };
}

export function activeKey(ring: Keyring): MasterKey {
  const k = ring.keys.at(-1);
  if (!k) throw new Error('internal: empty keyring');
  return k;
}

export function encodeKeyring(ring: Keyring): Buffer {
  const j: KeyringJson = {
    format: 'kafka-backup/keyring',
    version: 1,
    backup_id: ring.backup_id,
    keys: ring.keys.map((k) => ({ id: k.id, key: k.key.toString('base64'), created_at: k.created_at })),
  };
  return Buffer.from(JSON.stringify(j));
}

export function decodeKeyring(bytes: Buffer): Keyring {
  const j = JSON.parse(bytes.toString('utf8')) as KeyringJson;
  if (j.format !== 'kafka-backup/keyring' || j.version !== 1) throw new Error(`not a keyring (${String(j.format)})`);
  return {
    backup_id: j.backup_id,
    keys: j.keys.map((k) => ({ id: k.id, key: Buffer.from(k.key, 'base64'), created_at: k.created_at })),
  };
}

const registry = new Map<string, Buffer>();
const encryptedLines = new Set<string>();

export function registerKeyring(ring: Keyring): void {
  for (const k of ring.keys) registry.set(k.id, k.key);
  encryptedLines.add(ring.backup_id);
}

/**
 * Whether the backup line of storage key `key` (its first path segment) was unlocked in this
 * process as an encrypted line: a data file of it whose blocks are not sealed was not written by
 * this tool and is refused. By backup id alone, as the master key lookup is by key id: a process
 * reads one location's lines (restore state elsewhere has no data files).
 */
export function isEncryptedLineKey(key: string): boolean {
  const i = key.indexOf('/');
  return i > 0 && encryptedLines.has(key.slice(0, i));
}

/** An unlocked master key by id, or undefined when no keyring holding it was unlocked in this process. */
export function lookupMasterKey(id: string): Buffer | undefined {
  return registry.get(id);
}
