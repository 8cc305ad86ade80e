/**
 * The Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the payload
 * (Protobuf puts its message indexes after the id; they stay as they are). Only the id is read
 * or replaced; its width is fixed, so a rewrite never moves a byte.
 */

export const WIRE_MAGIC = 0;
export const WIRE_HEADER = 5;

/** The schema id of a key or value in the wire format, or -1 when it is not in that format. */
export function schemaIdOf(b: Uint8Array | null, at = 0, len = b ? b.length - at : 0): number {
  if (!b || len < WIRE_HEADER || b[at] !== WIRE_MAGIC) return -1;
  return ((b[at + 1]! << 24) | (b[at + 2]! << 16) | (b[at + 3]! << 8) | b[at + 4]!) >>> 0;
}

export function writeSchemaId(b: Uint8Array, at: number, id: number): void {
  b[at + 1] = (id >>> 24) & 0xff;
  b[at + 2] = (id >>> 16) & 0xff;
  b[at + 3] = (id >>> 8) & 0xff;
  b[at + 4] = id & 0xff;
}
