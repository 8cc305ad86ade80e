/**
 * The configuration file schema: one zod schema, snake_case keys, unknown keys rejected at every
 * level, defaults for everything that can have one. docs/configuration.md documents every key
 * (test/unit/config/docs.test.ts keeps the two in step).
 *
 * Conventions the error formatter (src/config/problems.ts) relies on:
 * - a refinement that checks one value's shape passes `params: { expected: '<what>' }`; its message
 *   is not shown, the formatter writes "expected <what>, found ...";
 * - a cross-field refinement writes a full sentence as its message and points `path` at the key to fix.
 */
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { parseDuration } from '../repository/retention-policy.ts';

export const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// building blocks

const expecting = (expected: string) => ({ message: `expected ${expected}`, params: { expected } });

/** A whole number of at least `min` (and at most `max`). */
const int = (min: number, max: number = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);

const nonEmpty = () => z.string().min(1);

/** Kafka's own rule for topic names. */
export const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
const TopicName = z.string().regex(TOPIC_NAME, expecting('a topic name (letters, digits, ".", "_", "-")'));
const PartitionKey = z.string().regex(/^\d+$/, expecting('a partition number'));

export const BACKUP_ID = /^[A-Za-z0-9._-]+$/;
const Identifier = (what: string) =>
  z
    .string()
    .regex(BACKUP_ID, expecting(`${what} made of letters, digits, ".", "_" and "-"`))
    .refine((v) => v !== '.' && v !== '..', expecting(`${what} other than "." or ".."`));

/** A glob (`*`, `?`) or, when it starts with `~`, a regular expression. */
const Pattern = nonEmpty().superRefine((v, ctx) => {
  if (!v.startsWith('~')) return;
  try {
    new RegExp(v.slice(1));
  } catch (error) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a valid regular expression after ~ (${(error as Error).message})`,
      params: {
        expected: `a valid regular expression after ~ (${(error as Error).message.replace(/^Invalid regular expression: /, '')})`,
      },
      input: v,
    });
  }
});

export function isHostPort(value: string): boolean {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(value);
  if (!m) return false;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?))?$/;
const TIME_EXPECTED = 'an ISO-8601 time with a time zone (2024-05-01T12:00:00Z) or epoch milliseconds';

/** ISO-8601 text or epoch milliseconds → epoch milliseconds. Date-times need a zone; a bare date is UTC midnight. */
export function parseTime(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return parseTime(Number(text));
  if (!ISO_TIME.test(text)) return undefined;
  const ms = Date.parse(text.replace(' ', 'T'));
  return Number.isNaN(ms) ? undefined : ms;
}

const Time = z.union([z.number(), z.string()], { error: TIME_EXPECTED }).transform((v, ctx): number => {
  const ms = parseTime(v);
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected ${TIME_EXPECTED}`,
      params: { expected: TIME_EXPECTED },
      input: v,
    });
    return z.NEVER;
  }
  return ms;
});

const START_EXPECTED = 'earliest, latest, an ISO-8601 time with a time zone, or epoch milliseconds';
const BackupStart = z
  .union([z.number(), z.string()], { error: START_EXPECTED })
  .transform((v, ctx): 'earliest' | 'latest' | number => {
    if (v === 'earliest' || v === 'latest') return v;
    const ms = parseTime(v);
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `expected ${START_EXPECTED}`,
        params: { expected: START_EXPECTED },
        input: v,
      });
      return z.NEVER;
    }
    return ms;
  });

const CircuitBreaker = z.strictObject({
  failure_threshold: int(1).default(5),
  reset_timeout_secs: int(1).default(30),
  half_open_requests: int(1).default(1),
});

const Retry = z
  .strictObject({
    max_retries: int(0, 100).default(8),
    initial_delay_ms: int(1).default(200),
    max_delay_ms: int(1).default(30000),
  })
  .superRefine((v, ctx) => {
    if (v.max_delay_ms < v.initial_delay_ms)
      ctx.addIssue({
        code: 'custom',
        path: ['max_delay_ms'],
        message: `must be at least initial_delay_ms (${v.initial_delay_ms}), found ${v.max_delay_ms}`,
      });
  });

// ---------------------------------------------------------------------------------------------
// Kafka connection

export const SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'] as const;

function atMostOne(
  v: Record<string, unknown>,
  keys: string[],
  ctx: z.RefinementCtx,
  required: boolean,
  why: string,
): void {
  const set = keys.filter((k) => v[k] !== undefined);
  if (set.length > 1)
    ctx.addIssue({
      code: 'custom',
      path: [set[1]!],
      message: `${set.join(' and ')} are both set; use only one of ${keys.join(', ')}`,
    });
  else if (required && set.length === 0)
    ctx.addIssue({ code: 'custom', path: [keys[0]!], message: `${why}: set one of ${keys.join(', ')}` });
}

const Sasl = z
  .strictObject({
    mechanism: z.enum(SASL_MECHANISMS),
    username: nonEmpty().optional(),
    password: nonEmpty().optional(),
    password_file: nonEmpty().optional(),
    token: nonEmpty().optional(),
    token_file: nonEmpty().optional(),
    token_command: nonEmpty().optional(),
  })
  .superRefine((v, ctx) => {
    if (v.mechanism === 'OAUTHBEARER') {
      atMostOne(v, ['token', 'token_file', 'token_command'], ctx, true, 'OAUTHBEARER needs a token');
      for (const k of ['username', 'password', 'password_file'] as const)
        if (v[k] !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: [k],
            message: 'not used by mechanism OAUTHBEARER; remove it or use PLAIN or SCRAM',
          });
    } else {
      if (v.username === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['username'],
          message: `missing; mechanism ${v.mechanism} needs a username`,
        });
      atMostOne(v, ['password', 'password_file'], ctx, true, `mechanism ${v.mechanism} needs a password`);
      for (const k of ['token', 'token_file', 'token_command'] as const)
        if (v[k] !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: [k],
            message: `only used by mechanism OAUTHBEARER, not ${v.mechanism}`,
          });
    }
  });

const Tls = z
  .strictObject({
    ca_file: nonEmpty().optional(),
    cert_file: nonEmpty().optional(),
    key_file: nonEmpty().optional(),
    key_password: nonEmpty().optional(),
    key_password_file: nonEmpty().optional(),
    verify_hostname: z.boolean().default(true),
  })
  .superRefine((v, ctx) => {
    atMostOne(v, ['key_password', 'key_password_file'], ctx, false, '');
    if (v.cert_file !== undefined && v.key_file === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['key_file'],
        message: 'missing; a client certificate (cert_file) needs its key_file',
      });
    if (v.key_file !== undefined && v.cert_file === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['cert_file'],
        message: 'missing; a client key (key_file) needs its cert_file',
      });
    if ((v.key_password !== undefined || v.key_password_file !== undefined) && v.key_file === undefined)
      ctx.addIssue({
        code: 'custom',
        path: [v.key_password !== undefined ? 'key_password' : 'key_password_file'],
        message: 'set but key_file is not; the password decrypts key_file',
      });
  });

const Security = z
  .strictObject({
    protocol: z.enum(SECURITY_PROTOCOLS).default('PLAINTEXT'),
    sasl: Sasl.optional(),
    tls: Tls.optional(),
  })
  .superRefine((v, ctx) => {
    const isSasl = v.protocol.startsWith('SASL_');
    const isTls = v.protocol.endsWith('SSL');
    if (isSasl && v.sasl === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['sasl'],
        message: `missing; protocol ${v.protocol} needs sasl: { mechanism, username, password }`,
      });
    if (!isSasl && v.sasl !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['protocol'],
        message: `${v.protocol} does not authenticate with SASL, but sasl is set; use ${isTls ? 'SASL_SSL' : 'SASL_PLAINTEXT'}`,
      });
    if (!isTls && v.tls !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['protocol'],
        message: `${v.protocol} does not use TLS, but tls is set; use ${isSasl ? 'SASL_SSL' : 'SSL'}`,
      });
  });

const BootstrapServers = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0)
      : v,
  z.array(z.string().refine(isHostPort, expecting('host:port'))).min(1),
);

const connectionShape = {
  bootstrap_servers: BootstrapServers,
  client_id: nonEmpty().default('kafka-backup'),
  client_rack: nonEmpty().optional(),
  request_timeout_ms: int(100).default(30000),
  connect_timeout_ms: int(100).default(10000),
  security: Security.optional(),
};

const SourceTopics = z.strictObject({
  include: z.array(Pattern).default(['*']),
  exclude: z.array(Pattern).default([]),
  include_internal: z.boolean().default(false),
});

const KafkaConnection = z.strictObject(connectionShape);
const Source = z.strictObject({ ...connectionShape, topics: SourceTopics.prefault({}) });

// ---------------------------------------------------------------------------------------------
// storage

export const STORAGE_BACKENDS = ['filesystem', 's3', 'azure', 'gcs'] as const;
export type StorageBackend = (typeof STORAGE_BACKENDS)[number];

export interface StorageLocation {
  backend: StorageBackend;
  /** filesystem root */
  path?: string;
  /** s3 / gcs bucket */
  bucket?: string;
  /** azure storage account */
  account?: string;
  /** azure container */
  container?: string;
  /** key prefix inside the bucket or container, no leading or trailing slash */
  prefix?: string;
}

export const STORAGE_URL_EXPECTED =
  's3://bucket/prefix, azure://account/container/prefix, gs://bucket/prefix, file:///path or a path';

/** Parses a storage URL; undefined when it is not one of the supported forms. */
export function parseStorageUrl(url: string): StorageLocation | undefined {
  const text = url.trim();
  if (text.length === 0) return undefined;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text);
  if (!scheme) return { backend: 'filesystem', path: text };
  const kind = scheme[1]!.toLowerCase();
  if (kind === 'file') {
    try {
      return { backend: 'filesystem', path: fileURLToPath(text) };
    } catch {
      return undefined;
    }
  }
  if (/[?#]/.test(text)) return undefined;
  const parts = text
    .slice(scheme[0].length)
    .split('/')
    .filter((p) => p.length > 0);
  const trimPrefix = (segments: string[]): string | undefined => (segments.length ? segments.join('/') : undefined);
  if (kind === 's3' || kind === 'gs' || kind === 'gcs') {
    const bucket = parts[0];
    if (!bucket || bucket.includes('@')) return undefined;
    const location: StorageLocation = { backend: kind === 's3' ? 's3' : 'gcs', bucket };
    const prefix = trimPrefix(parts.slice(1));
    if (prefix !== undefined) location.prefix = prefix;
    return location;
  }
  if (kind === 'azure' || kind === 'az') {
    const [account, container] = parts;
    if (!account || !container || account.includes('@')) return undefined;
    const location: StorageLocation = { backend: 'azure', account, container };
    const prefix = trimPrefix(parts.slice(2));
    if (prefix !== undefined) location.prefix = prefix;
    return location;
  }
  return undefined;
}

const StorageUrl = nonEmpty().refine((v) => parseStorageUrl(v) !== undefined, expecting(STORAGE_URL_EXPECTED));

/** Which backend uses which key; keys not listed here apply to every backend. */
export const STORAGE_KEY_BACKENDS: Record<string, readonly StorageBackend[]> = {
  path: ['filesystem'],
  bucket: ['s3', 'gcs'],
  prefix: ['s3', 'azure', 'gcs'],
  region: ['s3'],
  endpoint: ['s3', 'azure', 'gcs'],
  path_style: ['s3'],
  access_key_id: ['s3'],
  secret_access_key: ['s3'],
  session_token: ['s3'],
  sse: ['s3'],
  sse_kms_key_id: ['s3'],
  sse_customer_key: ['s3'],
  encryption_scope: ['azure'],
  customer_provided_key: ['azure'],
  kms_key_name: ['gcs'],
  encryption_key: ['gcs'],
  storage_class: ['s3', 'gcs'],
  request_checksum_calculation: ['s3'],
  account: ['azure'],
  container: ['azure'],
  account_key: ['azure'],
  sas_token: ['azure'],
  connection_string: ['azure'],
  credentials_file: ['gcs'],
  project_id: ['gcs'],
};

/** A 256-bit key, base64 (storage-side customer keys: S3 SSE-C, Azure CPK, GCS CSEK). */
const Base64Key256 = nonEmpty().refine(
  (v) => /^[A-Za-z0-9+/]{43}=$/.test(v) && Buffer.from(v, 'base64').length === 32,
  expecting('a 256-bit key in base64 (44 characters, e.g. from `openssl rand -base64 32`)'),
);

const StorageInput = z.strictObject({
  backend: z.enum(STORAGE_BACKENDS).optional(),
  url: StorageUrl.optional(),
  path: nonEmpty().optional(),
  bucket: nonEmpty().optional(),
  prefix: z.string().optional(),
  region: nonEmpty().optional(),
  endpoint: nonEmpty().optional(),
  path_style: z.boolean().default(false),
  access_key_id: nonEmpty().optional(),
  secret_access_key: nonEmpty().optional(),
  session_token: nonEmpty().optional(),
  sse: z.enum(['AES256', 'aws:kms']).optional(),
  sse_kms_key_id: nonEmpty().optional(),
  sse_customer_key: Base64Key256.optional(),
  encryption_scope: nonEmpty().optional(),
  customer_provided_key: Base64Key256.optional(),
  kms_key_name: nonEmpty().optional(),
  encryption_key: Base64Key256.optional(),
  storage_class: nonEmpty().optional(),
  request_checksum_calculation: z.enum(['when_supported', 'when_required']).default('when_supported'),
  account: nonEmpty().optional(),
  container: nonEmpty().optional(),
  account_key: nonEmpty().optional(),
  sas_token: nonEmpty().optional(),
  connection_string: nonEmpty().optional(),
  credentials_file: nonEmpty().optional(),
  project_id: nonEmpty().optional(),
  buffer_size: int(5 * MiB, 4096 * MiB).default(5 * MiB),
  max_concurrent_requests: int(1, 1024).default(8),
  retry: Retry.prefault({}),
});

type StorageInputValue = z.output<typeof StorageInput>;

function resolveLocation(v: StorageInputValue): StorageLocation | undefined {
  if (v.url !== undefined) return parseStorageUrl(v.url);
  const location: StorageLocation = { backend: v.backend ?? 'filesystem' };
  for (const k of ['path', 'bucket', 'account', 'container'] as const) if (v[k] !== undefined) location[k] = v[k];
  if (v.prefix !== undefined) location.prefix = v.prefix;
  return location;
}

const Storage = StorageInput.superRefine((v, ctx) => {
  if (v.url !== undefined) {
    const clash = (['backend', 'path', 'bucket', 'prefix', 'account', 'container'] as const).filter(
      (k) => v[k] !== undefined,
    );
    for (const k of clash)
      ctx.addIssue({
        code: 'custom',
        path: [k],
        message: `cannot be combined with storage.url, which already names the ${k === 'backend' ? 'backend' : 'location'}; remove one of them`,
      });
    if (clash.length) return;
  }
  const location = resolveLocation(v);
  if (!location) return; // url problem already reported
  const backend = location.backend;
  const how = v.url !== undefined ? `storage.url is ${backend}` : `backend is ${backend}`;
  for (const [k, backends] of Object.entries(STORAGE_KEY_BACKENDS)) {
    if ((v as Record<string, unknown>)[k] === undefined || backends.includes(backend)) continue;
    if (k === 'path_style' || k === 'request_checksum_calculation') continue; // defaults, harmless
    ctx.addIssue({
      code: 'custom',
      path: [k],
      message: `only used by the ${backends.join(' and ')} backend${backends.length > 1 ? 's' : ''}, but ${how}`,
    });
  }
  const missing = (key: string, why: string) =>
    ctx.addIssue({ code: 'custom', path: [key], message: `missing; ${why}` });
  if (backend === 'filesystem' && location.path === undefined)
    missing('path', 'the filesystem backend needs a directory (or set storage.url)');
  if ((backend === 's3' || backend === 'gcs') && location.bucket === undefined)
    missing(
      'bucket',
      `the ${backend} backend needs a bucket (or set storage.url to ${backend === 's3' ? 's3' : 'gs'}://bucket/prefix)`,
    );
  if (backend === 'azure') {
    if (location.container === undefined)
      missing(
        'container',
        'the azure backend needs a container (or set storage.url to azure://account/container/prefix)',
      );
    if (location.account === undefined && v.connection_string === undefined && v.endpoint === undefined)
      missing('account', 'the azure backend needs account, connection_string or endpoint');
    atMostOne(v, ['account_key', 'sas_token', 'connection_string'], ctx, false, '');
    atMostOne(v, ['customer_provided_key', 'encryption_scope'], ctx, false, '');
  }
  if (backend === 'gcs') atMostOne(v, ['encryption_key', 'kms_key_name'], ctx, false, '');
  if (backend === 's3') {
    if (v.sse_kms_key_id !== undefined && v.sse !== 'aws:kms')
      ctx.addIssue({ code: 'custom', path: ['sse_kms_key_id'], message: 'set but sse is not aws:kms' });
    if (v.sse_customer_key !== undefined && v.sse !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['sse_customer_key'],
        message: 'SSE-C (a key of your own) cannot be combined with sse; set one of them',
      });
    if ((v.access_key_id === undefined) !== (v.secret_access_key === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [v.access_key_id === undefined ? 'access_key_id' : 'secret_access_key'],
        message:
          'missing; access_key_id and secret_access_key go together (or set neither to use the AWS default credentials)',
      });
    if (v.session_token !== undefined && v.access_key_id === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['session_token'],
        message: 'set without access_key_id and secret_access_key',
      });
  }
}).transform((v) => {
  const location = resolveLocation(v)!;
  const { backend: _b, path: _p, bucket: _bk, prefix: _pr, account: _a, container: _c, ...rest } = v;
  return { ...location, prefix: (location.prefix ?? '').replace(/^\/+|\/+$/g, ''), ...rest };
});

// ---------------------------------------------------------------------------------------------
// backup

const COMPRESSION_LEVELS: Record<string, [number, number]> = { zstd: [1, 22], gzip: [1, 9], lz4: [1, 12] };

/** A duration as `forget` takes it (30d, 12h, 1w2d, 90min). */
const Duration = z.string().superRefine((v, ctx) => {
  try {
    parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

const Retention = z.strictObject({
  max_age: Duration.optional(),
  apply: z.enum(['end', 'periodic', 'never']).default('end'),
  interval_secs: int(60).default(3600),
});

/** Client-side encryption of a backup line (docs/security.md); the key itself only from a file or the environment. */
const Encryption = z
  .strictObject({
    enabled: z.boolean().default(false),
    provider: z.enum(['raw', 'passphrase', 'aws-kms']).default('raw'),
    key_file: nonEmpty().optional(),
    key_env: nonEmpty().optional(),
    kms_key_id: nonEmpty().optional(),
    kms_region: nonEmpty().optional(),
    kms_endpoint: nonEmpty().optional(),
    key_slot: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, expecting('a key slot id'))
      .optional(),
    scrypt_log_n: int(14, 22).default(17),
  })
  .superRefine((v, ctx) => {
    const sources = [v.key_file, v.key_env].filter((x) => x !== undefined).length;
    if (v.provider === 'aws-kms') {
      if (v.enabled && !v.kms_key_id)
        ctx.addIssue({ code: 'custom', path: ['kms_key_id'], message: 'provider aws-kms needs kms_key_id' });
    } else if (sources > 1)
      ctx.addIssue({ code: 'custom', path: ['key_env'], message: 'set key_file or key_env, not both' });
    else if (v.enabled && sources === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['key_file'],
        message: `provider ${v.provider} needs key_file or key_env (the key is never written in the config)`,
      });
  });

// ---------------------------------------------------------------------------------------------
// schema registry (docs/schema-registry.md)

const registryConnection = {
  url: nonEmpty().optional(),
  urls: z.array(nonEmpty()).min(1).optional(),
  username: nonEmpty().optional(),
  password: nonEmpty().optional(),
  password_file: nonEmpty().optional(),
  token: nonEmpty().optional(),
  token_file: nonEmpty().optional(),
  tls: Tls.optional(),
  context: z
    .string()
    .regex(/^[A-Za-z0-9._-]*$/, expecting('a registry context name (letters, digits, ".", "_", "-")'))
    .default(''),
  request_timeout_ms: int(100).default(30_000),
};

function checkRegistryConnection(v: { [k: string]: unknown }, ctx: z.RefinementCtx): void {
  atMostOne(v, ['url', 'urls'], ctx, true, 'the registry needs its address');
  atMostOne(v, ['password', 'password_file'], ctx, false, '');
  atMostOne(v, ['token', 'token_file'], ctx, false, '');
  const basic = v['password'] !== undefined || v['password_file'] !== undefined;
  if (basic && v['username'] === undefined)
    ctx.addIssue({ code: 'custom', path: ['username'], message: 'missing; a password needs its username' });
  if (basic && (v['token'] !== undefined || v['token_file'] !== undefined))
    ctx.addIssue({
      code: 'custom',
      path: ['token'],
      message: 'set with a password; use basic auth or a bearer token, not both',
    });
}

const BackupSchemaRegistry = z
  .strictObject({
    ...registryConnection,
    subjects: z.array(Pattern).optional(),
    include_deleted: z.boolean().default(false),
    capture_interval_secs: int(1).default(60),
  })
  .superRefine(checkRegistryConnection);

const RestoreSchemaRegistry = z
  .strictObject({
    ...registryConnection,
    strategy: z.enum(['remap_ids', 'preserve_ids']).default('remap_ids'),
    on_unknown_id: z.enum(['fail', 'pass_through']).default('fail'),
  })
  .superRefine(checkRegistryConnection);

const Backup = z
  .strictObject({
    mode: z.enum(['snapshot', 'continuous']).default('snapshot'),
    schema_registry: BackupSchemaRegistry.optional(),
    start: BackupStart.default('earliest'),
    compression: z.enum(['zstd', 'lz4', 'gzip', 'none']).default('zstd'),
    compression_level: z.number().int().optional(),
    file_checksum: z.enum(['crc32c', 'sha256']).default('crc32c'),
    batch_size: int(1, 1_000_000).default(10000),
    max_batch_bytes: int(1024, 256 * MiB).default(MiB),
    fetch_max_bytes: int(1024, 1024 * MiB).default(16 * MiB),
    max_concurrent_partitions: int(1, 4096).default(16),
    max_bytes_per_sec: int(0).default(0),
    allow_empty: z.boolean().default(false),
    segment_max_bytes: int(MiB).default(128 * MiB),
    segment_max_interval_secs: int(1).default(300),
    checkpoint_interval_secs: int(1).default(5),
    poll_interval_ms: int(10).default(1000),
    allow_source_change: z.boolean().default(false),
    capture_offsets: z.boolean().default(true),
    give_up_after_secs: int(0).default(0),
    circuit_breaker: CircuitBreaker.prefault({}),
    tags: z.array(nonEmpty()).default([]),
    retention: Retention.prefault({}),
    encryption: Encryption.prefault({}),
  })
  .superRefine((v, ctx) => {
    if (v.compression_level !== undefined) {
      const range = COMPRESSION_LEVELS[v.compression];
      if (!range)
        ctx.addIssue({
          code: 'custom',
          path: ['compression_level'],
          message: `set but compression is ${v.compression}; remove it or choose zstd, lz4 or gzip`,
        });
      else if (v.compression_level < range[0] || v.compression_level > range[1])
        ctx.addIssue({
          code: 'custom',
          path: ['compression_level'],
          message: `must be between ${range[0]} and ${range[1]} for ${v.compression}, found ${v.compression_level}`,
        });
    }
    if (v.fetch_max_bytes < v.max_batch_bytes)
      ctx.addIssue({
        code: 'custom',
        path: ['fetch_max_bytes'],
        message: `must be at least backup.max_batch_bytes (${v.max_batch_bytes}), found ${v.fetch_max_bytes}`,
      });
    if (v.segment_max_bytes < v.max_batch_bytes)
      ctx.addIssue({
        code: 'custom',
        path: ['segment_max_bytes'],
        message: `must be at least backup.max_batch_bytes (${v.max_batch_bytes}), found ${v.segment_max_bytes}`,
      });
  });

// ---------------------------------------------------------------------------------------------
// restore

/** A mapping whose values must be distinct; two keys mapped to one value is reported with both names. */
function uniqueTargets(what: string, where: string) {
  return (v: Record<string, string>, ctx: z.RefinementCtx) => {
    const seen = new Map<string, string>();
    for (const [from, to] of Object.entries(v)) {
      const other = seen.get(to);
      if (other !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [from],
          message: `maps ${what} "${from}" to "${to}", but "${other}" is also mapped to "${to}"; two ${what}s cannot share one target (${where})`,
        });
      else seen.set(to, from);
    }
  };
}

const OffsetWindow = z.strictObject({ start: int(0).optional(), end: int(0).optional() }).superRefine((v, ctx) => {
  if (v.start === undefined && v.end === undefined)
    ctx.addIssue({ code: 'custom', path: ['start'], message: 'missing; set start, end or both' });
  if (v.start !== undefined && v.end !== undefined && v.start > v.end)
    ctx.addIssue({
      code: 'custom',
      path: ['end'],
      message: `must not be below start (${v.start}), found ${v.end}`,
    });
});

const ConfigValue = z
  .union([z.string(), z.number(), z.boolean()], { error: 'a string, number or boolean' })
  .transform((v) => String(v));

const Restore = z
  .strictObject({
    schema_registry: RestoreSchemaRegistry.optional(),
    topics: z
      .strictObject({ include: z.array(Pattern).default(['*']), exclude: z.array(Pattern).default([]) })
      .prefault({}),
    point_in_time: Time.optional(),
    time_window_start: Time.optional(),
    time_window_end: Time.optional(),
    offset_window: z.record(TopicName, z.record(PartitionKey, OffsetWindow)).default({}),
    topic_mapping: z
      .record(TopicName, TopicName)
      .superRefine(uniqueTargets('topic', 'restore.topic_mapping'))
      .default({}),
    partition_mapping: z.record(TopicName, z.record(PartitionKey, int(0))).default({}),
    repartitioning: z.boolean().default(false),
    create_topics: z.boolean().default(true),
    replication_factor: int(1, 32767).optional(),
    topic_configs: z.record(TopicName, z.record(nonEmpty(), ConfigValue)).default({}),
    include_original_offset_header: z.boolean().default(false),
    compression: z.enum(['source', 'none', 'gzip', 'snappy', 'lz4', 'zstd']).default('source'),
    allow_empty: z.boolean().default(false),
    allow_non_empty: z.boolean().default(false),
    allow_log_append_time_target: z.boolean().default(false),
    purge_topics: z.boolean().default(false),
    recreate_topics: z.boolean().default(false),
    dry_run: z.boolean().default(false),
    max_records_per_sec: int(0).default(0),
    max_bytes_per_sec: int(0).default(0),
    max_concurrent_partitions: int(1, 4096).default(8),
    state_url: StorageUrl.optional(),
    restore_id: Identifier('a restore id').optional(),
    consumer_groups: z.array(Pattern).default([]),
    group_mapping: z
      .record(nonEmpty(), nonEmpty())
      .superRefine(uniqueTargets('group', 'restore.group_mapping'))
      .default({}),
    give_up_after_secs: int(0).default(0),
    circuit_breaker: CircuitBreaker.prefault({}),
  })
  .superRefine((v, ctx) => {
    const iso = (ms: number) => new Date(ms).toISOString();
    if (
      v.time_window_start !== undefined &&
      v.time_window_end !== undefined &&
      v.time_window_start >= v.time_window_end
    )
      ctx.addIssue({
        code: 'custom',
        path: ['time_window_start'],
        message: `must be before restore.time_window_end (${iso(v.time_window_start)} is not before ${iso(v.time_window_end)})`,
      });
    if (v.time_window_start !== undefined && v.point_in_time !== undefined && v.time_window_start >= v.point_in_time)
      ctx.addIssue({
        code: 'custom',
        path: ['time_window_start'],
        message: `must be before restore.point_in_time (${iso(v.time_window_start)} is not before ${iso(v.point_in_time)})`,
      });
    if (v.purge_topics && v.recreate_topics)
      ctx.addIssue({
        code: 'custom',
        path: ['recreate_topics'],
        message:
          'cannot be combined with restore.purge_topics; recreate_topics already empties the topics, set only one',
      });
  });

// ---------------------------------------------------------------------------------------------
// offsets, metrics, logging

export const OFFSET_STRATEGIES = [
  'exact',
  'header',
  'timestamp',
  'earliest',
  'latest',
  'to-datetime',
  'to-offset',
] as const;

const Offsets = z.strictObject({
  groups: z.array(Pattern).default([]),
  strategy: z.enum(OFFSET_STRATEGIES).default('exact'),
  max_concurrent_groups: int(1, 1024).default(16),
});

const Metrics = z.strictObject({
  enabled: z.boolean().default(false),
  port: int(1, 65535).default(9464),
  bind_address: nonEmpty().default('127.0.0.1'),
  max_topic_labels: int(0).default(100),
  linger_secs: int(0, 3600).default(0),
});

const Logging = z.strictObject({
  level: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  format: z.enum(['auto', 'json', 'text']).default('auto'),
});

// ---------------------------------------------------------------------------------------------
// the whole file

export const ConfigSchema = z.strictObject({
  backup_id: Identifier('a backup id').optional(),
  snapshot: nonEmpty().default('latest'),
  max_memory_bytes: int(64 * MiB).default(256 * MiB),
  source: Source.optional(),
  target: KafkaConnection.optional(),
  storage: Storage.optional(),
  backup: Backup.prefault({}),
  restore: Restore.prefault({}),
  offsets: Offsets.prefault({}),
  metrics: Metrics.prefault({}),
  logging: Logging.prefault({}),
});

export type Config = z.output<typeof ConfigSchema>;
/** The config file as written (before defaults and normalisation). */
export type ConfigInput = z.input<typeof ConfigSchema>;
export type KafkaConnectionConfig = z.output<typeof KafkaConnection>;
export type SourceConfig = z.output<typeof Source>;
export type TopicFilterConfig = z.output<typeof SourceTopics>;
export type SecurityConfig = z.output<typeof Security>;
export type SaslConfig = z.output<typeof Sasl>;
export type TlsConfig = z.output<typeof Tls>;
export type StorageConfig = z.output<typeof Storage>;
export type BackupConfig = z.output<typeof Backup>;
export type EncryptionConfig = z.output<typeof Encryption>;
export type RestoreConfig = z.output<typeof Restore>;
export type BackupSchemaRegistryConfig = z.output<typeof BackupSchemaRegistry>;
export type RestoreSchemaRegistryConfig = z.output<typeof RestoreSchemaRegistry>;
export type OffsetsConfig = z.output<typeof Offsets>;
export type MetricsConfig = z.output<typeof Metrics>;
export type LoggingConfig = z.output<typeof Logging>;
export type CircuitBreakerConfig = z.output<typeof CircuitBreaker>;
export type RetryConfig = z.output<typeof Retry>;

/** Section schemas, for callers that validate one section (and for defaults). */
export const SectionSchemas = {
  source: Source,
  target: KafkaConnection,
  storage: Storage,
  backup: Backup,
  restore: Restore,
  offsets: Offsets,
  metrics: Metrics,
  logging: Logging,
} as const;

/** Defaults of the storage settings that do not depend on where the storage is (used when storage is absent). */
export const STORAGE_DEFAULTS = { buffer_size: 5 * MiB, max_concurrent_requests: 8 } as const;

// ---------------------------------------------------------------------------------------------
// schema introspection: key suggestions, doc coverage, env-value coercion

type AnySchema = z.core.$ZodType;
interface Def {
  type: string;
  innerType?: AnySchema;
  in?: AnySchema;
  out?: AnySchema;
  shape?: Record<string, AnySchema>;
  valueType?: AnySchema;
  element?: AnySchema;
  options?: AnySchema[];
  checks?: { _zod: { def: { check?: string; format?: string } } }[];
}
const defOf = (s: AnySchema): Def => s._zod.def as unknown as Def;

/** Strips optional/default/prefault/nullable wrappers and pipes down to the schema that describes the value. */
export function unwrapSchema(schema: AnySchema): AnySchema {
  let s = schema;
  for (let i = 0; i < 20; i++) {
    const def = defOf(s);
    if (['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional'].includes(def.type))
      s = def.innerType!;
    else if (def.type === 'pipe') s = defOf(def.in!).type === 'transform' ? def.out! : def.in!;
    else return s;
  }
  return s;
}

/** The schema of `path` below `schema` (records and arrays accept any key or index), or undefined. */
export function schemaAt(path: readonly PropertyKey[], schema: AnySchema = ConfigSchema): AnySchema | undefined {
  let s: AnySchema | undefined = schema;
  for (const key of path) {
    if (!s) return undefined;
    const def = defOf(unwrapSchema(s));
    if (def.type === 'object') s = def.shape![String(key)];
    else if (def.type === 'record') s = def.valueType;
    else if (def.type === 'array') s = def.element;
    else return undefined;
  }
  return s;
}

/** The keys allowed in the mapping at `path`, or undefined when it is not a fixed-key mapping. */
export function keysAt(path: readonly PropertyKey[], schema: AnySchema = ConfigSchema): string[] | undefined {
  const s = schemaAt(path, schema);
  if (!s) return undefined;
  const def = defOf(unwrapSchema(s));
  return def.type === 'object' ? Object.keys(def.shape!) : undefined;
}

export type LeafKind = 'string' | 'integer' | 'number' | 'boolean' | 'list' | 'mapping' | 'other';

/** What kind of value the schema expects at `path`. */
export function leafKind(path: readonly PropertyKey[], schema: AnySchema = ConfigSchema): LeafKind | undefined {
  const s = schemaAt(path, schema);
  if (!s) return undefined;
  const def = defOf(unwrapSchema(s));
  switch (def.type) {
    case 'string':
    case 'enum':
      return 'string';
    case 'number':
      return (def.checks ?? []).some((c) => /int/.test(c._zod.def.format ?? '')) ? 'integer' : 'number';
    case 'boolean':
      return 'boolean';
    case 'array':
      return 'list';
    case 'object':
    case 'record':
      return 'mapping';
    default:
      return 'other';
  }
}

/**
 * Every documented key path, dot-separated: each leaf, and each free-form mapping (record) as one
 * entry (e.g. `restore.topic_mapping`).
 */
export function schemaKeyPaths(schema: AnySchema = ConfigSchema, prefix = ''): string[] {
  const def = defOf(unwrapSchema(schema));
  if (def.type !== 'object') return prefix ? [prefix] : [];
  const out: string[] = [];
  for (const [k, child] of Object.entries(def.shape!))
    out.push(...schemaKeyPaths(child, prefix ? `${prefix}.${k}` : k));
  return out;
}
