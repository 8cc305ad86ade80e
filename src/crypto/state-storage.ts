/**
 * Restore state kept apart from the backup (`restore.state_url`, `--state-path`): restore plans,
 * offset maps and reports (`<backup_id>/restores/`), offset snapshots and applies
 * (`<backup_id>/offsets/`). For an encrypted line they reveal what the line's own metadata hides
 * (topic names and offsets of the restore, consumer group names), so they are sealed there too,
 * under the keys of the line they belong to: the state location has no key slots of its own and
 * needs none; whoever can unlock the line can read its restore state.
 *
 * Objects of a line that is not encrypted are stored as they are. A clear object here for an
 * encrypted line is refused (OBJECT_NOT_SEALED), as at the backup location: no released version
 * wrote one (docs/format.md, "Encrypted objects").
 */
import { IntegrityError } from '../errors.ts';
import type { ObjectWriter, PutOptions, StorageBackend } from '../storage/backend.ts';
import { isEncryptedObject } from './object.ts';
import { openSealed, putSealed, unsealedObject } from './sealed-io.ts';
import { lineKeyringOf } from './storage.ts';
import { lineOf, WrappedStorage } from './wrapped-storage.ts';

class LineSealedStateStorage extends WrappedStorage {
  private readonly line: StorageBackend;

  constructor(inner: StorageBackend, line: StorageBackend) {
    super(inner);
    this.line = line;
  }

  private async ring(key: string) {
    const id = lineOf(key);
    return id ? lineKeyringOf(this.line, id) : null;
  }

  override async put(key: string, body: Uint8Array, options?: PutOptions): Promise<void> {
    const ring = await this.ring(key);
    if (!ring) return this.inner.put(key, body, options);
    await putSealed(this.inner, key, ring, body, options, (k) => this.get(k));
  }

  override async get(key: string): Promise<Buffer> {
    const bytes = await this.inner.get(key);
    const ring = await this.ring(key);
    if (!isEncryptedObject(bytes)) {
      if (ring) throw unsealedObject(this.location, key, lineOf(key)!);
      return bytes;
    }
    if (!ring)
      throw new IntegrityError(
        `${this.location}/${key} is encrypted, but its backup line in ${this.line.location} is not`,
        [key],
        { hint: 'point --path / storage at the backup location this restore state belongs to' },
      );
    return openSealed(key, bytes, ring);
  }

  /** Restore state is small JSON, put and got whole: a streamed writer would bypass the sealing. */
  override async openWriter(key: string): Promise<ObjectWriter> {
    if (await this.ring(key))
      throw new Error(`internal: streamed write of ${key} to an encrypted line's restore state`);
    return this.inner.openWriter(key);
  }
}

/** The restore state location, sealing each object under the keys of its line in `line` (the backup storage). */
export function withLineEncryptionOf(state: StorageBackend, line: StorageBackend): StorageBackend {
  return new LineSealedStateStorage(state, line);
}
