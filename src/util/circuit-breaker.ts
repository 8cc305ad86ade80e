/**
 * A circuit breaker, independent of what it protects (storage, Kafka admin, fetches).
 *
 *   closed     calls go through; `failureThreshold` consecutive failures open it.
 *   open       calls are rejected at once (CircuitOpenError, transient: "open, next trial at …")
 *              without calling the function; after `resetTimeoutSecs` it becomes half-open.
 *   half-open  up to `halfOpenRequests` trial calls go through, the rest are rejected as if
 *              open. A trial success closes it; a trial failure opens it again for another
 *              `resetTimeoutSecs`.
 *
 * giveUpAfterSecs: once the breaker has been out of `closed` (open, or half-open with failing
 * trials) continuously for longer than this, every call fails at once with a permanent
 * CircuitOpenError (`gaveUp: true`, canRetry false) so the caller stops instead of waiting
 * forever; no more trials are made. reset() closes it again.
 *
 * `isFailure(error)` decides which errors count (default: all); errors that do not count are
 * passed through and, in half-open, count as a successful trial (the service answered).
 *
 * Defaults: failureThreshold 5, resetTimeoutSecs 30, halfOpenRequests 1, giveUpAfterSecs
 * Infinity (never).
 */
import { KafkaBackupError, type KafkaBackupErrorOptions } from '../errors.ts';

export type CircuitState = 'closed' | 'open' | 'half-open';

export const BREAKER_DEFAULTS = {
  failureThreshold: 5,
  resetTimeoutSecs: 30,
  halfOpenRequests: 1,
  giveUpAfterSecs: Number.POSITIVE_INFINITY,
} as const;

export interface CircuitBreakerOptions {
  /** Names the protected thing in messages, e.g. `storage s3://bucket/prefix`. */
  name: string;
  failureThreshold?: number;
  resetTimeoutSecs?: number;
  halfOpenRequests?: number;
  giveUpAfterSecs?: number;
  isFailure?: (error: unknown) => boolean;
  onStateChange?: (change: { from: CircuitState; to: CircuitState; name: string; error?: unknown }) => void;
  /** For tests: milliseconds clock. */
  now?: () => number;
}

/** Rejected by an open breaker. Transient while it may still close; permanent once it gave up. */
export class CircuitOpenError extends KafkaBackupError {
  readonly kind = 'internal';
  readonly exitCode = 1;
  readonly gaveUp: boolean;
  readonly retryAt: Date;
  /** The failure that (re)opened the breaker. */
  readonly lastError: unknown;
  constructor(message: string, gaveUp: boolean, retryAt: Date, lastError: unknown, options: KafkaBackupErrorOptions) {
    super(message, { ...options, cause: lastError, canRetry: !gaveUp });
    this.gaveUp = gaveUp;
    this.retryAt = retryAt;
    this.lastError = lastError;
  }
}

export class CircuitBreaker {
  readonly name: string;
  readonly failureThreshold: number;
  readonly resetTimeoutMs: number;
  readonly halfOpenRequests: number;
  readonly giveUpAfterMs: number;
  private readonly isFailure: (error: unknown) => boolean;
  private readonly onStateChange: CircuitBreakerOptions['onStateChange'];
  private readonly now: () => number;

  private current: CircuitState = 'closed';
  private consecutiveFailures = 0;
  private openedAt = 0;
  /** When the breaker last left `closed`; reset on close. */
  private troubleSince = 0;
  private trialsInFlight = 0;
  private lastError: unknown;

  constructor(options: CircuitBreakerOptions) {
    this.name = options.name;
    this.failureThreshold = options.failureThreshold ?? BREAKER_DEFAULTS.failureThreshold;
    this.resetTimeoutMs = (options.resetTimeoutSecs ?? BREAKER_DEFAULTS.resetTimeoutSecs) * 1000;
    this.halfOpenRequests = options.halfOpenRequests ?? BREAKER_DEFAULTS.halfOpenRequests;
    this.giveUpAfterMs = (options.giveUpAfterSecs ?? BREAKER_DEFAULTS.giveUpAfterSecs) * 1000;
    this.isFailure = options.isFailure ?? (() => true);
    this.onStateChange = options.onStateChange;
    this.now = options.now ?? Date.now;
  }

  /** The state now (an open breaker whose timeout passed reports half-open). */
  /** Seconds out of `closed` after which calls fail for good (Infinity: never). */
  get giveUpAfterSecs(): number {
    return this.giveUpAfterMs / 1000;
  }

  get state(): CircuitState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.resetTimeoutMs) return 'half-open';
    return this.current;
  }

  get failures(): number {
    return this.consecutiveFailures;
  }

  async call<T>(fn: () => Promise<T>): Promise<T> {
    const trial = this.admit();
    try {
      const result = await fn();
      this.onSuccess(trial);
      return result;
    } catch (error) {
      if (this.isFailure(error)) this.onFailure(trial, error);
      else this.onSuccess(trial);
      throw error;
    } finally {
      if (trial) this.trialsInFlight--;
    }
  }

  /** Whether a call now would be let through (does not reserve a trial slot). */
  get allowsCalls(): boolean {
    const s = this.state;
    return s === 'closed' || (s === 'half-open' && this.trialsInFlight < this.halfOpenRequests);
  }

  /** Back to closed, as after a success. */
  reset(): void {
    this.consecutiveFailures = 0;
    this.setState('closed');
  }

  /** Returns true when the call is a half-open trial; throws CircuitOpenError when not admitted. */
  private admit(): boolean {
    const now = this.now();
    if (this.current === 'closed') return false;
    if (now - this.troubleSince > this.giveUpAfterMs) throw this.openError(now);
    if (this.current === 'open' && now - this.openedAt >= this.resetTimeoutMs) this.setState('half-open');
    if (this.current === 'half-open' && this.trialsInFlight < this.halfOpenRequests) {
      this.trialsInFlight++;
      return true;
    }
    throw this.openError(now);
  }

  private openError(now: number): CircuitOpenError {
    const retryAt = new Date(Math.max(now, this.openedAt + this.resetTimeoutMs));
    const downSecs = Math.round((now - this.troubleSince) / 1000);
    const cause = this.lastError instanceof Error ? `: ${this.lastError.message}` : '';
    if (now - this.troubleSince > this.giveUpAfterMs) {
      return new CircuitOpenError(
        `circuit breaker for ${this.name} gave up after ${downSecs}s of failures (limit ${this.giveUpAfterMs / 1000}s)${cause}`,
        true,
        retryAt,
        this.lastError,
        { code: 'CIRCUIT_GAVE_UP', hint: `check that ${this.name} is reachable and healthy, then run again` },
      );
    }
    const waitSecs = Math.max(0, Math.ceil((retryAt.getTime() - now) / 1000));
    return new CircuitOpenError(
      `circuit breaker for ${this.name} is open after ${this.consecutiveFailures} consecutive failures; next trial in ${waitSecs}s (at ${retryAt.toISOString()})${cause}`,
      false,
      retryAt,
      this.lastError,
      { code: 'CIRCUIT_OPEN', hint: `check that ${this.name} is reachable and healthy` },
    );
  }

  private onSuccess(trial: boolean): void {
    this.consecutiveFailures = 0;
    if (this.current !== 'closed' && (trial || this.current === 'half-open')) this.setState('closed');
  }

  private onFailure(trial: boolean, error: unknown): void {
    this.consecutiveFailures++;
    this.lastError = error;
    if (trial || this.current === 'half-open') {
      this.openedAt = this.now();
      this.setState('open', error);
    } else if (this.current === 'closed' && this.consecutiveFailures >= this.failureThreshold) {
      this.openedAt = this.now();
      this.troubleSince = this.openedAt;
      this.setState('open', error);
    }
  }

  private setState(to: CircuitState, error?: unknown): void {
    const from = this.current;
    if (from === to) return;
    this.current = to;
    this.onStateChange?.({ from, to, name: this.name, ...(error === undefined ? {} : { error }) });
  }
}
