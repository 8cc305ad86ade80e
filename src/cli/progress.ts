/**
 * Progress on stderr: a live line on a TTY, one plain line every `intervalMs` otherwise,
 * nothing with --quiet.
 */
export interface ProgressReporter {
  update(line: () => string): void;
  done(): void;
}

/** Without a TTY, one line this often (KAFKA_BACKUP_PROGRESS_INTERVAL_MS overrides, e.g. for tests). */
const PLAIN_INTERVAL_MS = Number(process.env['KAFKA_BACKUP_PROGRESS_INTERVAL_MS'] ?? 10_000);

export function progressReporter(quiet: boolean, intervalMs = PLAIN_INTERVAL_MS): ProgressReporter {
  if (quiet) return { update() {}, done() {} };
  const tty = Boolean(process.stderr.isTTY);
  let last = tty ? 0 : Date.now();
  let shown = false;
  return {
    update(line) {
      const now = Date.now();
      if (now - last < (tty ? 250 : intervalMs)) return;
      last = now;
      if (tty) {
        process.stderr.write(`\r\x1b[2K${line()}`);
        shown = true;
      } else process.stderr.write(`${line()}\n`);
    },
    done() {
      if (tty && shown) process.stderr.write('\n');
    },
  };
}

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function rate(n: number, ms: number): number {
  return ms > 0 ? (n * 1000) / ms : 0;
}
