/** restore.max_records_per_sec / max_bytes_per_sec: a job waits before a send that would go over. */
export class RateLimiter {
  private readonly perSec: number;
  private start = Date.now();
  private used = 0;
  constructor(perSec: number) {
    this.perSec = perSec;
  }
  async take(n: number): Promise<void> {
    if (this.perSec <= 0) return;
    this.used += n;
    const elapsed = (Date.now() - this.start) / 1000;
    const ahead = this.used / this.perSec - elapsed;
    if (ahead > 0) await new Promise((r) => setTimeout(r, ahead * 1000));
    if (elapsed > 10) {
      this.start = Date.now();
      this.used = 0;
    }
  }
}
