/** Helpers shared by the object-store backends' error classification. */
import { StorageError } from '../errors.ts';

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** True for socket-level failures and timeouts, looking through `cause` chains. */
export function isNetworkError(error: unknown, depth = 0): boolean {
  if (depth > 4 || typeof error !== 'object' || error === null) return false;
  const e = error as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; errno?: unknown };
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  if (e.name === 'TimeoutError' || e.name === 'RequestTimeout' || e.name === 'AbortError') return true;
  if (
    typeof e.message === 'string' &&
    /socket hang up|ECONNRESET|timed? ?out|other side closed|fetch failed/i.test(e.message)
  ) {
    return true;
  }
  return isNetworkError(e.cause, depth + 1);
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

export function transient(what: string, detail: string, cause: unknown): StorageError {
  return new StorageError(`${what}: ${detail} (will retry)`, 'transient', { cause, code: 'STORAGE_TRANSIENT' });
}

export function notFound(what: string, cause: unknown): StorageError {
  return new StorageError(`${what}: not found`, 'not-found', { cause, code: 'STORAGE_NOT_FOUND' });
}

export function alreadyExists(what: string, cause: unknown): StorageError {
  return new StorageError(`${what}: already exists`, 'already-exists', { cause, code: 'STORAGE_EXISTS' });
}
