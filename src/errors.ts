/**
 * Typed errors, one class per kind, and the single place that maps them to exit codes.
 *
 * Every error the user can see says what failed, why, and what to do (`hint`).
 * Messages must never carry secrets: callers pass names of settings, not their values.
 */

/** Documented exit codes (README "Exit codes"). */
export const ExitCode = {
  ok: 0,
  environment: 1,
  usage: 2,
  integrity: 3,
  partial: 4,
  key: 5,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorKind =
  | 'config'
  | 'usage'
  | 'kafka'
  | 'storage'
  | 'integrity'
  | 'partial'
  | 'interrupted'
  | 'key'
  | 'internal';

export interface KafkaBackupErrorOptions {
  /** What the user can do about it. */
  hint?: string;
  cause?: unknown;
  /** Whether retrying the same call may succeed (network blips, 5xx, leader moves). */
  canRetry?: boolean;
  /** A stable machine-readable code, e.g. `STORAGE_NOT_FOUND`. */
  code?: string;
}

export abstract class KafkaBackupError extends Error {
  abstract readonly kind: ErrorKind;
  abstract readonly exitCode: ExitCodeValue;
  readonly hint: string | undefined;
  readonly canRetry: boolean;
  readonly code: string;

  constructor(message: string, options: KafkaBackupErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
    this.canRetry = options.canRetry ?? false;
    this.code = options.code ?? 'ERROR';
  }
}

/** Bad configuration file, unknown key, wrong type, missing environment variable. Exit 2. */
export class ConfigError extends KafkaBackupError {
  readonly kind = 'config';
  readonly exitCode = ExitCode.usage;
  /** One line per problem, each with its key path. */
  readonly problems: string[];
  constructor(message: string, problems: string[] = [], options: KafkaBackupErrorOptions = {}) {
    super(message, options);
    this.problems = problems;
  }
}

/** The user asked for something that does not exist or cannot be done (unknown backup id, nothing matched). Exit 2. */
export class UsageError extends KafkaBackupError {
  readonly kind = 'usage';
  readonly exitCode = ExitCode.usage;
}

/** The Kafka cluster could not be reached or refused a request. Exit 1. */
export class KafkaError extends KafkaBackupError {
  readonly kind = 'kafka';
  readonly exitCode = ExitCode.environment;
}

/** The storage location failed (not found, permission, network). Exit 1. */
export class StorageError extends KafkaBackupError {
  readonly kind = 'storage';
  readonly exitCode = ExitCode.environment;
  /** not-found and permanent errors are not retried; transient ones are. */
  readonly storageKind: 'not-found' | 'permanent' | 'transient' | 'already-exists';
  constructor(
    message: string,
    storageKind: 'not-found' | 'permanent' | 'transient' | 'already-exists',
    options: KafkaBackupErrorOptions = {},
  ) {
    super(message, { ...options, canRetry: options.canRetry ?? storageKind === 'transient' });
    this.storageKind = storageKind;
  }
}

/** Checksums or structure of a backup do not match what was recorded. Exit 3. */
export class IntegrityError extends KafkaBackupError {
  readonly kind = 'integrity';
  readonly exitCode = ExitCode.integrity;
  /** The storage keys of the files found bad. */
  readonly files: string[];
  constructor(message: string, files: string[] = [], options: KafkaBackupErrorOptions = {}) {
    super(message, options);
    this.files = files;
  }
}

/**
 * An encrypted backup line cannot be unlocked: no key was given, the key given opens none of the
 * line's key slots, its slot was removed, or the key provider (KMS) refused. Names the key ids
 * the line has and where they were looked for, never key material. Exit 5.
 */
export class KeyError extends KafkaBackupError {
  readonly kind = 'key';
  readonly exitCode = ExitCode.key;
}

/** Some topics or partitions failed while the rest succeeded. Exit 4. */
export class PartialFailureError extends KafkaBackupError {
  readonly kind = 'partial';
  readonly exitCode = ExitCode.partial;
  readonly failures: { what: string; error: Error }[];
  constructor(message: string, failures: { what: string; error: Error }[], options: KafkaBackupErrorOptions = {}) {
    super(message, options);
    this.failures = failures;
  }
}

/** Stopped by a signal before completion; the state on storage is resumable. Exit 130. */
export class InterruptedError extends KafkaBackupError {
  readonly kind = 'interrupted';
  readonly exitCode = ExitCode.interrupted;
}

export function exitCodeOf(error: unknown): ExitCodeValue {
  if (error instanceof KafkaBackupError) return error.exitCode;
  return ExitCode.environment;
}

export function isNotFound(error: unknown): boolean {
  return error instanceof StorageError && error.storageKind === 'not-found';
}

export function isAlreadyExists(error: unknown): boolean {
  return error instanceof StorageError && error.storageKind === 'already-exists';
}
