/**
 * A partition's records section as the raw fetch parser hands it to a backup: views of the
 * response's socket chunks, in order, not copied into one buffer (src/kafka/fetch-raw-v17.ts).
 * Read front to back: positions passed to view/copyTo never go backwards.
 */
export class RecordChunks {
  private readonly chunks: readonly Buffer[];
  readonly length: number;
  /** The chunk the last position fell in, and where it starts in the section. */
  private index = 0;
  private start = 0;

  constructor(chunks: readonly Buffer[]) {
    this.chunks = chunks;
    let n = 0;
    for (const c of chunks) n += c.length;
    this.length = n;
  }

  private seek(pos: number): void {
    while (this.index < this.chunks.length - 1 && pos >= this.start + this.chunks[this.index]!.length) {
      this.start += this.chunks[this.index]!.length;
      this.index++;
    }
  }

  /** [pos, pos + length) as a view when it lies in one chunk, otherwise null. */
  view(pos: number, length: number): Buffer | null {
    this.seek(pos);
    const c = this.chunks[this.index]!;
    const at = pos - this.start;
    return at + length <= c.length ? c.subarray(at, at + length) : null;
  }

  /** Copies [pos, pos + length) to dst at dstPos. */
  copyTo(pos: number, length: number, dst: Buffer, dstPos: number): void {
    this.seek(pos);
    let i = this.index;
    let at = pos - this.start;
    let done = 0;
    while (done < length) {
      const c = this.chunks[i]!;
      const n = Math.min(c.length - at, length - done);
      c.copy(dst, dstPos + done, at, at + n);
      done += n;
      i++;
      at = 0;
    }
  }
}
