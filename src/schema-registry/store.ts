/**
 * The capture as an object of the backup line, `<backup_id>/schema-registry/<snapshot id>/<time>.json`,
 * written create-if-absent (sealed like every other metadata object when the line is encrypted:
 * the storage wrapper does it) and referenced by the snapshot with the SHA-256 of its bytes.
 */
import { createHash } from 'node:crypto';
import { IntegrityError } from '../errors.ts';
import type { StorageBackend } from '../storage/backend.ts';
import type { CaptureRef, RegistryCapture } from './types.ts';

export const captureKey = (backupId: string, snapshotId: string, at: string) =>
  `${backupId}/schema-registry/${snapshotId}/${at.replace(/[:.]/g, '')}.json`;

export async function writeCapture(storage: StorageBackend, backupId: string, c: RegistryCapture): Promise<CaptureRef> {
  const bytes = Buffer.from(JSON.stringify(c, null, 1));
  const key = captureKey(backupId, c.snapshot_id, c.captured_at);
  await storage.put(key, bytes, { ifAbsent: true });
  let schemas = 0;
  for (const s of Object.values(c.subjects)) schemas += s.versions.length;
  return {
    key,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    subjects: Object.keys(c.subjects).length,
    schemas,
  };
}

/**
 * What a capture says, without when it was taken: two captures with the same digest hold the
 * same registry state, so a continuous run keeps referencing the object it already wrote.
 */
export function stateDigest(c: RegistryCapture): string {
  const { captured_at: _, ...state } = c;
  return createHash('sha256').update(JSON.stringify(state)).digest('hex');
}

/** Reads and checks a capture; a digest mismatch or foreign object is an integrity error (exit 3). */
export async function readCapture(storage: StorageBackend, ref: CaptureRef): Promise<RegistryCapture> {
  const bytes = await storage.get(ref.key);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== ref.sha256)
    throw new IntegrityError(`schema registry capture ${ref.key} does not match its recorded SHA-256`, [ref.key], {
      hint: "the object was changed or damaged; run 'kafka-backup validate' and restore it from a copy",
    });
  const doc = JSON.parse(bytes.toString('utf8')) as RegistryCapture;
  if (doc.format !== 'kafka-backup/schema-registry')
    throw new IntegrityError(`${ref.key} is not a schema registry capture`, [ref.key]);
  return doc;
}
