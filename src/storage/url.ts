/**
 * Storage URLs → partial StorageOptions.
 *
 *   s3://bucket/prefix                 backend s3
 *   azure://account/container/prefix   backend azure
 *   gs://bucket/prefix                 backend gcs (gcs:// is accepted too)
 *   file:///abs/path                   backend filesystem
 *   /abs/path, ./rel/path, rel/path    backend filesystem (resolved against the cwd)
 *
 * Credentials never belong in a URL: `s3://key:secret@bucket` is refused, and the message
 * does not repeat what was given.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.ts';
import type { PartialStorageOptions } from './options.ts';

const ACCEPTED =
  's3://bucket/prefix, azure://account/container/prefix, gs://bucket/prefix, file:///path or a plain path';

/** A URL safe to print: user info and query string (which may hold a SAS token) removed. */
export function safeUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@').replace(/[?#].*$/, '');
}

export function parseStorageUrl(url: string): PartialStorageOptions {
  const trimmed = url.trim();
  if (!trimmed) throw new UsageError('storage URL is empty', { hint: `use ${ACCEPTED}`, code: 'STORAGE_URL' });
  // Refuse credentials before anything else, so no later message can echo them.
  const hasAuthority = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed);
  const authorityPart = (trimmed.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0] ?? '').split(/[?#]/)[0] ?? '';
  if ((hasAuthority && authorityPart.includes('@')) || /^[^/:@]+:[^/@]*@/.test(trimmed)) {
    throw new UsageError('storage URL contains credentials (user:password@), which are not accepted in URLs', {
      hint: 'put credentials in the config file (access_key_id/secret_access_key, account_key, sas_token, credentials_file) or the environment, never in the URL',
      code: 'STORAGE_URL_CREDENTIALS',
    });
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(trimmed)?.[1]?.toLowerCase();
  // A Windows drive letter or no scheme at all: a plain path.
  if (!scheme || (scheme.length === 1 && /^[a-z]:[\\/]/i.test(trimmed))) {
    return { backend: 'filesystem', path: resolve(trimmed) };
  }
  if (!trimmed.slice(scheme.length + 1).startsWith('//')) {
    throw unknownScheme(trimmed, scheme);
  }
  const rest = trimmed.slice(scheme.length + 3);
  if (/[?#]/.test(rest) && scheme !== 'file') {
    throw new UsageError(`storage URL ${trimmed.replace(/[?#].*$/, '?…')} must not have a query string or fragment`, {
      hint: `use ${ACCEPTED}; put other settings in the config file`,
      code: 'STORAGE_URL',
    });
  }
  const parts = rest.split('/');
  const first = parts[0] ?? '';
  const prefixOf = (segments: string[]) => segments.filter((s) => s !== '').join('/');
  switch (scheme) {
    case 's3':
    case 'gs':
    case 'gcs': {
      if (!first) throw missing(trimmed, 'a bucket name', `${scheme}://bucket/prefix`);
      const backend = scheme === 's3' ? 's3' : 'gcs';
      return { backend, bucket: first, prefix: prefixOf(parts.slice(1)) };
    }
    case 'azure':
    case 'az': {
      const container = parts[1] ?? '';
      if (!first || !container)
        throw missing(trimmed, 'an account and a container', 'azure://account/container/prefix');
      return { backend: 'azure', account: first, container, prefix: prefixOf(parts.slice(2)) };
    }
    case 'file': {
      if (first !== '' && first !== 'localhost') {
        throw new UsageError(`storage URL ${trimmed} names a host; file URLs must be file:///absolute/path`, {
          code: 'STORAGE_URL',
        });
      }
      try {
        return { backend: 'filesystem', path: fileURLToPath(trimmed) };
      } catch (error) {
        throw new UsageError(`storage URL ${trimmed} is not a valid file URL`, {
          hint: 'use file:///absolute/path',
          cause: error,
          code: 'STORAGE_URL',
        });
      }
    }
    default:
      throw unknownScheme(trimmed, scheme);
  }
}

function unknownScheme(url: string, scheme: string): UsageError {
  return new UsageError(`storage URL ${safeUrl(url)} has unknown scheme '${scheme}'`, {
    hint: `accepted: ${ACCEPTED}`,
    code: 'STORAGE_URL_SCHEME',
  });
}

function missing(url: string, what: string, form: string): UsageError {
  return new UsageError(`storage URL ${url} is missing ${what}`, { hint: `use ${form}`, code: 'STORAGE_URL' });
}
