/**
 * When a new encrypted line gets its first key slot: with its first sealed metadata object, not
 * with the lease or its data files, so a run that stops before it commits leaves no slot (and the
 * data files it wrote do not make the line "exist"). On a real directory.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { randomKey } from '../../../src/crypto/aead.ts';
import { listSlots } from '../../../src/crypto/slots.ts';
import { withEncryption } from '../../../src/crypto/storage.ts';
import { unlockLine } from '../../../src/crypto/unlock.ts';
import { FilesystemBackend } from '../../../src/storage/filesystem.ts';

const raw = (key: Buffer) => ({ type: 'raw' as const, key, from: 'test' });

describe('the first key slot of a new line', () => {
  test('is written with the first sealed metadata object; data files and the lease alone leave none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kb-first-slot-'));
    const fs = new FilesystemBackend({ path: dir });
    const a = withEncryption(fs, { create: true, source: raw(randomKey()) });
    await a.put('line/lease.json', Buffer.from('{}'));
    const w = await a.openWriter('line/data/t/0/f.kbs');
    await w.write(Buffer.from('data file bytes'));
    await w.commit();
    assert.equal(existsSync(join(dir, 'line/keys')), false, 'no slot before anything sealed is written');

    // the run stopped there; another run with another key begins the line
    const keyB = randomKey();
    const b = withEncryption(fs, { create: true, source: raw(keyB) });
    await b.put('line/consumer-offsets/s/1.json', Buffer.from('first capture'));
    const slots = await listSlots(fs, 'line');
    assert.deepEqual(
      slots.slots.map((s) => s.id),
      ['raw-1'],
    );
    const u = await unlockLine(fs, 'line', raw(keyB));
    assert.equal(u.slot.id, 'raw-1');
    assert.deepEqual(await b.get('line/consumer-offsets/s/1.json'), Buffer.from('first capture'));
  });
});
