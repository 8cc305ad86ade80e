/**
 * S3 backend (AWS SDK v3). Works with AWS and S3-compatible servers (MinIO, Ceph, R2, moto).
 *
 * Configuration (StorageOptions) and environment:
 *   bucket, prefix              where objects go (`s3://bucket/prefix`)
 *   region                      else AWS_REGION, AWS_DEFAULT_REGION, else us-east-1
 *   endpoint                    else AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL; none = AWS
 *   path_style                  forced on for IP-address and localhost endpoints
 *   access_key_id + secret_access_key (+ session_token)
 *                               else the SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
 *                               AWS_PROFILE and ~/.aws, web identity, ECS/EC2 metadata)
 *   sse, sse_kms_key_id         server-side encryption on every write (SSE-S3, SSE-KMS)
 *   sse_customer_key            SSE-C: the key goes with every write AND read of an object
 *   storage_class               on every write
 *   request_checksum_calculation 'when_required' for servers that reject the SDK's default CRC32 checksums
 *   buffer_size                 multipart part size (at least 5 MiB, S3's minimum)
 *
 * The SDK's own retries are off (maxAttempts 1): retries happen in src/storage/retrying.ts, so
 * they are counted, logged and bounded in one place.
 */
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  type ListMultipartUploadsCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { StorageError } from '../errors.ts';
import type { ByteRange, IncompleteWrite, ObjectInfo, ObjectWriter, PutOptions, StorageBackend } from './backend.ts';
import { alreadyExists, isNetworkError, messageOf, notFound, transient } from './errors.ts';
import { checkKey } from './keys.ts';
import { DEFAULT_BUFFER_SIZE, joinKey, normalisePrefix, type StorageOptions } from './options.ts';
import { PartWriter } from './part-writer.ts';

export const S3_MIN_PART_SIZE = 5 * 1024 * 1024;

/** Knobs that are not part of the YAML config (tests use small ones). */
export interface S3Tuning {
  /** Socket idle / request timeout in ms (default 120000). */
  requestTimeoutMs?: number;
  /** Connect timeout in ms (default 10000). */
  connectTimeoutMs?: number;
  /** ListObjectsV2 MaxKeys (default 1000). */
  listPageSize?: number;
  env?: NodeJS.ProcessEnv;
}

interface SdkError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

const AUTH_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
]);
const TRANSIENT_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'RequestLimitExceeded',
  'ConditionalRequestConflict',
  'OperationAborted',
  'TimeoutError',
]);

/** Maps an SDK error to a StorageError. `bucket` is named in bucket/auth messages. */
export function s3Error(error: unknown, op: string, bucket: string, key?: string): StorageError {
  if (error instanceof StorageError) return error;
  const e = (error ?? {}) as SdkError;
  const code = e.name ?? e.Code ?? e.code ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const what = `s3 ${op} ${key === undefined ? `s3://${bucket}` : `'${key}' in s3://${bucket}`}`;
  if (code === 'NoSuchBucket') {
    return new StorageError(`${what}: bucket ${bucket} does not exist`, 'permanent', {
      cause: error,
      code: 'STORAGE_NO_BUCKET',
      hint: `create bucket ${bucket}, or fix the bucket name / endpoint / region in the storage settings`,
    });
  }
  if (code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchUpload' || status === 404) {
    return notFound(what, error);
  }
  if (code === 'PreconditionFailed' || status === 412) return alreadyExists(what, error);
  if (AUTH_CODES.has(code) || status === 403 || status === 401) {
    return new StorageError(
      `${what}: access denied (${code}); the credentials were rejected or lack permission`,
      'permanent',
      {
        cause: error,
        code: 'STORAGE_AUTH',
        hint: 'check access_key_id/secret_access_key (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE), the region, and the bucket policy',
      },
    );
  }
  if (code === 'CredentialsProviderError') {
    return new StorageError(`${what}: no AWS credentials found`, 'permanent', {
      cause: error,
      code: 'STORAGE_AUTH',
      hint: 'set access_key_id/secret_access_key in the config, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE in the environment',
    });
  }
  if (code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed' || status === 301) {
    return new StorageError(`${what}: wrong region or endpoint for bucket ${bucket} (${code})`, 'permanent', {
      cause: error,
      code: 'STORAGE_REGION',
      hint: 'set region (or AWS_REGION) to the bucket’s region',
    });
  }
  if (
    TRANSIENT_CODES.has(code) ||
    (status !== undefined && (status >= 500 || status === 429 || status === 408)) ||
    isNetworkError(error) ||
    (status === undefined && e.$retryable !== undefined)
  ) {
    return transient(what, status ? `${code} (HTTP ${status})` : `${code}: ${messageOf(error)}`, error);
  }
  if (status === undefined && !(error instanceof TypeError)) {
    // No HTTP answer at all: a socket or parse problem on the way; worth retrying.
    return transient(what, `${code}: ${messageOf(error)}`, error);
  }
  return new StorageError(`${what}: ${code}${status ? ` (HTTP ${status})` : ''}: ${messageOf(error)}`, 'permanent', {
    cause: error,
    code: 'STORAGE_REQUEST',
  });
}

function isLocalEndpoint(endpoint: string): boolean {
  try {
    const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
    return isIP(host) !== 0 || host === 'localhost' || host.endsWith('.localhost');
  } catch {
    return false;
  }
}

export class S3Backend implements StorageBackend {
  readonly location: string;
  readonly bucket: string;
  readonly client: S3Client;
  private readonly prefix: string;
  private readonly partSize: number;
  private readonly listPageSize: number;
  private readonly writeParams: Record<string, string>;
  /** SSE-C headers: on every request that touches an object's data or metadata. */
  private readonly keyParams: { SSECustomerAlgorithm?: string; SSECustomerKey?: string };

  constructor(options: StorageOptions, tuning: S3Tuning = {}) {
    const env = tuning.env ?? process.env;
    if (!options.bucket) {
      throw new StorageError('s3 storage needs a bucket (s3://bucket/prefix or bucket:)', 'permanent', {
        code: 'STORAGE_CONFIG',
      });
    }
    this.bucket = options.bucket;
    this.prefix = normalisePrefix(options.prefix);
    this.location = `s3://${this.bucket}/${this.prefix}`.replace(/\/$/, '');
    this.partSize = Math.max(S3_MIN_PART_SIZE, options.buffer_size ?? DEFAULT_BUFFER_SIZE);
    this.listPageSize = tuning.listPageSize ?? 1000;
    const endpoint = options.endpoint ?? env['AWS_ENDPOINT_URL_S3'] ?? env['AWS_ENDPOINT_URL'];
    const region = options.region ?? env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? 'us-east-1';
    const config: S3ClientConfig = {
      region,
      maxAttempts: 1,
      forcePathStyle: options.path_style ?? (endpoint ? isLocalEndpoint(endpoint) : false),
      requestHandler: {
        connectionTimeout: tuning.connectTimeoutMs ?? 10_000,
        requestTimeout: tuning.requestTimeoutMs ?? 120_000,
        throwOnRequestTimeout: true,
      },
    };
    if (endpoint) config.endpoint = endpoint;
    if (options.request_checksum_calculation) {
      config.requestChecksumCalculation =
        options.request_checksum_calculation === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
      config.responseChecksumValidation = config.requestChecksumCalculation;
    }
    if (options.access_key_id || options.secret_access_key) {
      if (!options.access_key_id || !options.secret_access_key) {
        throw new StorageError('s3 storage: access_key_id and secret_access_key must be set together', 'permanent', {
          code: 'STORAGE_CONFIG',
        });
      }
      config.credentials = {
        accessKeyId: options.access_key_id,
        secretAccessKey: options.secret_access_key,
        ...(options.session_token ? { sessionToken: options.session_token } : {}),
      };
    }
    this.client = new S3Client(config);
    const params: Record<string, string> = {};
    if (options.sse) params['ServerSideEncryption'] = options.sse;
    if (options.sse === 'aws:kms' && options.sse_kms_key_id) params['SSEKMSKeyId'] = options.sse_kms_key_id;
    if (options.storage_class) params['StorageClass'] = options.storage_class;
    // The SDK adds the key's MD5 (x-amz-server-side-encryption-customer-key-MD5) itself.
    this.keyParams = options.sse_customer_key
      ? { SSECustomerAlgorithm: 'AES256', SSECustomerKey: options.sse_customer_key }
      : {};
    this.writeParams = { ...params, ...this.keyParams };
  }

  private keyOf(key: string): string {
    checkKey(key, this.location);
    return joinKey(this.prefix, key);
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<void> {
    const Key = this.keyOf(key);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key,
          Body: body,
          ContentLength: body.length,
          ...(options.ifAbsent ? { IfNoneMatch: '*' } : {}),
          ...this.writeParams,
        }),
      );
    } catch (error) {
      throw s3Error(error, 'put', this.bucket, key);
    }
  }

  async openWriter(key: string): Promise<ObjectWriter> {
    const Key = this.keyOf(key);
    const { client, bucket } = this;
    let uploadId: string | undefined;
    const etags: string[] = [];
    const ensureUpload = async (): Promise<string> => {
      if (uploadId) return uploadId;
      try {
        const out = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key, ...this.writeParams }));
        if (!out.UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
        uploadId = out.UploadId;
        return uploadId;
      } catch (error) {
        throw s3Error(error, 'start multipart upload of', bucket, key);
      }
    };
    const uploadPart = async (index: number, data: Uint8Array): Promise<void> => {
      const UploadId = await ensureUpload();
      try {
        const out = await client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key,
            UploadId,
            PartNumber: index + 1,
            Body: data,
            ContentLength: data.length,
            ...this.keyParams,
          }),
        );
        etags[index] = out.ETag ?? '';
      } catch (error) {
        throw s3Error(error, `upload part ${index + 1} of`, bucket, key);
      }
    };
    return new PartWriter(
      this.partSize,
      {
        uploadPart,
        finish: async (parts, rest, total) => {
          if (parts === 0) {
            // Smaller than one part: a single PutObject is one request instead of three.
            await this.put(key, rest);
            return { key, size: total, lastModified: new Date() };
          }
          const UploadId = await ensureUpload();
          if (rest.length > 0 && etags[parts] === undefined) await uploadPart(parts, rest);
          const count = rest.length > 0 ? parts + 1 : parts;
          try {
            await client.send(
              new CompleteMultipartUploadCommand({
                Bucket: bucket,
                Key,
                UploadId,
                MultipartUpload: { Parts: etags.slice(0, count).map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
                ...this.keyParams,
              }),
            );
          } catch (error) {
            const mapped = s3Error(error, 'complete multipart upload of', bucket, key);
            // A retried complete whose first try succeeded but whose answer was lost.
            if (mapped.storageKind === 'not-found') {
              const info = await this.stat(key).catch(() => undefined);
              if (info && info.size === total) return info;
            }
            throw mapped;
          }
          return { key, size: total, lastModified: new Date() };
        },
        discard: async () => {
          if (!uploadId) return;
          try {
            await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId: uploadId }));
          } catch (error) {
            const mapped = s3Error(error, 'abort multipart upload of', bucket, key);
            if (mapped.storageKind !== 'not-found') throw mapped;
          }
        },
      },
      `'${key}' in ${this.location}`,
    );
  }

  async load(key: string, range?: ByteRange): Promise<Readable> {
    const Key = this.keyOf(key);
    if (range?.length === 0) {
      await this.stat(key);
      return Readable.from([]);
    }
    const Range =
      range === undefined
        ? undefined
        : `bytes=${range.offset}-${range.length === undefined ? '' : range.offset + range.length - 1}`;
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key, ...(Range ? { Range } : {}), ...this.keyParams }),
      );
      return out.Body as Readable;
    } catch (error) {
      throw s3Error(error, 'load', this.bucket, key);
    }
  }

  async get(key: string): Promise<Buffer> {
    const Key = this.keyOf(key);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key, ...this.keyParams }));
      if (!out.Body) return Buffer.alloc(0);
      return Buffer.from(await out.Body.transformToByteArray());
    } catch (error) {
      throw s3Error(error, 'get', this.bucket, key);
    }
  }

  async stat(key: string): Promise<ObjectInfo> {
    const Key = this.keyOf(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key, ...this.keyParams }));
      return { key, size: out.ContentLength ?? 0, ...(out.LastModified ? { lastModified: out.LastModified } : {}) };
    } catch (error) {
      throw s3Error(error, 'stat', this.bucket, key);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    if (prefix) checkKey(prefix, this.location, true);
    const Prefix = this.prefix + prefix;
    let ContinuationToken: string | undefined;
    do {
      let out: ListObjectsV2CommandOutput;
      try {
        out = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix,
            MaxKeys: this.listPageSize,
            ...(ContinuationToken ? { ContinuationToken } : {}),
          }),
        );
      } catch (error) {
        throw s3Error(error, 'list', this.bucket, prefix || undefined);
      }
      for (const o of out.Contents ?? []) {
        if (!o.Key) continue;
        yield {
          key: o.Key.slice(this.prefix.length),
          size: o.Size ?? 0,
          ...(o.LastModified ? { lastModified: o.LastModified } : {}),
        };
      }
      ContinuationToken = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  /**
   * Multipart uploads under `prefix` that were started and never completed or aborted (a writer
   * killed mid-upload). Their parts cost storage until aborted; no object listing shows them.
   */
  async *listIncomplete(prefix: string): AsyncIterable<IncompleteWrite> {
    if (prefix) checkKey(prefix, this.location, true);
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    do {
      let out: ListMultipartUploadsCommandOutput;
      try {
        out = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ...(KeyMarker ? { KeyMarker } : {}),
            ...(UploadIdMarker ? { UploadIdMarker } : {}),
          }),
        );
      } catch (error) {
        throw s3Error(error, 'list uploads', this.bucket, prefix || undefined);
      }
      for (const u of out.Uploads ?? []) {
        if (!u.Key || !u.UploadId) continue;
        yield {
          key: u.Key.slice(this.prefix.length),
          id: u.UploadId,
          size: 0,
          ...(u.Initiated ? { startedAt: u.Initiated } : {}),
        };
      }
      const more = out.IsTruncated === true;
      KeyMarker = more ? out.NextKeyMarker : undefined;
      UploadIdMarker = more ? out.NextUploadIdMarker : undefined;
    } while (KeyMarker);
  }

  async abortIncomplete(write: IncompleteWrite): Promise<void> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.keyOf(write.key), UploadId: write.id }),
      );
    } catch (error) {
      const mapped = s3Error(error, 'abort upload of', this.bucket, write.key);
      // NoSuchUpload: completed or aborted meanwhile
      if (mapped.storageKind !== 'not-found' || mapped.code === 'STORAGE_NO_BUCKET') throw mapped;
    }
  }

  async delete(key: string): Promise<void> {
    const Key = this.keyOf(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (error) {
      const mapped = s3Error(error, 'delete', this.bucket, key);
      if (mapped.storageKind !== 'not-found' || mapped.code === 'STORAGE_NO_BUCKET') throw mapped;
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
