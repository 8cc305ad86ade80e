/**
 * Probe: does this storage honour create-if-absent writes?
 *
 * A backup line's fencing rests on them: commits are written create-if-absent with consecutive
 * numbers (src/repository/line.ts), so of two writers only one can write number N. Some
 * S3-compatible servers (and proxies or gateways that drop the If-None-Match header) accept
 * the condition and ignore it: both writers then "win", the later commit silently replaces the
 * earlier one, and the files it listed are lost from the line. Nothing else would notice.
 *
 * The probe writes `<backup_id>/.probe/<random>` twice with ifAbsent (different bytes); the
 * second write must fail with 'already-exists'. Then it deletes the object. Costs three
 * requests at the start of every command that writes a line (backup, migrate).
 */
import { randomBytes } from 'node:crypto';
import { isAlreadyExists, StorageError } from '../errors.ts';
import { logger } from '../util/log.ts';
import type { StorageBackend } from './backend.ts';

const log = logger('storage');

export const CONDITIONAL_WRITES_IGNORED = 'STORAGE_NO_CONDITIONAL_WRITES';

export async function probeConditionalWrites(storage: StorageBackend, backupId: string): Promise<void> {
  const key = `${backupId}/.probe/${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
  const body = (n: number) =>
    Buffer.from(`${JSON.stringify({ probe: 'create-if-absent', write: n, at: new Date().toISOString() })}\n`);
  await storage.put(key, body(1), { ifAbsent: true });
  let ignored = false;
  try {
    await storage.put(key, body(2), { ifAbsent: true });
    ignored = true;
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
  } finally {
    await storage.delete(key).catch((e) => log.warn('could not delete the storage probe object', { key, error: e }));
  }
  if (ignored)
    throw new StorageError(
      `${storage.location} ignores create-if-absent writes: a second conditional write of ${key} replaced the first instead of failing. Two runs writing backup line ${backupId} could then both commit, and one's data would be lost without an error, so this storage is refused`,
      'permanent',
      {
        code: CONDITIONAL_WRITES_IGNORED,
        hint: 'use storage that honours conditional writes (S3 PutObject with If-None-Match: *, Azure and GCS preconditions, a local filesystem); with an S3-compatible server, check that it supports If-None-Match on PutObject and that no proxy or gateway in front of it drops the header (docs/storage.md, "Conditional writes")',
      },
    );
}
