/**
 * The Confluent wire format, written from its spec for the Schema Registry tests (none of our
 * src/ code): byte 0 is the magic 0, bytes 1-4 the schema id (big-endian), then for Protobuf the
 * message indexes (which message of the .proto file: a zigzag varint count, then one zigzag
 * varint per nesting level; the common [0] is written as the single byte 0), then the payload.
 * Also the canonical JSON form decoded values are compared in.
 */
function zigzagVarint(n: number): number[] {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  const out: number[] = [];
  while (z >= 0x80) {
    out.push((z & 0x7f) | 0x80);
    z = Math.floor(z / 128);
  }
  out.push(z);
  return out;
}

/**
 * Magic byte 0, the 4-byte big-endian schema id, for Protobuf the message indexes (pass them,
 * e.g. [1] or [1, 0]; [0] is written as the single byte 0), then the payload.
 */
export function encodeConfluent(schemaId: number, payload: Uint8Array, messageIndexes?: number[]): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(0, 0);
  head.writeUInt32BE(schemaId, 1);
  let indexes: number[] = [];
  if (messageIndexes !== undefined) {
    indexes =
      messageIndexes.length === 1 && messageIndexes[0] === 0
        ? [0]
        : [...zigzagVarint(messageIndexes.length), ...messageIndexes.flatMap(zigzagVarint)];
  }
  return Buffer.concat([head, Buffer.from(indexes), Buffer.from(payload)]);
}

export interface WireRecord {
  schemaId: number;
  /** The rest after the id (for Protobuf: message indexes, then payload). */
  body: Buffer;
}

/** Splits magic byte and id off; null when the bytes are not in the wire format. */
export function parseConfluent(bytes: Buffer): WireRecord | null {
  if (bytes.length < 5 || bytes[0] !== 0) return null;
  return { schemaId: bytes.readUInt32BE(1), body: bytes.subarray(5) };
}

/** Reads the Protobuf message indexes at the start of body; returns them and the payload. */
export function readMessageIndexes(body: Buffer): { indexes: number[]; payload: Buffer } {
  let pos = 0;
  const next = (): number => {
    let result = 0;
    let shift = 1;
    for (;;) {
      const b = body[pos++];
      if (b === undefined) throw new Error('truncated message indexes');
      result += (b & 0x7f) * shift;
      if ((b & 0x80) === 0) break;
      shift *= 128;
    }
    return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
  };
  const count = next();
  if (count === 0) return { indexes: [0], payload: body.subarray(pos) };
  if (count < 0 || count > 100) throw new Error(`invalid message index count ${count}`);
  const indexes: number[] = [];
  for (let i = 0; i < count; i++) indexes.push(next());
  return { indexes, payload: body.subarray(pos) };
}

/** Canonical values: plain JSON, keys sorted, bytes as {"$bytes": hex}, bigints as strings. */
export function canonical(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('hex') };
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = canonical((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}
