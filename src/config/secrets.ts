/**
 * Which configuration keys hold secrets, and a redactor for showing a config. Stricter than the
 * logger's `redact`: it also strips credentials and query strings from URLs, and it treats
 * free-form keys such as `ssl.keystore.password` in restore.topic_configs as secrets.
 */

const SECRET_KEY =
  /pass(word)?|secret|token|sas_token|^sas$|credential|connection_?string|account_?key|private|authori[sz]ation|jaas|api_?key|customer_(provided_)?key|encryption_key/i;

export const REDACTED = '[redacted]';

/** True when a value under this key must never be shown (password, secret_access_key, token, ...). */
export function isSecretKey(key: PropertyKey): boolean {
  return typeof key === 'string' && SECRET_KEY.test(key);
}

/** True when any key along the path is secret-like (so a value inside a secret mapping is hidden too). */
export function isSecretPath(path: readonly PropertyKey[]): boolean {
  return path.some(isSecretKey);
}

/** Drops user:password@ and ?query#fragment from a URL; other text is returned unchanged. */
export function sanitizeUrl(value: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*@)?([^?#]*)([?#].*)?$/.exec(value);
  if (!m) return value;
  return `${m[1]}${m[2] ? `${REDACTED}@` : ''}${m[3]}${m[4] ? `?${REDACTED}` : ''}`;
}

/** A deep copy with every secret value replaced by `[redacted]` and URLs sanitised. */
export function redactConfig<T>(value: T): T {
  const walk = (v: unknown, key: PropertyKey | undefined): unknown => {
    if (key !== undefined && isSecretKey(key) && v !== undefined && v !== null && v !== '') return REDACTED;
    if (typeof v === 'string') return /url$/i.test(String(key ?? '')) ? sanitizeUrl(v) : v;
    if (Array.isArray(v)) return v.map((item) => walk(item, undefined));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, child] of Object.entries(v)) out[k] = walk(child, k);
      return out;
    }
    return v;
  };
  return walk(value, undefined) as T;
}
