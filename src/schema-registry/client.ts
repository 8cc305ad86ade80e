/**
 * A small client of the Confluent Schema Registry REST API: the calls backup and restore need,
 * nothing more. Several URLs fail over in order (a request that gets no answer, or a 5xx, tries
 * the next URL), transient failures are retried with the project's backoff (src/util/retry.ts).
 * Credentials go into the Authorization header only; no message ever carries them.
 */
import http from 'node:http';
import https from 'node:https';
import { sanitizeUrl } from '../config/secrets.ts';
import { retry } from '../util/retry.ts';
import { SchemaRegistryError } from './errors.ts';
import type { SchemaReference, SchemaType } from './types.ts';

export interface RegistryClientOptions {
  urls: string[];
  /** Full Authorization header value (Basic … or Bearer …), or undefined. */
  authorization?: string | undefined;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; passphrase?: string; checkServerIdentity?: () => undefined };
  timeoutMs?: number;
  maxRetries?: number;
}

export interface SubjectVersion {
  subject: string;
  version: number;
  id: number;
  schemaType?: SchemaType;
  schema: string;
  references?: SchemaReference[];
}

export interface NewSchema {
  schema: string;
  schemaType: SchemaType;
  references: SchemaReference[];
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export class RegistryClient {
  private readonly agents = new Map<string, http.Agent>();
  private preferred = 0;
  private readonly o: RegistryClientOptions;
  constructor(o: RegistryClientOptions) {
    this.o = o;
    if (o.urls.length === 0) throw new Error('a schema registry client needs at least one URL');
  }

  /** One request, failing over across the URLs and retrying transient failures. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return retry(() => this.onAnyUrl<T>(method, path, body), {
      maxRetries: this.o.maxRetries ?? 4,
      initialDelayMs: 200,
      maxDelayMs: 5_000,
    });
  }

  private async onAnyUrl<T>(method: string, path: string, body?: unknown): Promise<T> {
    let last: unknown;
    const n = this.o.urls.length;
    for (let i = 0; i < n; i++) {
      const index = (this.preferred + i) % n;
      try {
        const r = await this.once<T>(this.o.urls[index]!, method, path, body);
        this.preferred = index;
        return r;
      } catch (e) {
        last = e;
        if (!(e instanceof SchemaRegistryError) || !e.canRetry) throw e;
      }
    }
    throw last;
  }

  private once<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(base.replace(/\/+$/, '') + path);
    const where = `${method} ${sanitizeUrl(base)}${path.split('?')[0]}`;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const isHttps = url.protocol === 'https:';
    const headers: Record<string, string> = { accept: CONTENT_TYPE };
    if (payload) {
      headers['content-type'] = CONTENT_TYPE;
      headers['content-length'] = String(payload.length);
    }
    if (this.o.authorization) headers['authorization'] = this.o.authorization;
    return new Promise<T>((resolve, reject) => {
      const failed = (e: Error) => {
        const tlsHint = isHttps ? tlsFailureHint(e as NodeJS.ErrnoException) : null;
        reject(
          new SchemaRegistryError(`${where}: ${tlsHint ? `TLS: ${opensslReason(e.message)}` : e.message}`, 0, 0, {
            cause: e,
            // a certificate or key problem stays one on every retry and every URL: fail at once
            ...(tlsHint ? { canRetry: false } : {}),
            hint: tlsHint ?? 'check the registry URL and that it is reachable',
          }),
        );
      };
      let req: http.ClientRequest;
      try {
        req = this.send(isHttps, url, method, headers, resolve, reject, where);
      } catch (e) {
        // TLS material that does not load (a wrong key password) throws here, not as an event
        return failed(e as Error);
      }
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.o.timeoutMs ?? 30_000} ms`)));
      req.on('error', failed);
      req.end(payload);
    });
  }

  private send<T>(
    isHttps: boolean,
    url: URL,
    method: string,
    headers: Record<string, string>,
    resolve: (v: T) => void,
    reject: (e: unknown) => void,
    where: string,
  ): http.ClientRequest {
    return (isHttps ? https : http).request(
      url,
      { method, headers, agent: this.agent(url.origin, isHttps), timeout: this.o.timeoutMs ?? 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new SchemaRegistryError(`${where}: ${e.message}`, 0, 0, { cause: e })));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          let doc: unknown;
          try {
            doc = text ? JSON.parse(text) : null;
          } catch {
            doc = null;
          }
          if (status >= 200 && status < 300) return resolve(doc as T);
          const err = doc as { error_code?: number; message?: string } | null;
          reject(
            new SchemaRegistryError(
              `${where} answered ${status}${err?.message ? `: ${err.message}` : ''}`,
              status,
              err?.error_code ?? 0,
              { hint: hintFor(status) },
            ),
          );
        });
      },
    );
  }

  private agent(origin: string, isHttps: boolean): http.Agent {
    let a = this.agents.get(origin);
    if (!a) {
      a = isHttps ? new https.Agent({ keepAlive: true, ...(this.o.tls ?? {}) }) : new http.Agent({ keepAlive: true });
      this.agents.set(origin, a);
    }
    return a;
  }

  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }

  // --- the API -------------------------------------------------------------------------------

  listSubjects(deleted = false): Promise<string[]> {
    return this.request('GET', `/subjects${deleted ? '?deleted=true' : ''}`);
  }

  listVersions(subject: string, deleted = false): Promise<number[]> {
    return this.request('GET', `/subjects/${enc(subject)}/versions${deleted ? '?deleted=true' : ''}`);
  }

  subjectVersion(subject: string, version: number, deleted = false): Promise<SubjectVersion> {
    return this.request('GET', `/subjects/${enc(subject)}/versions/${version}${deleted ? '?deleted=true' : ''}`);
  }

  schemaById(id: number): Promise<{ schema: string; schemaType?: SchemaType; references?: SchemaReference[] }> {
    return this.request('GET', `/schemas/ids/${id}`);
  }

  /** The compatibility level, null when not set at this level (a subject without its own). */
  async compatibility(subject?: string): Promise<string | null> {
    const path = subject ? `/config/${enc(subject)}?defaultToGlobal=false` : '/config';
    const r = await orNull(this.request<{ compatibilityLevel?: string; compatibility?: string }>('GET', path));
    return r?.compatibilityLevel ?? r?.compatibility ?? null;
  }

  async mode(subject?: string): Promise<string | null> {
    const path = subject ? `/mode/${enc(subject)}?defaultToGlobal=false` : '/mode';
    const r = await orNull(this.request<{ mode?: string }>('GET', path));
    return r?.mode ?? null;
  }

  setCompatibility(subject: string, level: string): Promise<unknown> {
    return this.request('PUT', `/config/${enc(subject)}`, { compatibility: level });
  }

  setMode(subject: string, mode: string): Promise<unknown> {
    return this.request('PUT', `/mode/${enc(subject)}`, { mode });
  }

  /** Registers a schema under a subject (or returns the id of the identical one there). */
  async register(subject: string, s: NewSchema): Promise<number> {
    const r = await this.request<{ id: number }>('POST', `/subjects/${enc(subject)}/versions`, body(s));
    return r.id;
  }

  /** IMPORT mode: registers the schema under its original id and version (preserve_ids). */
  async registerWithId(subject: string, s: NewSchema, id: number, version: number): Promise<number> {
    const r = await this.request<{ id: number }>('POST', `/subjects/${enc(subject)}/versions`, {
      ...body(s),
      id,
      version,
    });
    return r.id;
  }

  /** The schema under an id, or null when the registry has none. */
  schemaByIdOrNull(
    id: number,
  ): Promise<{ schema: string; schemaType?: SchemaType; references?: SchemaReference[] } | null> {
    return orNull(this.schemaById(id));
  }

  /** Sets the global mode; force lets IMPORT be set over existing subjects. */
  setGlobalMode(mode: string, force = false): Promise<unknown> {
    return this.request('PUT', `/mode${force ? '?force=true' : ''}`, { mode });
  }

  /** The version of the subject holding exactly this schema (soft-deleted ones too with deleted), or null. */
  lookup(subject: string, s: NewSchema, deleted = false): Promise<SubjectVersion | null> {
    return orNull(
      this.request<SubjectVersion>('POST', `/subjects/${enc(subject)}${deleted ? '?deleted=true' : ''}`, body(s)),
    );
  }

  /** Soft-deletes one version (its id keeps resolving through /schemas/ids/{id}). */
  softDeleteVersion(subject: string, version: number): Promise<unknown> {
    return this.request('DELETE', `/subjects/${enc(subject)}/versions/${version}`);
  }

  /** Soft-deletes a subject: every version of it. */
  softDeleteSubject(subject: string): Promise<unknown> {
    return this.request('DELETE', `/subjects/${enc(subject)}`);
  }
}

function body(s: NewSchema): Record<string, unknown> {
  // AVRO is the default type; some servers refuse an explicit one in old API versions, none do for the others
  return {
    schema: s.schema,
    ...(s.schemaType !== 'AVRO' ? { schemaType: s.schemaType } : {}),
    ...(s.references.length ? { references: s.references } : {}),
  };
}

const enc = (s: string) => encodeURIComponent(s);

/** A 404 (subject, version or setting not found) becomes null. */
async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof SchemaRegistryError && e.status === 404) return null;
    throw e;
  }
}

/** Certificate verification by our side (Node's codes for it). */
const VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** OpenSSL's reason ("tlsv13 alert certificate required") without its source file and line. */
const opensslReason = (m: string) => /SSL routines:[^:]*:([^:]+):/.exec(m)?.[1] ?? m;

/** The fix for a TLS failure (tls.* settings), or null when the error is not one. */
export function tlsFailureHint(e: NodeJS.ErrnoException): string | null {
  const code = e.code ?? '';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return "the registry's certificate does not name the host of the URL: use the name it was issued for, or set tls.verify_hostname: false";
  if (VERIFY_CODES.has(code))
    return "the registry's certificate is not trusted: set tls.ca_file to the CA (PEM) that signed it";
  if (/BAD_DECRYPT|BAD_PASSWORD|ERR_OSSL_.*DECRYPT/i.test(code) || /bad decrypt/i.test(e.message))
    return 'tls.key_file is encrypted and could not be opened: check tls.key_password_file (or key_password)';
  if (/CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|HANDSHAKE_FAILURE|CERTIFICATE_UNKNOWN/i.test(code))
    return 'the registry refused the TLS handshake: it requires a client certificate its CA signed; set tls.cert_file and tls.key_file';
  if (/KEY_VALUES_MISMATCH|NO_START_LINE|PEM|ASN1|DECODER/i.test(code))
    return 'tls.cert_file, tls.key_file or tls.ca_file is not valid PEM, or the key does not belong to the certificate';
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code.startsWith('ERR_OSSL_'))
    return 'the TLS connection to the registry failed: check the tls settings (ca_file, cert_file, key_file) and that the URL serves HTTPS';
  return null;
}

function hintFor(status: number): string {
  if (status === 401 || status === 403) return 'check the schema_registry credentials (username/password or token)';
  if (status === 409)
    return 'the target subject refuses the schema under its compatibility level; see docs/schema-registry.md';
  if (status === 422) return 'the registry refused the schema as invalid; see docs/schema-registry.md';
  if (status >= 500) return 'the registry failed; it is retried, then the next URL is tried';
  return 'see docs/schema-registry.md';
}
