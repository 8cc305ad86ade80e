/**
 * Storage options: the `storage:` section of the YAML config (snake_case, validated with zod
 * elsewhere), a URL's parse result, or both merged. Everything but `backend` is optional;
 * `withDefaults` fills in buffer_size, max_concurrent_requests and retry.
 */
export type BackendKind = 'filesystem' | 's3' | 'azure' | 'gcs';

export interface RetryOptions {
  max_retries: number;
  initial_delay_ms: number;
  max_delay_ms: number;
}

export interface StorageOptions {
  backend: BackendKind;
  /** `s3://bucket/prefix`, `azure://account/container/prefix`, `gs://bucket/prefix`, `file:///abs/path` or a path. */
  url?: string;
  /** filesystem: root directory. */
  path?: string;
  /** s3 / gcs bucket. */
  bucket?: string;
  /** Key prefix inside the bucket/container ('' or no trailing '/' needed). */
  prefix?: string;

  // S3
  region?: string;
  /** Custom endpoint (MinIO, moto, Ceph, R2); for Azure the blob service URL; for GCS the API endpoint. */
  endpoint?: string;
  path_style?: boolean;
  access_key_id?: string;
  secret_access_key?: string;
  session_token?: string;
  /** Server-side encryption with keys S3 manages (AES256, SSE-S3) or with a KMS key (aws:kms, SSE-KMS). */
  sse?: 'AES256' | 'aws:kms';
  sse_kms_key_id?: string;
  /** SSE-C: a 256-bit key of the user's, base64; sent with every object request, never stored by S3. */
  sse_customer_key?: string;
  storage_class?: string;
  request_checksum_calculation?: 'when_supported' | 'when_required';

  // Azure
  account?: string;
  container?: string;
  account_key?: string;
  sas_token?: string;
  connection_string?: string;
  /** Azure: encryption scope (a key the account manages, possibly in Key Vault) for every write. */
  encryption_scope?: string;
  /** Azure: customer-provided key, 256-bit base64; sent with every blob request (HTTPS only). */
  customer_provided_key?: string;

  // GCS
  credentials_file?: string;
  project_id?: string;
  /** GCS: customer-managed key (Cloud KMS key resource name) for every new object. */
  kms_key_name?: string;
  /** GCS: customer-supplied key, 256-bit base64; sent with every object request. */
  encryption_key?: string;

  // all backends
  /** Part size for streamed writes (S3 multipart part, Azure block, GCS chunk). Default 5 MiB. */
  buffer_size?: number;
  /** Requests in flight at once against this storage. Default 8. */
  max_concurrent_requests?: number;
  retry?: Partial<RetryOptions>;
}

/** Partial options, as parsed from a URL (backend may be implied by another field). */
export type PartialStorageOptions = Partial<StorageOptions>;

/** 5 MiB, S3's smallest part: each open data file holds one part (see src/config/memory.ts). */
export const DEFAULT_BUFFER_SIZE = 5 * 1024 * 1024;
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 8;
export const DEFAULT_RETRY: RetryOptions = { max_retries: 8, initial_delay_ms: 200, max_delay_ms: 30_000 };

export type ResolvedStorageOptions = StorageOptions & {
  buffer_size: number;
  max_concurrent_requests: number;
  retry: RetryOptions;
};

export function withDefaults(options: StorageOptions): ResolvedStorageOptions {
  return {
    ...options,
    buffer_size: options.buffer_size ?? DEFAULT_BUFFER_SIZE,
    max_concurrent_requests: options.max_concurrent_requests ?? DEFAULT_MAX_CONCURRENT_REQUESTS,
    retry: { ...DEFAULT_RETRY, ...stripUndefined(options.retry ?? {}) },
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Joins a prefix and a key with exactly one '/', for object stores. */
export function joinKey(prefix: string | undefined, key: string): string {
  const p = (prefix ?? '').replace(/^\/+|\/+$/g, '');
  return p ? `${p}/${key}` : key;
}

/** Normalises a prefix to '' or 'a/b/' form. */
export function normalisePrefix(prefix: string | undefined): string {
  const p = (prefix ?? '').replace(/^\/+|\/+$/g, '');
  return p ? `${p}/` : '';
}
