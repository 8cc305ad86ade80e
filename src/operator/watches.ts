/**
 * Watches that wake the reconciler: one long-lived watch per collection (the operator's resources,
 * its Jobs), restarted whenever it ends. A watch is always (re)started without a resourceVersion,
 * so the API server first sends the current objects as ADDED and then the changes: a restart is a
 * relist, which is also how a 410 Gone (the resourceVersion expired) or any other watch error is
 * recovered from, with nothing missed. The events only say which resource to look at; what to do
 * is decided from the cluster's state (level-based), so a duplicate or dropped event does no harm,
 * and the periodic resync covers anything a watch could not.
 */
import type { Logger } from '../util/log.ts';

export interface WatchTarget {
  what: string;
  path: string;
  query?: Record<string, string>;
  onEvent: (type: string, obj: { metadata?: Record<string, unknown> }) => void;
}

/** The one call used of @kubernetes/client-node's Watch. */
export interface Watcher {
  watch(
    path: string,
    query: Record<string, string>,
    callback: (type: string, obj: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController>;
}

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

export class Watches {
  private readonly aborts = new Set<AbortController>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private readonly watcher: Watcher;
  private readonly log: Logger;

  constructor(watcher: Watcher, log: Logger) {
    this.watcher = watcher;
    this.log = log;
  }

  start(targets: WatchTarget[]): void {
    for (const t of targets) void this.run(t, MIN_BACKOFF_MS);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    for (const a of this.aborts) a.abort();
  }

  private async run(t: WatchTarget, backoffMs: number): Promise<void> {
    if (this.stopped) return;
    let ended = false;
    let healthy = false;
    let abort: AbortController | undefined;
    const restart = (reason: string | undefined) => {
      if (ended) return;
      ended = true;
      if (abort) this.aborts.delete(abort);
      abort?.abort();
      if (this.stopped) return;
      const wait = healthy ? MIN_BACKOFF_MS : backoffMs;
      if (reason) this.log.warn('watch ended; relisting', { watch: t.what, error: reason, retryInMs: wait });
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        void this.run(t, healthy ? MIN_BACKOFF_MS : Math.min(backoffMs * 2, MAX_BACKOFF_MS));
      }, wait);
      this.timers.add(timer);
    };
    try {
      abort = await this.watcher.watch(
        t.path,
        t.query ?? {},
        (type, obj) => {
          if (ended) return;
          if (type === 'ERROR') {
            // a Status object: 410 Gone (expired resourceVersion) or another server-side error
            const s = obj as { code?: number; message?: string };
            restart(`HTTP ${s.code ?? '?'}: ${s.message ?? 'watch error'}`);
            return;
          }
          healthy = true;
          t.onEvent(type, obj as { metadata?: Record<string, unknown> });
        },
        (err) => restart(err ? (err instanceof Error ? err.message : String(err)) : undefined),
      );
      if (ended) abort.abort();
      else this.aborts.add(abort);
    } catch (e) {
      restart(e instanceof Error ? e.message : String(e));
    }
  }
}
