/**
 * A registry client from the config section (backup.schema_registry / restore.schema_registry):
 * URLs, basic auth or bearer token (values or files; ${VAR} substitution happened at config load),
 * TLS material. Secrets are read here and go only into the client's Authorization header.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import { RegistryClient } from './client.ts';

export interface RegistryConnectionConfig {
  url?: string | undefined;
  urls?: string[] | undefined;
  username?: string | undefined;
  password?: string | undefined;
  password_file?: string | undefined;
  token?: string | undefined;
  token_file?: string | undefined;
  tls?:
    | {
        ca_file?: string | undefined;
        cert_file?: string | undefined;
        key_file?: string | undefined;
        key_password?: string | undefined;
        key_password_file?: string | undefined;
        verify_hostname?: boolean | undefined;
      }
    | undefined;
  request_timeout_ms?: number | undefined;
}

function readFile(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError(`cannot read ${setting} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, [], {
      hint: `check that ${setting} points to a readable file`,
    });
  }
}

export function registryClientFrom(c: RegistryConnectionConfig, at: string): RegistryClient {
  const password =
    c.password ??
    (c.password_file ? readFile(c.password_file, `${at}.password_file`).toString('utf8').trim() : undefined);
  const token =
    c.token ?? (c.token_file ? readFile(c.token_file, `${at}.token_file`).toString('utf8').trim() : undefined);
  const authorization =
    password !== undefined
      ? `Basic ${Buffer.from(`${c.username ?? ''}:${password}`).toString('base64')}`
      : token !== undefined
        ? `Bearer ${token}`
        : undefined;
  const t = c.tls;
  const keyPassword =
    t?.key_password ??
    (t?.key_password_file
      ? readFile(t.key_password_file, `${at}.tls.key_password_file`).toString('utf8').trim()
      : undefined);
  const tls = t
    ? {
        ...(t.ca_file ? { ca: readFile(t.ca_file, `${at}.tls.ca_file`) } : {}),
        ...(t.cert_file ? { cert: readFile(t.cert_file, `${at}.tls.cert_file`) } : {}),
        ...(t.key_file ? { key: readFile(t.key_file, `${at}.tls.key_file`) } : {}),
        ...(keyPassword ? { passphrase: keyPassword } : {}),
        ...(t.verify_hostname === false ? { checkServerIdentity: () => undefined } : {}),
      }
    : undefined;
  return new RegistryClient({
    urls: c.urls ?? (c.url ? [c.url] : []),
    authorization,
    ...(tls ? { tls } : {}),
    ...(c.request_timeout_ms ? { timeoutMs: c.request_timeout_ms } : {}),
  });
}
