/**
 * Signed JSON objects: a JSON body, a newline, and a trailer line `#sha256:<hex of the body>`.
 * Every metadata object of a backup line (v1 manifests, v2 commits, checkpoints, indexes,
 * chunks, the head) uses it, so a reader verifies an object before trusting any of it.
 */
import { createHash } from 'node:crypto';

const TRAILER = /\n#sha256:([0-9a-f]{64})\n$/;

export class SignedObjectError extends Error {
  readonly key: string;
  constructor(key: string, detail: string) {
    super(`${key} is corrupt: ${detail}`);
    this.key = key;
  }
}

/** Encodes `value`; `indent` pretty-prints (v1 manifests), v2 objects are compact. */
export function encodeSigned(value: unknown, indent?: number): Buffer {
  const body = Buffer.from(JSON.stringify(value, null, indent));
  return Buffer.concat([body, Buffer.from(`\n#sha256:${sha256Hex(body)}\n`)]);
}

/** Verifies the trailer, parses the body. Throws SignedObjectError naming `key`. */
export function decodeSigned<T>(key: string, bytes: Buffer): T {
  const m = TRAILER.exec(bytes.subarray(Math.max(0, bytes.length - 80)).toString('latin1'));
  if (!m) throw new SignedObjectError(key, 'missing or malformed digest trailer');
  const body = bytes.subarray(0, bytes.length - m[0].length);
  if (sha256Hex(body) !== m[1]) throw new SignedObjectError(key, 'SHA-256 digest does not match its content');
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch (e) {
    throw new SignedObjectError(key, `invalid JSON (${(e as Error).message})`);
  }
}

/** The digest a signed object's trailer carries (not verified). */
export function signedDigest(bytes: Buffer): string | null {
  return TRAILER.exec(bytes.subarray(Math.max(0, bytes.length - 80)).toString('latin1'))?.[1] ?? null;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
