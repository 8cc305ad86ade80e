/**
 * The envelope: key slots (raw and passphrase providers), the storage layer that seals a line's
 * objects, and encrypted data files, on a real directory.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AuthenticationError, counterNonce, open, randomKey, seal, sealPieces } from '../../../src/crypto/aead.ts';
import { newMasterKey } from '../../../src/crypto/keyring.ts';
import { isEncryptedObject } from '../../../src/crypto/object.ts';
import { kekFor, newKek, parseRawKey } from '../../../src/crypto/providers.ts';
import { encryptionSettings } from '../../../src/crypto/settings.ts';
import { makeSlot, openSlot } from '../../../src/crypto/slots.ts';
import { withEncryption } from '../../../src/crypto/storage.ts';
import { ConfigError, IntegrityError, KeyError } from '../../../src/errors.ts';
import { readSegment, SegmentCorruptError, type SegmentHeader, SegmentWriter } from '../../../src/format/segment.ts';
import { FilesystemBackend } from '../../../src/storage/filesystem.ts';
import { tempDir } from '../../helpers/cli.ts';

const raw = (key: Buffer) => ({ type: 'raw' as const, key, from: 'test' });

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

/** The header of a data file of partition t-0 of line `backupId`, blocks stored uncompressed. */
function uncompressedHeader(backupId: string): SegmentHeader {
  return {
    format: 'kafka-backup/segment',
    version: 1,
    backup_id: backupId,
    run_id: 'r',
    topic: 't',
    topic_id: 'id',
    partition: 0,
    codec_chain: [{ type: 'compression', name: 'none' }],
    created_at: '',
  };
}

const meta = { firstOffset: 0, lastOffset: 0, recordCount: 1, batchCount: 1, minTimestamp: 1, maxTimestamp: 1 };

async function collect(it: AsyncGenerator<{ raw: Buffer }, unknown>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const b of it) out.push(b.raw);
  return out;
}

describe('raw keys', () => {
  test('32 bytes, hex and base64 are accepted; anything else is a KeyError', () => {
    const k = randomKey();
    assert.deepEqual(parseRawKey(k, 'x'), k);
    assert.deepEqual(parseRawKey(Buffer.from(`${k.toString('hex')}\n`), 'x'), k);
    assert.deepEqual(parseRawKey(Buffer.from(k.toString('base64')), 'x'), k);
    assert.throws(
      () => parseRawKey(Buffer.from('short'), 'file f'),
      (e: Error) => e instanceof KeyError && /file f/.test(e.message) && !/short/.test(e.message),
    );
  });
});

describe('key slots', () => {
  test('a slot opens with its key only, and a changed field breaks it', async () => {
    const ring = { backup_id: 'l', keys: [newMasterKey()] };
    const kek = randomKey();
    const slot = makeSlot('s1', { type: 'raw' }, kek, ring);
    assert.deepEqual(openSlot(slot, kek).keys[0]!.key, ring.keys[0]!.key);
    assert.throws(() => openSlot(slot, randomKey()), AuthenticationError);
    assert.throws(() => openSlot({ ...slot, master_keys: ['mk-other'] }, kek), AuthenticationError);
    assert.throws(() => openSlot({ ...slot, backup_id: 'other' }, kek), AuthenticationError);
  });

  test('passphrase slots keep their scrypt parameters and derive the same key again', async () => {
    const source = { type: 'passphrase' as const, passphrase: 'correct horse', from: 'test', logN: 14 };
    const { kek, provider } = await newKek(source, 'l', 'p1');
    assert.equal(provider.type, 'passphrase');
    assert.equal(provider.type === 'passphrase' && provider.log_n, 14);
    const slot = makeSlot('p1', provider, kek, { backup_id: 'l', keys: [newMasterKey()] });
    assert.deepEqual(await kekFor(source, slot), kek);
    assert.notDeepEqual(await kekFor({ ...source, passphrase: 'wrong' }, slot), kek);
    assert.equal(await kekFor(raw(kek), slot), null, 'a raw key is not tried on a passphrase slot');
  });
});

describe('encrypted storage', () => {
  test('a new line gets a slot; its objects and data blocks are sealed; readers need the key', async () => {
    const dir = tempDir('enc');
    const key = randomKey();
    const fs = new FilesystemBackend({ path: dir });
    const enc = withEncryption(fs, { source: raw(key), create: true });
    const secret = Buffer.from('the-secret-record-value '.repeat(20));
    await enc.put('line/log/0000000001.json.zst', secret, { ifAbsent: true });
    await enc.put('line/consumer-offsets/s/1.json', secret);
    await enc.put('line/head.json', Buffer.from('{"clear":true}'));
    // a retried create-if-absent of the same content is our own write, not a conflict
    await enc.put('line/consumer-offsets/s/1.json', secret, { ifAbsent: true });
    await assert.rejects(
      enc.put('line/consumer-offsets/s/1.json', Buffer.from('other'), { ifAbsent: true }),
      (e: Error & { storageKind?: string }) => e.storageKind === 'already-exists',
    );

    const w = new SegmentWriter(
      await enc.openWriter('line/data/t/0/f.kbs'),
      'line/data/t/0/f.kbs',
      uncompressedHeader('line'),
    );
    await w.appendBlock(secret, meta);
    await w.appendBlock(secret, { ...meta, firstOffset: 1, lastOffset: 1 });
    const summary = await w.finish();

    for (const f of files(dir)) {
      const bytes = readFileSync(f);
      assert.equal(bytes.includes(Buffer.from('the-secret-record-value')), false, `${f} holds the plaintext`);
    }
    assert.ok(isEncryptedObject(readFileSync(join(dir, 'line/consumer-offsets/s/1.json'))));
    assert.equal(readFileSync(join(dir, 'line/head.json'), 'utf8'), '{"clear":true}');
    assert.deepEqual(await enc.get('line/consumer-offsets/s/1.json'), secret);

    const blocks = await collect(
      readSegment('line/data/t/0/f.kbs', await fs.load('line/data/t/0/f.kbs'), {
        expected: { size: summary.size, crc32c: summary.checksum.value },
      }),
    );
    assert.deepEqual(blocks, [secret, secret]);

    // a flipped payload byte (CRC fixed up by nobody) is found by the CRC; swap two blocks' payloads and the tag fails
    const path = join(dir, 'line/data/t/0/f.kbs');
    const bytes = readFileSync(path);
    const size = statSync(path).size;
    assert.equal(size, summary.size);
    const first = bytes.indexOf(Buffer.from('KBBK'));
    const second = bytes.indexOf(Buffer.from('KBBK'), first + 4);
    // the footer's index points at each block header (a sealed block's tag goes out with the next write)
    const footerAt = Number(bytes.readBigUInt64BE(bytes.length - 16));
    const footer = JSON.parse(
      bytes.subarray(footerAt + 8, footerAt + 8 + bytes.readUInt32BE(footerAt + 4)).toString('utf8'),
    ) as { blocks: { position: number; storedLength: number }[] };
    assert.deepEqual(
      footer.blocks.map((b) => b.position),
      [first, second],
    );
    assert.equal(second, first + 64 + footer.blocks[0]!.storedLength);
    assert.equal(footerAt, second + 64 + footer.blocks[1]!.storedLength);
    const swapped = Buffer.from(bytes);
    // block 1's header and payload in block 0's place: same CRCs, wrong nonce
    bytes.copy(swapped, first, second, second + (second - first));
    writeFileSync(join(dir, 'swapped.kbs'), swapped);
    await assert.rejects(
      collect(readSegment('swapped.kbs', await fs.load('swapped.kbs'))),
      (e: Error) => e instanceof SegmentCorruptError && /authentication tag/.test(e.message),
    );

    // a reader with another key, or none, gets a KeyError and writes nothing
    const before = files(dir).length;
    for (const settings of [{}, { source: raw(randomKey()) }]) {
      const other = withEncryption(new FilesystemBackend({ path: dir }), settings);
      await assert.rejects(other.get('line/consumer-offsets/s/1.json'), KeyError);
      await assert.rejects(other.put('line/lease.json', Buffer.from('{}')), KeyError);
      await assert.rejects(other.openWriter('line/data/t/0/g.kbs'), KeyError);
    }
    assert.equal(files(dir).length, before);
  });

  test('a block handed over in pieces is sealed piece by piece into the same bytes as when whole', async () => {
    const key = randomKey();
    const nonce = counterNonce(7);
    const aad = Buffer.from('header');
    const message = Buffer.from('0123456789abcdef'.repeat(1000) + 'odd tail');
    const pieces = [message.subarray(0, 5), message.subarray(5, 4096), message.subarray(4096)];
    const [sealed, tag] = sealPieces(key, nonce, pieces, aad);
    assert.deepEqual(
      sealed.map((p) => p.length),
      pieces.map((p) => p.length),
    );
    assert.deepEqual(Buffer.concat([...sealed, tag]), seal(key, nonce, message, aad));
    assert.deepEqual(open(key, nonce, Buffer.concat([...sealed, tag]), aad), message);

    // through an encrypted data file: the block reads back whole, and its payload CRC covers the pieces
    const dir = tempDir('enc-pieces');
    const fs = new FilesystemBackend({ path: dir });
    const enc = withEncryption(fs, { source: raw(key), create: true });
    const w = new SegmentWriter(
      await enc.openWriter('line/data/t/0/p.kbs'),
      'line/data/t/0/p.kbs',
      uncompressedHeader('line'),
    );
    await w.appendCompressed(pieces, message.length, meta);
    await w.appendCompressed(message, message.length, { ...meta, firstOffset: 1, lastOffset: 1 });
    const summary = await w.finish();
    const blocks = await collect(
      readSegment('line/data/t/0/p.kbs', await fs.load('line/data/t/0/p.kbs'), {
        expected: { size: summary.size, crc32c: summary.checksum.value },
      }),
    );
    assert.deepEqual(blocks, [message, message]);
  });

  test('a clear object or a data file with clear blocks planted in an encrypted line is refused', async () => {
    const dir = tempDir('enc');
    const fs = new FilesystemBackend({ path: dir });
    const enc = withEncryption(fs, { source: raw(randomKey()), create: true });
    await enc.put('line/log/0000000001.json.zst', Buffer.from('sealed'), { ifAbsent: true });
    await fs.put('line/consumer-offsets/s/1.json', Buffer.from('{"format":"kafka-backup/consumer-offsets"}'));
    await assert.rejects(
      enc.get('line/consumer-offsets/s/1.json'),
      (e: Error & { code?: string }) =>
        e instanceof IntegrityError &&
        e.code === 'OBJECT_NOT_SEALED' &&
        e.files[0] === 'line/consumer-offsets/s/1.json',
    );
    // the same object on an unencrypted line is read as it is
    await fs.put('plain/consumer-offsets/s/1.json', Buffer.from('{}'));
    assert.equal((await enc.get('plain/consumer-offsets/s/1.json')).toString(), '{}');

    // a data file written past the encryption layer: valid, but its blocks are clear
    for (const id of ['line', 'plain']) {
      const key = `${id}/data/t/0/f.kbs`;
      const w = new SegmentWriter(await fs.openWriter(key), key, uncompressedHeader(id));
      await w.appendBlock(Buffer.from('clear'), meta);
      await w.finish();
    }
    await assert.rejects(
      collect(readSegment('line/data/t/0/f.kbs', await enc.load('line/data/t/0/f.kbs'))),
      (e: Error) =>
        e instanceof SegmentCorruptError && /blocks are not encrypted, but its backup line is/.test(e.message),
    );
    assert.deepEqual(await collect(readSegment('plain/data/t/0/f.kbs', await enc.load('plain/data/t/0/f.kbs'))), [
      Buffer.from('clear'),
    ]);
  });

  test('a line that must be encrypted and exists in clear is refused by readers; other lines are read', async () => {
    const dir = tempDir('enc-required');
    const fs = new FilesystemBackend({ path: dir });
    await fs.put('line/head.json', Buffer.from('{}'));
    await fs.put('line/maintenance.json', Buffer.from('{"clear":true}'));
    await fs.put('other/head.json', Buffer.from('{}'));
    await fs.put('other/maintenance.json', Buffer.from('{"clear":true}'));
    const key = { source: raw(randomKey()) };
    // no requirement: a clear line is read as such
    assert.deepEqual(await withEncryption(fs, key).get('line/maintenance.json'), Buffer.from('{"clear":true}'));
    const one = withEncryption(fs, { ...key, required: { line: 'line', because: 'the test says so' } });
    await assert.rejects(
      one.get('line/maintenance.json'),
      (e: Error & { code?: string }) =>
        e instanceof ConfigError &&
        e.code === 'NOT_ENCRYPTED' &&
        /exists and is not encrypted.*the test says so/.test(e.message),
    );
    assert.deepEqual(await one.get('other/maintenance.json'), Buffer.from('{"clear":true}'));
    const every = withEncryption(fs, {
      ...key,
      required: { line: 'every line', because: 'KB_ENCRYPTION_REQUIRED is set' },
    });
    await assert.rejects(every.get('other/maintenance.json'), /exists and is not encrypted/);
    // a line that does not exist yet is not refused: there is nothing in clear to trust
    await assert.rejects(
      every.get('new/maintenance.json'),
      (e: Error & { storageKind?: string }) => e.storageKind === 'not-found',
    );
  });

  test('the requirement comes from backup.encryption.enabled for the config line, or KB_ENCRYPTION_REQUIRED', () => {
    const config = { enabled: true, provider: 'raw' as const, key_env: 'K', scrypt_log_n: 17 };
    const env = { K: randomKey().toString('hex') };
    assert.deepEqual(encryptionSettings(config, env, 'orders').required, {
      line: 'orders',
      because: 'backup.encryption.enabled is true for it',
    });
    assert.equal(encryptionSettings({ ...config, enabled: false }, env, 'orders').required, undefined);
    assert.equal(encryptionSettings(undefined, env).required, undefined);
    assert.equal(encryptionSettings(undefined, { ...env, KB_ENCRYPTION_REQUIRED: '1' }).required?.line, 'every line');
  });

  test('an existing unencrypted line is not turned into an encrypted one', async () => {
    const dir = tempDir('enc');
    const fs = new FilesystemBackend({ path: dir });
    await fs.put('line/head.json', Buffer.from('{}'));
    const enc = withEncryption(fs, { source: raw(randomKey()), create: true });
    await assert.rejects(enc.put('line/log/0000000002.json.zst', Buffer.from('x')), /exists and is not encrypted/);
  });
});
