/**
 * The one place a StorageBackend is assembled from options:
 *
 *   dry-run( retrying( breaking( limiting( metered( backend ) ) ) ) )
 *
 * limiting is innermost so a call waiting out a retry backoff holds no slot; the breaker sees
 * every attempt; retrying is outside the breaker so a refused call (CIRCUIT_OPEN, transient) is
 * retried after backoff and the breaker's half-open trial can close it again; dry-run is
 * outermost so skipped writes never reach the network; metered (only with extras.metrics) times
 * each attempt against the backend itself.
 */
import { ConfigError } from '../errors.ts';
import { CircuitBreaker, type CircuitBreakerOptions } from '../util/circuit-breaker.ts';
import { type Logger, logger as makeLogger } from '../util/log.ts';
import type { RetryInfo } from '../util/retry.ts';
import type { StorageBackend } from './backend.ts';
import { breaking } from './breaking.ts';
import { dryRun as dryRunWrapper } from './dry-run.ts';
import { limiting } from './limiting.ts';
import { metered, type StorageMetrics } from './metered.ts';
import { type PartialStorageOptions, type StorageOptions, withDefaults } from './options.ts';
import { retrying } from './retrying.ts';
import { parseStorageUrl } from './url.ts';

/** Test and tuning knobs that are not part of the YAML config. */
export interface StorageTuning {
  /** Per-request timeout (S3, Azure, GCS). */
  requestTimeoutMs?: number;
  /** Connect timeout (S3). */
  connectTimeoutMs?: number;
  listPageSize?: number;
  env?: NodeJS.ProcessEnv;
}

export interface OpenStorageExtras {
  /**
   * A breaker instance (shared, or to read its state), breaker settings, or false for none.
   * Default: a new breaker with failureThreshold 5, resetTimeoutSecs 30, halfOpenRequests 1,
   * no give-up (retries bound the wait).
   */
  breaker?: CircuitBreaker | Omit<CircuitBreakerOptions, 'name'> | false;
  logger?: Logger;
  dryRun?: boolean;
  onRetry?: (info: RetryInfo & { op: string; key: string }) => void;
  signal?: AbortSignal;
  tuning?: StorageTuning;
  /** Request latency, errors, retries and breaker state go here (src/storage/metered.ts). */
  metrics?: StorageMetrics;
  /**
   * A long-running job (backup, restore): once its retries ran out on an open breaker, a call
   * waits for the breaker's next trial and tries again, until the breaker gives up
   * (give_up_after_secs) or, without a give-up deadline, for as long as the outage lasts.
   * Otherwise (one-shot commands) only a breaker with a give-up deadline is waited through.
   */
  waitThroughOutages?: boolean;
}

/** Merges a URL (options.url) with explicit options; explicit fields win. */
export function resolveStorageOptions(options: PartialStorageOptions): StorageOptions {
  const fromUrl = options.url ? parseStorageUrl(options.url) : {};
  const merged: PartialStorageOptions = { ...fromUrl };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
  if (fromUrl.backend && options.backend && fromUrl.backend !== options.backend) {
    throw new ConfigError(`storage.backend is '${options.backend}' but storage.url is a ${fromUrl.backend} URL`, [
      'storage.backend: does not match storage.url',
    ]);
  }
  if (!merged.backend) {
    throw new ConfigError('storage needs a url or a backend', [
      'storage: set url (s3://, azure://, gs://, file://) or backend',
    ]);
  }
  return merged as StorageOptions;
}

export async function createBackend(options: StorageOptions, tuning: StorageTuning = {}): Promise<StorageBackend> {
  switch (options.backend) {
    case 'filesystem': {
      if (!options.path) throw new ConfigError('filesystem storage needs a path', ['storage.path: required']);
      const { FilesystemBackend } = await import('./filesystem.ts');
      return new FilesystemBackend({ path: options.path });
    }
    case 's3': {
      const { S3Backend } = await import('./s3.ts');
      return new S3Backend(options, tuning);
    }
    case 'azure': {
      const { AzureBackend } = await import('./azure.ts');
      return new AzureBackend(options, tuning);
    }
    case 'gcs': {
      const { GcsBackend } = await import('./gcs.ts');
      return new GcsBackend(options, tuning);
    }
    default:
      throw new ConfigError(`unknown storage backend '${String((options as { backend: unknown }).backend)}'`, [
        'storage.backend: one of filesystem, s3, azure, gcs',
      ]);
  }
}

export async function openStorage(
  options: PartialStorageOptions,
  extras: OpenStorageExtras = {},
): Promise<StorageBackend> {
  const resolved = withDefaults(resolveStorageOptions(options));
  const log = extras.logger ?? makeLogger('storage');
  const base = await createBackend(resolved, extras.tuning);
  const storageLog = log.child({ location: base.location });
  const sink = extras.metrics;
  let backend = limiting(sink ? metered(base, resolved.backend, sink) : base, resolved.max_concurrent_requests);
  let breakerGivesUp = false;
  if (extras.breaker !== false) {
    const settings = extras.breaker instanceof CircuitBreaker ? {} : (extras.breaker ?? {});
    const onStateChange: CircuitBreakerOptions['onStateChange'] = (change) => {
      const { from, to, error } = change;
      settings.onStateChange?.(change);
      sink?.breaker(resolved.backend, to);
      const fields = { from, to, ...(error instanceof Error ? { error: error.message } : {}) };
      if (to === 'open') storageLog.warn('storage circuit breaker opened', fields);
      else storageLog.info(`storage circuit breaker ${to}`, fields);
    };
    const breaker =
      extras.breaker instanceof CircuitBreaker
        ? extras.breaker
        : new CircuitBreaker({ ...settings, name: `storage ${base.location}`, onStateChange });
    sink?.breaker(resolved.backend, breaker.state);
    breakerGivesUp = Number.isFinite(breaker.giveUpAfterSecs);
    backend = breaking(backend, breaker);
  }
  backend = retrying(backend, resolved.retry, {
    logger: storageLog,
    // calls wait through an open breaker until it closes, or until it gives up when it has a
    // deadline (give_up_after_secs); without one (0, "retries forever") a storage outage longer
    // than the retries used to end the run with exit 1 after a few seconds
    waitForBreaker: breakerGivesUp || extras.waitThroughOutages === true,
    ...(!breakerGivesUp && extras.waitThroughOutages ? { maxBreakerWaits: Number.POSITIVE_INFINITY } : {}),
    ...(extras.onRetry || sink
      ? {
          onRetry: (info: RetryInfo & { op: string; key: string }) => {
            sink?.retry(resolved.backend, info.op);
            extras.onRetry?.(info);
          },
        }
      : {}),
    ...(extras.signal ? { signal: extras.signal } : {}),
  });
  if (extras.dryRun) backend = dryRunWrapper(backend, storageLog);
  return backend;
}

/** `openStorageUrl('s3://bucket/prefix', { region: 'eu-west-1' })`. */
export function openStorageUrl(
  url: string,
  overrides: Partial<StorageOptions> = {},
  extras: OpenStorageExtras = {},
): Promise<StorageBackend> {
  return openStorage({ ...overrides, url }, extras);
}
