/** Errors of the schema registry domain, mapped to the documented exit codes (src/errors.ts). */
import { KafkaBackupError, type KafkaBackupErrorOptions } from '../errors.ts';

/** The registry failed or refused a request (unreachable, 5xx, auth, 409 incompatible). Exit 1. */
export class SchemaRegistryError extends KafkaBackupError {
  readonly kind = 'kafka';
  readonly exitCode = 1;
  /** HTTP status, 0 when no answer came. */
  readonly status: number;
  /** Confluent error_code of the answer, 0 when none. */
  readonly errorCode: number;
  constructor(message: string, status: number, errorCode: number, options: KafkaBackupErrorOptions = {}) {
    super(message, { ...options, canRetry: options.canRetry ?? (status === 0 || status >= 500 || status === 429) });
    this.status = status;
    this.errorCode = errorCode;
  }
}
