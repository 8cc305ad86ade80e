/**
 * AES-256-GCM from node:crypto, and HKDF-SHA256 key derivation: the only cipher the format uses.
 *
 * Nonces are never random under a long-lived key: every message is sealed under a key of its own
 * (derived from the line's master key and a fresh 256-bit salt, see `deriveKey`), and within such
 * a key the nonce is a counter (the block index of a data file; 0 for a metadata object or a key
 * slot). So a (key, nonce) pair can only repeat if two 256-bit random salts collide.
 */
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, type KeyObject, randomBytes } from 'node:crypto';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const SALT_BYTES = 32;

/** Authentication failed: the bytes were changed, or they were sealed under another key. */
export class AuthenticationError extends Error {
  constructor() {
    super('authentication tag does not match (the bytes were changed, or were encrypted with another key)');
  }
}

/** The nonce of message number `counter` under a per-message key: 4 zero bytes, then a u64. */
export function counterNonce(counter: number): Buffer {
  const n = Buffer.alloc(NONCE_BYTES);
  n.writeUInt32BE(Math.floor(counter / 2 ** 32), 4);
  n.writeUInt32BE(counter >>> 0, 8);
  return n;
}

/** A key many messages are sealed or opened under (a data file's): prepared for OpenSSL once, not per block. */
export function preparedKey(key: Uint8Array): KeyObject {
  return createSecretKey(key);
}

type Key = Uint8Array | KeyObject;

/**
 * [ciphertext pieces, tag]: a message given in pieces (a zstd frame as the compressor handed it
 * out) is sealed piece by piece, so it is never joined into one buffer first. GCM is a counter
 * mode: the pieces' ciphertexts, concatenated, are exactly the ciphertext of the joined message.
 */
export function sealPieces(
  key: Key,
  nonce: Uint8Array,
  pieces: readonly Uint8Array[],
  aad: Uint8Array,
): [Buffer[], Buffer] {
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  c.setAAD(aad);
  const out = pieces.map((p) => c.update(p));
  // GCM's final() returns nothing; kept for a cipher that would
  const tail = c.final();
  if (tail.length) out.push(tail);
  return [out, c.getAuthTag()];
}

/** [ciphertext, tag]: the two parts of a sealed message, so a writer can emit them without a copy. */
export function sealParts(key: Key, nonce: Uint8Array, plain: Uint8Array, aad: Uint8Array): [Buffer, Buffer] {
  const [out, tag] = sealPieces(key, nonce, [plain], aad);
  return [out.length === 1 ? out[0]! : Buffer.concat(out), tag];
}

/** ciphertext || tag */
export function seal(key: Key, nonce: Uint8Array, plain: Uint8Array, aad: Uint8Array): Buffer {
  return Buffer.concat(sealParts(key, nonce, plain, aad));
}

/** Inverse of seal; throws AuthenticationError. */
export function open(key: Key, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer {
  if (sealed.length < TAG_BYTES) throw new AuthenticationError();
  const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const head = d.update(sealed.subarray(0, sealed.length - TAG_BYTES));
  let tail: Buffer;
  try {
    tail = d.final();
  } catch {
    throw new AuthenticationError();
  }
  // GCM's final() returns nothing: skip a copy of the whole block
  return tail.length ? Buffer.concat([head, tail]) : head;
}

/** HKDF-SHA256(ikm = master key, salt, info = purpose) → a 256-bit key for one file or object. */
export function deriveKey(masterKey: Uint8Array, salt: Uint8Array, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, salt, `kafka-backup/${purpose}`, KEY_BYTES));
}

export function randomKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

export function randomSalt(): Buffer {
  return randomBytes(SALT_BYTES);
}
