/** Pieces every command shares: config loading, logging setup, signals, storage opening. */
import type { Command } from 'commander';
import { type Config, loadConfig } from '../config/load.ts';
import type { EncryptionConfig } from '../config/schema.ts';
import { encryptionSettings } from '../crypto/settings.ts';
import { withLineEncryptionOf } from '../crypto/state-storage.ts';
import { withEncryption } from '../crypto/storage.ts';
import type { StorageBackend } from '../storage/backend.ts';
import type { StorageMetrics } from '../storage/metered.ts';
import { openStorage, openStorageUrl } from '../storage/open.ts';
import type { PartialStorageOptions } from '../storage/options.ts';
import { configureLogging, type LogLevel, logger } from '../util/log.ts';
import { type OutputFormat, parseFormat } from './output.ts';

export interface GlobalFlags {
  debug?: boolean;
  logLevel?: LogLevel;
  quiet?: boolean;
}

export function globalFlags(cmd: Command): GlobalFlags {
  return cmd.optsWithGlobals() as GlobalFlags;
}

/** The command's backup.encryption (one command per process): every storage it opens uses it. */
let commandEncryption: EncryptionConfig | undefined;
/** The config's backup_id: with backup.encryption.enabled, that line must be encrypted. */
let commandBackupId: string | undefined;

/** Loads the config file and applies its logging section (the --log-level flag wins). */
export function loadCommandConfig(path: string, cmd: Command): Config {
  const config = loadConfig(path);
  commandEncryption = config.backup.encryption;
  commandBackupId = config.backup_id;
  const flags = globalFlags(cmd);
  const fromFlag = cmd.getOptionValueSourceWithGlobals('logLevel') === 'cli' ? flags.logLevel : undefined;
  const format = config.logging?.format;
  configureLogging({
    // neither given: the level stays what KAFKA_BACKUP_LOG_LEVEL (or the default, info) set
    level: fromFlag ?? (config.logging?.level as LogLevel | undefined),
    ...(format === 'json' ? { json: true } : format === 'text' ? { json: false } : {}),
  });
  return config;
}

/** Applies --log-level when it was given on the command line (else KAFKA_BACKUP_LOG_LEVEL or the config decide). */
export function applyLogFlags(cmd: Command): void {
  if (cmd.getOptionValueSourceWithGlobals('logLevel') !== 'cli') return;
  const level = globalFlags(cmd).logLevel;
  if (level) configureLogging({ level });
}

export function formatOption(cmd: Command, allowed?: OutputFormat[]): OutputFormat {
  return parseFormat(String(cmd.opts()['format'] ?? 'text'), allowed);
}

/**
 * First SIGINT/SIGTERM: abort the returned signal so the command stops gracefully (flush,
 * list, checkpoint). Second: exit at once with 130; the state on storage stays resumable
 * because nothing is listed before it is durable.
 */
export function gracefulSignals(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const log = logger('cli');
  let count = 0;
  const handler = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      log.warn(
        `${sig} received: finishing the files in progress and writing a checkpoint (send again to abort at once)`,
      );
      controller.abort();
    } else {
      log.error(`${sig} received again: aborting now; run the same command to resume`);
      process.exit(130);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/** Storage from the config's storage section (url or backend fields), with retry and breaker. */
export async function storageFromConfig(
  storage: NonNullable<Config['storage']>,
  options: {
    dryRun?: boolean;
    breaker?: { failure_threshold: number; reset_timeout_secs: number; half_open_requests: number };
    /** Ends a run whose storage breaker keeps reopening (0 = never). */
    giveUpAfterSecs?: number;
    /** Request latency, errors, retries, breaker state (metrics.enabled). */
    metrics?: StorageMetrics | undefined;
  } = {},
): Promise<StorageBackend> {
  const b = options.breaker;
  const opened = await openStorage(storage as PartialStorageOptions, {
    dryRun: options.dryRun ?? false,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(b
      ? {
          breaker: {
            failureThreshold: b.failure_threshold,
            resetTimeoutSecs: b.reset_timeout_secs,
            halfOpenRequests: b.half_open_requests,
            ...(options.giveUpAfterSecs ? { giveUpAfterSecs: options.giveUpAfterSecs } : {}),
          },
          // backup and restore (the callers with breaker settings): give_up_after_secs 0 retries forever
          waitThroughOutages: true,
        }
      : {}),
  });
  return withEncryption(opened, encryptionSettings(commandEncryption, process.env, commandBackupId));
}

/**
 * The restore state location (restore.state_url, --state-path), apart from the backup storage
 * `line`: an encrypted line's restore state is sealed there under the line's own keys.
 */
export async function stateStorageFromUrl(url: string, line: StorageBackend): Promise<StorageBackend> {
  return withLineEncryptionOf(await openStorageUrl(url), line);
}

/**
 * Storage from a --path argument (plain path or URL), with credentials from the environment; the
 * key of an encrypted line from the config when one was loaded, else from KB_ENCRYPTION_*.
 */
export async function storageFromPath(path: string): Promise<StorageBackend> {
  return withEncryption(
    await openStorageUrl(path),
    encryptionSettings(commandEncryption, process.env, commandBackupId),
  );
}
