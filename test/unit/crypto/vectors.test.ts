/**
 * Golden vectors of the encryption format (after kopia's per-algorithm test vectors): fixed
 * inputs, and outputs computed once by an independent implementation (Python's `cryptography`
 * 48: AESGCM and HKDF), never by this code. A change to the cipher, the nonce layout, the HKDF
 * purposes or the envelope layout breaks them, and with them every line already written.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuthenticationError, counterNonce, deriveKey, open, seal } from '../../../src/crypto/aead.ts';
import { blockOpener } from '../../../src/crypto/blocks.ts';
import { registerKeyring } from '../../../src/crypto/keyring.ts';
import { openObject } from '../../../src/crypto/object.ts';

const mk = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const salt = Buffer.from(Array.from({ length: 32 }, (_, i) => 32 + i));

describe('golden vectors', () => {
  test('AES-256-GCM, counter nonce 5', () => {
    const want = 'f3c0a409a293f72c0b393c8165903a8e7f6149d6071e571947ade2600537900dab572fbc03130dee239d';
    const sealed = seal(mk, counterNonce(5), Buffer.from('kafka-backup golden vector'), Buffer.from('aad'));
    assert.equal(sealed.toString('hex'), want);
    assert.equal(open(mk, counterNonce(5), sealed, Buffer.from('aad')).toString(), 'kafka-backup golden vector');
  });

  test('HKDF-SHA256 data file key', () => {
    assert.equal(
      deriveKey(mk, salt, 'data-file').toString('hex'),
      'a88c0406429c797e6e3180f15b7411383ae738fabd019bede4e65d80cbe26fae',
    );
  });

  test('encrypted metadata object', () => {
    const env = Buffer.from(
      '4b42454e43000001096d6b2d676f6c64656e202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f7e7ee2c8eedd9bbe00fd2d74eee38ae48405436945a0cd47274466f2ed9f56',
      'hex',
    );
    assert.equal(openObject('line/log/0000000001.json.zst', mk, env).toString(), '{"golden":true}');
    // the storage key is authenticated: the same bytes under another key do not open
    assert.throws(() => openObject('line/log/0000000002.json.zst', mk, env), AuthenticationError);
  });

  test('encrypted data block 3', () => {
    registerKeyring({ backup_id: 'golden', keys: [{ id: 'mk-golden', key: mk, created_at: '' }] });
    const opener = blockOpener('f.kbs', {
      type: 'encryption',
      name: 'aes-256-gcm',
      key_id: 'mk-golden',
      salt: salt.toString('base64'),
    });
    const aad = Buffer.from(Array.from({ length: 56 }, (_, i) => 100 + i));
    const stored = Buffer.from('0c1e6032826b7f618ed4830637f7ded32d4372f438c9a2bd44bdffa781b1351c1fbc6b38a545', 'hex');
    assert.equal(opener.open(3, stored, aad).toString(), 'compressed block bytes');
    assert.throws(() => opener.open(2, stored, aad), AuthenticationError, 'another block number');
  });
});
