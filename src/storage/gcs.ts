/**
 * Google Cloud Storage backend (@google-cloud/storage, plus the JSON API's resumable-upload
 * and media endpoints over node:http (src/storage/http.ts) for the streamed writer and ranged reads).
 *
 * Configuration (StorageOptions) and environment:
 *   bucket, prefix        `gs://bucket/prefix`
 *   credentials_file      a service-account JSON key; else Application Default Credentials
 *                         (GOOGLE_APPLICATION_CREDENTIALS, gcloud login, metadata server)
 *   project_id            else GOOGLE_CLOUD_PROJECT / the credentials' project
 *   endpoint              API endpoint for an emulator (fake-gcs-server http://127.0.0.1:14443);
 *                         else STORAGE_EMULATOR_HOST; a custom endpoint is used without auth
 *   buffer_size           resumable-upload chunk, rounded down to a multiple of 256 KiB
 *   kms_key_name          customer-managed key (Cloud KMS) for every new object (kmsKeyName)
 *   encryption_key        customer-supplied key: x-goog-encryption-* headers on every write and
 *                         read of object data (the library's encryptionKey for its own calls)
 *
 * Writer: one resumable upload session per object (started on the first full chunk or at
 * commit). Each chunk is PUT with `Content-Range: bytes a-b/*`; the last one carries the total
 * size, which finalises the object — nothing is visible before. A retried chunk first asks the
 * session how much it has (`bytes * /*` status query) and sends only the rest, so a chunk is
 * never stored twice. fake-gcs-server implements this protocol, so no compose-based fallback
 * is needed. Small objects (under one chunk) are a single multipart upload at commit.
 *
 * The library's own retries are off (autoRetry false); retries happen in src/storage/retrying.ts.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { type File, type StorageOptions as GcsClientOptions, Storage } from '@google-cloud/storage';
import { StorageError } from '../errors.ts';
import type { ByteRange, ObjectInfo, ObjectWriter, PutOptions, StorageBackend } from './backend.ts';
import { alreadyExists, isNetworkError, messageOf, notFound, transient } from './errors.ts';
import { type HttpAnswer, HttpClient } from './http.ts';
import { checkKey } from './keys.ts';
import { DEFAULT_BUFFER_SIZE, joinKey, normalisePrefix, type StorageOptions } from './options.ts';
import { PartWriter } from './part-writer.ts';

const CHUNK_GRANULARITY = 256 * 1024;
const DEFAULT_ENDPOINT = 'https://storage.googleapis.com';

export interface GcsTuning {
  /** Per-request timeout in ms (default 120000). */
  requestTimeoutMs?: number;
  /** Objects per list page (default 1000). */
  listPageSize?: number;
  env?: NodeJS.ProcessEnv;
}

/** An HTTP answer that was not what we wanted (the library's ApiError has the same `code`). */
class HttpError extends Error {
  readonly code: number;
  constructor(status: number, text: string) {
    super(text.slice(0, 300) || `HTTP ${status}`);
    this.code = status;
  }
}

export function gcsError(error: unknown, op: string, bucket: string, key?: string, write = false): StorageError {
  if (error instanceof StorageError) return error;
  const e = (error ?? {}) as { code?: unknown; message?: string; name?: string };
  const status = typeof e.code === 'number' ? e.code : undefined;
  const message = messageOf(error);
  const what = `gcs ${op} ${key === undefined ? `gs://${bucket}` : `'${key}' in gs://${bucket}`}`;
  if (status === 404 && (write || /bucket/i.test(message)) && !/no such object/i.test(message)) {
    return new StorageError(`${what}: bucket ${bucket} does not exist`, 'permanent', {
      cause: error,
      code: 'STORAGE_NO_BUCKET',
      hint: `create bucket ${bucket}, or fix the bucket name / endpoint in the storage settings`,
    });
  }
  if (status === 404) return notFound(what, error);
  if (status === 412) return alreadyExists(what, error);
  if (
    status === 401 ||
    status === 403 ||
    /default credentials|invalid_grant|unauthorized_client|invalid_client|Could not refresh access token/i.test(message)
  ) {
    return new StorageError(
      `${what}: access denied${status ? ` (HTTP ${status})` : ''}; the credentials were rejected or lack permission`,
      'permanent',
      {
        code: 'STORAGE_AUTH',
        hint: 'check credentials_file (or GOOGLE_APPLICATION_CREDENTIALS / gcloud auth application-default login) and the IAM roles on the bucket',
      },
    );
  }
  if ((status !== undefined && (status >= 500 || status === 429 || status === 408)) || isNetworkError(error)) {
    return transient(what, status ? `HTTP ${status}` : message, error);
  }
  if (status === undefined && !(error instanceof TypeError && !isNetworkError(error)))
    return transient(what, message, error);
  return new StorageError(`${what}: ${status ? `HTTP ${status}: ` : ''}${message}`, 'permanent', {
    cause: error,
    code: 'STORAGE_REQUEST',
  });
}

export class GcsBackend implements StorageBackend {
  readonly location: string;
  readonly bucketName: string;
  readonly storage: Storage;
  private readonly endpoint: string;
  private readonly custom: boolean;
  private readonly prefix: string;
  private readonly partSize: number;
  private readonly listPageSize: number;
  private readonly timeoutMs: number;
  private readonly httpClient = new HttpClient();
  private readonly kmsKeyName: string | undefined;
  private readonly encryptionKey: Buffer | undefined;
  /** x-goog-encryption-* headers of a customer-supplied key, for our own requests (else empty). */
  private readonly keyHeaders: Record<string, string>;

  constructor(options: StorageOptions, tuning: GcsTuning = {}) {
    const env = tuning.env ?? process.env;
    if (!options.bucket) {
      throw new StorageError('gcs storage needs a bucket (gs://bucket/prefix or bucket:)', 'permanent', {
        code: 'STORAGE_CONFIG',
      });
    }
    this.bucketName = options.bucket;
    this.prefix = normalisePrefix(options.prefix);
    this.location = `gs://${this.bucketName}/${this.prefix}`.replace(/\/$/, '');
    const emulator = env['STORAGE_EMULATOR_HOST'];
    const raw = options.endpoint ?? emulator;
    this.custom = raw !== undefined && raw !== DEFAULT_ENDPOINT;
    this.endpoint = (raw ?? DEFAULT_ENDPOINT)
      .replace(/^(?![a-z]+:\/\/)/i, 'http://')
      .replace(/\/+$/, '')
      .replace(/\/storage\/v1$/, '');
    this.partSize = Math.max(
      CHUNK_GRANULARITY,
      Math.floor((options.buffer_size ?? DEFAULT_BUFFER_SIZE) / CHUNK_GRANULARITY) * CHUNK_GRANULARITY,
    );
    this.listPageSize = tuning.listPageSize ?? 1000;
    this.timeoutMs = tuning.requestTimeoutMs ?? 120_000;
    this.kmsKeyName = options.kms_key_name;
    this.encryptionKey = options.encryption_key ? Buffer.from(options.encryption_key, 'base64') : undefined;
    this.keyHeaders = this.encryptionKey
      ? {
          'x-goog-encryption-algorithm': 'AES256',
          'x-goog-encryption-key': this.encryptionKey.toString('base64'),
          'x-goog-encryption-key-sha256': createHash('sha256').update(this.encryptionKey).digest('base64'),
        }
      : {};
    const clientOptions: GcsClientOptions = {
      retryOptions: { autoRetry: false, maxRetries: 0 },
      timeout: this.timeoutMs,
    };
    if (this.custom) clientOptions.apiEndpoint = this.endpoint;
    if (options.credentials_file) clientOptions.keyFilename = options.credentials_file;
    const project = options.project_id ?? env['GOOGLE_CLOUD_PROJECT'];
    if (project) clientOptions.projectId = project;
    this.storage = new Storage(clientOptions);
    // With STORAGE_EMULATOR_HOST set, the SDK takes it verbatim as its JSON API base URL and
    // drops the /storage/v1 path (its list calls then 404 on fake-gcs-server): set it explicitly.
    if (this.custom) (this.storage as unknown as { baseUrl: string }).baseUrl = `${this.endpoint}/storage/v1`;
  }

  private nameOf(key: string): string {
    checkKey(key, this.location);
    return joinKey(this.prefix, key);
  }

  private file(key: string) {
    return this.storage.bucket(this.bucketName).file(this.nameOf(key), {
      ...(this.encryptionKey ? { encryptionKey: this.encryptionKey } : {}),
      ...(this.kmsKeyName ? { kmsKeyName: this.kmsKeyName } : {}),
    });
  }

  private err(error: unknown, op: string, key?: string, write = false): StorageError {
    return gcsError(error, op, this.bucketName, key, write);
  }

  private async authHeaders(): Promise<Record<string, string>> {
    if (this.custom) return {};
    const headers = await this.storage.authClient.getRequestHeaders();
    return Object.fromEntries(headers.entries());
  }

  private async http(
    url: string,
    init: { method: string; headers?: Record<string, string>; body?: Uint8Array | string },
  ): Promise<HttpAnswer> {
    return this.httpClient.send(url, {
      ...init,
      headers: { ...(await this.authHeaders()), ...this.keyHeaders, ...init.headers },
      timeoutMs: this.timeoutMs,
      wholeTimeout: true,
    });
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<void> {
    const file = this.file(key);
    try {
      await file.save(Buffer.from(body.buffer, body.byteOffset, body.byteLength), {
        resumable: false,
        contentType: 'application/octet-stream',
        ...(options.ifAbsent ? { preconditionOpts: { ifGenerationMatch: 0 } } : {}),
      });
    } catch (error) {
      throw this.err(error, 'put', key, true);
    }
  }

  async openWriter(key: string): Promise<ObjectWriter> {
    const name = this.nameOf(key);
    let session: string | undefined;
    let failedBefore = false;
    const start = async (): Promise<string> => {
      if (session) return session;
      const url = `${this.endpoint}/upload/storage/v1/b/${encodeURIComponent(this.bucketName)}/o?uploadType=resumable&name=${encodeURIComponent(name)}${this.kmsKeyName ? `&kmsKeyName=${encodeURIComponent(this.kmsKeyName)}` : ''}`;
      let res: HttpAnswer;
      try {
        res = await this.http(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json; charset=UTF-8',
            'x-upload-content-type': 'application/octet-stream',
          },
          body: JSON.stringify({
            name,
            contentType: 'application/octet-stream',
            ...(this.kmsKeyName ? { kmsKeyName: this.kmsKeyName } : {}),
          }),
        });
      } catch (error) {
        throw this.err(error, 'start resumable upload of', key, true);
      }
      const location = res.header('location');
      if (!res.ok || !location)
        throw this.err(new HttpError(res.status, await res.text()), 'start resumable upload of', key, true);
      await res.drain();
      session = location;
      return session;
    };
    /** Bytes the session has persisted (status query). */
    const persisted = async (uri: string): Promise<number | 'done'> => {
      const res = await this.http(uri, {
        method: 'PUT',
        headers: { 'content-range': 'bytes */*', 'content-length': '0' },
      });
      await res.drain();
      if (res.status === 200 || res.status === 201) return 'done';
      if (res.status !== 308) throw new HttpError(res.status, 'status query failed');
      const range = /bytes=0-(\d+)/.exec(res.header('range') ?? '');
      return range ? Number(range[1]) + 1 : 0;
    };
    /** Sends bytes [offset, offset+data.length) of the object; `total` set on the last chunk. */
    const send = async (offset: number, data: Buffer, total: number | undefined, what: string): Promise<void> => {
      try {
        const uri = await start();
        let from = 0;
        if (failedBefore) {
          const have = await persisted(uri);
          if (have === 'done') {
            failedBefore = false;
            return;
          }
          from = Math.max(0, Math.min(data.length, have - offset));
          if (from === data.length && total === undefined) {
            failedBefore = false;
            return;
          }
        }
        const body = data.subarray(from);
        const first = offset + from;
        const size = total === undefined ? '*' : String(total);
        const range = body.length === 0 ? `bytes */${size}` : `bytes ${first}-${first + body.length - 1}/${size}`;
        const res = await this.http(uri, {
          method: 'PUT',
          headers: { 'content-range': range, 'content-length': String(body.length) },
          body,
        });
        await res.drain();
        const ok = total === undefined ? res.status === 308 : res.status === 200 || res.status === 201;
        if (!ok) throw new HttpError(res.status, `unexpected answer to ${what}`);
        failedBefore = false;
      } catch (error) {
        failedBefore = true;
        throw this.err(error, what, key, true);
      }
    };
    return new PartWriter(
      this.partSize,
      {
        uploadPart: (index, data) => send(index * this.partSize, data, undefined, `upload chunk ${index} of`),
        finish: async (parts, rest, total) => {
          if (parts === 0 && !session) {
            await this.put(key, rest);
          } else {
            await send(parts * this.partSize, rest, total, 'finalise upload of');
          }
          return { key, size: total, lastModified: new Date() };
        },
        discard: async () => {
          if (!session) return;
          const res = await this.http(session, { method: 'DELETE' }).catch(() => undefined);
          await res?.drain();
        },
      },
      `'${key}' in ${this.location}`,
    );
  }

  async load(key: string, range?: ByteRange): Promise<Readable> {
    const name = this.nameOf(key);
    if (range?.length === 0) {
      await this.stat(key);
      return Readable.from([]);
    }
    const url = `${this.endpoint}/storage/v1/b/${encodeURIComponent(this.bucketName)}/o/${encodeURIComponent(name)}?alt=media`;
    const headers: Record<string, string> = {};
    if (range && (range.offset > 0 || range.length !== undefined)) {
      headers['range'] = `bytes=${range.offset}-${range.length === undefined ? '' : range.offset + range.length - 1}`;
    }
    let res: HttpAnswer;
    try {
      // the timeout covers the wait for the answer, not a slow consumer of the stream
      res = await this.httpClient.send(url, {
        method: 'GET',
        headers: { ...(await this.authHeaders()), ...this.keyHeaders, ...headers },
        timeoutMs: this.timeoutMs,
      });
    } catch (error) {
      throw this.err(error, 'load', key);
    }
    if (res.status !== 200 && res.status !== 206)
      throw this.err(new HttpError(res.status, await res.text()), 'load', key);
    return res.body;
  }

  async get(key: string): Promise<Buffer> {
    const file = this.file(key);
    try {
      const [data] = await file.download();
      return data;
    } catch (error) {
      throw this.err(error, 'get', key);
    }
  }

  async stat(key: string): Promise<ObjectInfo> {
    const file = this.file(key);
    try {
      const [m] = await file.getMetadata();
      return { key, size: Number(m.size ?? 0), ...(m.updated ? { lastModified: new Date(m.updated) } : {}) };
    } catch (error) {
      throw this.err(error, 'stat', key);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    if (prefix) checkKey(prefix, this.location, true);
    const bucket = this.storage.bucket(this.bucketName);
    let pageToken: string | undefined;
    do {
      let files: File[];
      let next: { pageToken?: string } | null | undefined;
      try {
        const out = await bucket.getFiles({
          prefix: this.prefix + prefix,
          autoPaginate: false,
          maxResults: this.listPageSize,
          ...(pageToken ? { pageToken } : {}),
        });
        files = out[0];
        next = out[1] as { pageToken?: string } | null | undefined;
      } catch (error) {
        throw this.err(error, 'list', prefix || undefined);
      }
      for (const f of files) {
        yield {
          key: f.name.slice(this.prefix.length),
          size: Number(f.metadata.size ?? 0),
          ...(f.metadata.updated ? { lastModified: new Date(f.metadata.updated) } : {}),
        };
      }
      pageToken = next?.pageToken;
    } while (pageToken);
  }

  async delete(key: string): Promise<void> {
    const file = this.file(key);
    try {
      await file.delete();
    } catch (error) {
      const mapped = this.err(error, 'delete', key);
      if (mapped.storageKind !== 'not-found') throw mapped;
    }
  }

  async close(): Promise<void> {
    this.httpClient.close();
  }
}
