/** Reads exact byte counts from a stream of chunks, keeping at most one pending chunk list. */
export class ByteReader {
  private readonly it: AsyncIterator<Buffer>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;
  /** Every byte handed out, in order, is passed here (e.g. to a running hash). */
  private readonly onBytes: ((b: Buffer) => void) | undefined;
  position = 0;

  constructor(source: AsyncIterable<Buffer | Uint8Array>, onBytes?: (b: Buffer) => void) {
    this.it = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    this.onBytes = onBytes;
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else {
        const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
        this.chunks.push(b);
        this.buffered += b.length;
      }
    }
    return this.buffered >= n;
  }

  /**
   * Exactly n bytes, or null at a clean end of stream; throws on a truncated read. Bytes that
   * span chunks are copied into `into` when it is given and large enough (the result is then a
   * view of it, valid until the caller reuses it), else into a new Buffer.
   */
  async read(n: number, into?: Buffer): Promise<Buffer | null> {
    if (n === 0) return Buffer.alloc(0);
    if (!(await this.fill(n))) {
      if (this.buffered === 0) return null;
      throw new TruncatedError(
        `stream ended after ${this.position + this.buffered} bytes, expected ${n - this.buffered} more`,
      );
    }
    let out: Buffer;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = into && into.length >= n ? into.subarray(0, n) : Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.chunks[0]!;
        const take = Math.min(c.length, n - off);
        c.copy(out, off, 0, take);
        off += take;
        if (take === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(take);
      }
    }
    this.buffered -= n;
    this.position += n;
    this.onBytes?.(out);
    return out;
  }

  async readExact(n: number, what: string, into?: Buffer): Promise<Buffer> {
    const b = await this.read(n, into);
    if (!b) throw new TruncatedError(`unexpected end of file reading ${what}`);
    return b;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }
}

export class TruncatedError extends Error {}
