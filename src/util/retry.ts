/**
 * Generic retry with exponential backoff and full jitter (AWS architecture blog, "Exponential
 * Backoff And Jitter"): before retry n (1-based) it sleeps a random time in
 * [0, min(maxDelayMs, initialDelayMs * 2^(n-1))].
 *
 * Defaults (used for storage unless the config's `retry:` section says otherwise):
 *   maxRetries      8      retries after the first attempt (so up to 9 calls)
 *   initialDelayMs  200
 *   maxDelayMs      30000
 *   isRetryable     error.canRetry === true (KafkaBackupError: StorageError 'transient', ...)
 *
 * The last error is rethrown unchanged when retries run out or the error is not retryable.
 * An aborted `signal` stops at once (during a sleep too) with the signal's reason.
 */
export const RETRY_DEFAULTS = {
  maxRetries: 8,
  initialDelayMs: 200,
  maxDelayMs: 30_000,
} as const;

export interface RetryInfo {
  /** 1 for the first retry. */
  attempt: number;
  /** Milliseconds it will sleep before that retry. */
  delayMs: number;
  error: unknown;
}

export interface RetryOptions {
  maxRetries?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  isRetryable?: (error: unknown) => boolean;
  onRetry?: (info: RetryInfo) => void;
  signal?: AbortSignal;
  /** For tests: the random source in [0, 1). */
  random?: () => number;
}

export function defaultIsRetryable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { canRetry?: unknown }).canRetry === true;
}

/** The upper bound of the sleep before retry `attempt` (1-based). */
export function backoffCeiling(attempt: number, initialDelayMs: number, maxDelayMs: number): number {
  return Math.min(maxDelayMs, initialDelayMs * 2 ** Math.max(0, attempt - 1));
}

export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const maxRetries = options.maxRetries ?? RETRY_DEFAULTS.maxRetries;
  const initialDelayMs = options.initialDelayMs ?? RETRY_DEFAULTS.initialDelayMs;
  const maxDelayMs = options.maxDelayMs ?? RETRY_DEFAULTS.maxDelayMs;
  const isRetryable = options.isRetryable ?? defaultIsRetryable;
  const random = options.random ?? Math.random;
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= maxRetries || !isRetryable(error) || options.signal?.aborted) throw error;
      const delayMs = Math.floor(random() * backoffCeiling(attempt + 1, initialDelayMs, maxDelayMs));
      options.onRetry?.({ attempt: attempt + 1, delayMs, error });
      await sleep(delayMs, options.signal);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
