/**
 * Azure Blob Storage backend (@azure/storage-blob), block blobs.
 *
 * Configuration (StorageOptions) and environment, first match wins for credentials:
 *   connection_string           else AZURE_STORAGE_CONNECTION_STRING
 *   account + account_key       else AZURE_STORAGE_ACCOUNT / AZURE_STORAGE_KEY
 *   account + sas_token         else AZURE_STORAGE_SAS_TOKEN
 *   account alone               DefaultAzureCredential (env service principal, workload or
 *                               managed identity, Azure CLI login)
 *   container, prefix           `azure://account/container/prefix`
 *   endpoint                    blob service URL; default https://<account>.blob.core.windows.net;
 *                               for Azurite http://127.0.0.1:10000/devstoreaccount1
 *   buffer_size                 block size for streamed writes
 *   encryption_scope            every write (Put Blob, Put Block, Put Block List) names this scope
 *   customer_provided_key       CPK: the key (and its SHA-256) goes with every write and read;
 *                               the SDK refuses it over plain HTTP
 *
 * Writes: put is a single Put Blob (If-None-Match: * for ifAbsent). The writer stages one block
 * per part (Put Block) and commit() commits the block list; staged blocks are invisible until
 * then. Azure has no call to drop staged blocks: abort() just forgets them, and the service
 * garbage-collects uncommitted blocks after 7 days.
 *
 * The SDK's own retries are off (maxTries 1); retries happen in src/storage/retrying.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { DefaultAzureCredential } from '@azure/identity';
import {
  AnonymousCredential,
  BlobServiceClient,
  type ContainerClient,
  type CpkInfo,
  type StoragePipelineOptions,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { StorageError } from '../errors.ts';
import type { ByteRange, ObjectInfo, ObjectWriter, PutOptions, StorageBackend } from './backend.ts';
import { alreadyExists, isNetworkError, messageOf, notFound, transient } from './errors.ts';
import { checkKey } from './keys.ts';
import { DEFAULT_BUFFER_SIZE, joinKey, normalisePrefix, type StorageOptions } from './options.ts';
import { PartWriter } from './part-writer.ts';

export interface AzureTuning {
  /** Per-request timeout in ms (default 120000). */
  requestTimeoutMs?: number;
  /** listBlobsFlat page size (default 1000, the service maximum 5000). */
  listPageSize?: number;
  env?: NodeJS.ProcessEnv;
}

interface RestErrorLike {
  name?: string;
  code?: string;
  statusCode?: number;
  details?: { errorCode?: string };
}

const AUTH_CODES = new Set([
  'AuthenticationFailed',
  'AuthorizationFailure',
  'AuthorizationPermissionMismatch',
  'InsufficientAccountPermissions',
  'InvalidAuthenticationInfo',
  'AccountIsDisabled',
]);

export function azureError(error: unknown, op: string, where: string, container: string, key?: string): StorageError {
  if (error instanceof StorageError) return error;
  const e = (error ?? {}) as RestErrorLike;
  const status = e.statusCode;
  const code = e.details?.errorCode ?? e.code ?? e.name ?? 'Error';
  const what = `azure ${op} ${key === undefined ? where : `'${key}' in ${where}`}`;
  if (code === 'ContainerNotFound') {
    return new StorageError(`${what}: container ${container} does not exist`, 'permanent', {
      cause: error,
      code: 'STORAGE_NO_BUCKET',
      hint: `create container ${container}, or fix the account/container in the storage settings`,
    });
  }
  if (error instanceof Error && /must be used over HTTPS/i.test(error.message)) {
    // the SDK's own refusal to send a customer-provided key in clear
    return new StorageError(`${what}: a customer-provided key needs an https:// endpoint`, 'permanent', {
      code: 'STORAGE_CONFIG',
      hint: 'use the https:// blob endpoint, or remove storage.customer_provided_key',
    });
  }
  if (code === 'BlobNotFound' || status === 404) return notFound(what, error);
  if (code === 'BlobAlreadyExists' || code === 'ConditionNotMet' || status === 412) return alreadyExists(what, error);
  if (
    AUTH_CODES.has(code) ||
    status === 403 ||
    status === 401 ||
    e.name === 'CredentialUnavailableError' ||
    e.name === 'AuthenticationError'
  ) {
    // The service's message can echo the string it signed; never pass it on.
    return new StorageError(
      `${what}: authentication failed (${code}); the credentials were rejected or lack permission`,
      'permanent',
      {
        code: 'STORAGE_AUTH',
        hint: 'check account_key / sas_token / connection_string (or AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN, AZURE_STORAGE_CONNECTION_STRING) and the role assignments of the identity',
      },
    );
  }
  if (
    (status !== undefined && (status >= 500 || status === 429 || status === 408)) ||
    code === 'ServerBusy' ||
    code === 'OperationTimedOut' ||
    code === 'InternalError' ||
    code === 'REQUEST_SEND_ERROR' ||
    isNetworkError(error)
  ) {
    return transient(what, status ? `${code} (HTTP ${status})` : `${code}: ${messageOf(error)}`, error);
  }
  if (status === undefined && !(error instanceof TypeError))
    return transient(what, `${code}: ${messageOf(error)}`, error);
  return new StorageError(`${what}: ${code}${status ? ` (HTTP ${status})` : ''}`, 'permanent', {
    cause: error,
    code: 'STORAGE_REQUEST',
  });
}

/** The SDK's form of a customer-provided key: the key and its SHA-256, both base64. */
function customerProvidedKey(base64Key: string): CpkInfo {
  const key = Buffer.from(base64Key, 'base64');
  return {
    encryptionKey: base64Key,
    encryptionKeySha256: createHash('sha256').update(key).digest('base64'),
    encryptionAlgorithm: 'AES256',
  };
}

export class AzureBackend implements StorageBackend {
  readonly location: string;
  readonly container: ContainerClient;
  private readonly containerName: string;
  private readonly prefix: string;
  private readonly partSize: number;
  private readonly listPageSize: number;
  /** Options for every write: encryption scope or customer-provided key. */
  private readonly writeOptions: { encryptionScope?: string; customerProvidedKey?: CpkInfo };
  /** Options for every read of a blob's data or properties (customer-provided key). */
  private readonly readOptions: { customerProvidedKey?: CpkInfo };

  constructor(options: StorageOptions, tuning: AzureTuning = {}) {
    const env = tuning.env ?? process.env;
    const pipeline: StoragePipelineOptions = {
      retryOptions: { maxTries: 1, tryTimeoutInMs: tuning.requestTimeoutMs ?? 120_000 },
    };
    const connectionString = options.connection_string ?? env['AZURE_STORAGE_CONNECTION_STRING'];
    const account = options.account ?? env['AZURE_STORAGE_ACCOUNT'];
    const accountKey = options.account_key ?? env['AZURE_STORAGE_KEY'];
    const sas = (options.sas_token ?? env['AZURE_STORAGE_SAS_TOKEN'])?.replace(/^\?/, '');
    if (!options.container) {
      throw new StorageError(
        'azure storage needs a container (azure://account/container/prefix or container:)',
        'permanent',
        {
          code: 'STORAGE_CONFIG',
        },
      );
    }
    this.containerName = options.container;
    let service: BlobServiceClient;
    let accountName = account ?? '';
    if (connectionString && !options.account_key && !options.sas_token) {
      try {
        service = BlobServiceClient.fromConnectionString(connectionString, pipeline);
      } catch (error) {
        throw new StorageError(
          `azure storage: the connection string is not valid (${messageOf(error).replace(/AccountKey=[^;]*/gi, 'AccountKey=***')})`,
          'permanent',
          {
            code: 'STORAGE_CONFIG',
          },
        );
      }
      accountName = service.accountName;
    } else {
      if (!account) {
        throw new StorageError(
          'azure storage needs an account (azure://account/container/prefix, account:, or AZURE_STORAGE_ACCOUNT)',
          'permanent',
          {
            code: 'STORAGE_CONFIG',
          },
        );
      }
      const endpoint = (options.endpoint ?? `https://${account}.blob.core.windows.net`).replace(/\/+$/, '');
      if (accountKey) {
        let credential: StorageSharedKeyCredential;
        try {
          credential = new StorageSharedKeyCredential(account, accountKey);
        } catch {
          throw new StorageError('azure storage: account_key is not valid base64', 'permanent', {
            code: 'STORAGE_CONFIG',
          });
        }
        service = new BlobServiceClient(endpoint, credential, pipeline);
      } else if (sas) {
        service = new BlobServiceClient(`${endpoint}?${sas}`, new AnonymousCredential(), pipeline);
      } else {
        service = new BlobServiceClient(endpoint, new DefaultAzureCredential(), pipeline);
      }
    }
    this.container = service.getContainerClient(this.containerName);
    this.prefix = normalisePrefix(options.prefix);
    this.location = `azure://${accountName}/${this.containerName}/${this.prefix}`.replace(/\/$/, '');
    this.partSize = options.buffer_size ?? DEFAULT_BUFFER_SIZE;
    this.listPageSize = tuning.listPageSize ?? 1000;
    const cpk = options.customer_provided_key ? customerProvidedKey(options.customer_provided_key) : undefined;
    this.readOptions = cpk ? { customerProvidedKey: cpk } : {};
    this.writeOptions = {
      ...this.readOptions,
      ...(options.encryption_scope ? { encryptionScope: options.encryption_scope } : {}),
    };
  }

  private blob(key: string) {
    checkKey(key, this.location);
    return this.container.getBlockBlobClient(joinKey(this.prefix, key));
  }

  private err(error: unknown, op: string, key?: string): StorageError {
    return azureError(error, op, this.location, this.containerName, key);
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<void> {
    const blob = this.blob(key);
    try {
      await blob.upload(body, body.length, {
        ...this.writeOptions,
        ...(options.ifAbsent ? { conditions: { ifNoneMatch: '*' } } : {}),
      });
    } catch (error) {
      throw this.err(error, 'put', key);
    }
  }

  async openWriter(key: string): Promise<ObjectWriter> {
    const blob = this.blob(key);
    const tag = randomBytes(6).toString('hex');
    // Block ids: same length for every block of a blob, unique per writer.
    const blockId = (i: number) => Buffer.from(`${tag}-${String(i).padStart(8, '0')}`).toString('base64');
    return new PartWriter(
      this.partSize,
      {
        uploadPart: async (index, data) => {
          try {
            await blob.stageBlock(blockId(index), data, data.length, this.writeOptions);
          } catch (error) {
            throw this.err(error, `stage block ${index} of`, key);
          }
        },
        finish: async (parts, rest, total) => {
          if (parts === 0) {
            await this.put(key, rest);
            return { key, size: total, lastModified: new Date() };
          }
          let count = parts;
          try {
            if (rest.length > 0) {
              await blob.stageBlock(blockId(parts), rest, rest.length, this.writeOptions);
              count++;
            }
            await blob.commitBlockList(
              Array.from({ length: count }, (_, i) => blockId(i)),
              this.writeOptions,
            );
          } catch (error) {
            throw this.err(error, 'commit block list of', key);
          }
          return { key, size: total, lastModified: new Date() };
        },
        discard: async () => {},
      },
      `'${key}' in ${this.location}`,
    );
  }

  async load(key: string, range?: ByteRange): Promise<Readable> {
    const blob = this.blob(key);
    if (range?.length === 0) {
      await this.stat(key);
      return Readable.from([]);
    }
    try {
      const res = await blob.download(range?.offset ?? 0, range?.length, this.readOptions);
      const body = res.readableStreamBody;
      return body ? Readable.from(body) : Readable.from([]);
    } catch (error) {
      throw this.err(error, 'load', key);
    }
  }

  async get(key: string): Promise<Buffer> {
    const blob = this.blob(key);
    try {
      const res = await blob.download(0, undefined, this.readOptions);
      const chunks: Buffer[] = [];
      for await (const c of res.readableStreamBody ?? []) chunks.push(Buffer.from(c as Uint8Array));
      return Buffer.concat(chunks);
    } catch (error) {
      throw this.err(error, 'get', key);
    }
  }

  async stat(key: string): Promise<ObjectInfo> {
    const blob = this.blob(key);
    try {
      const p = await blob.getProperties(this.readOptions);
      return { key, size: p.contentLength ?? 0, ...(p.lastModified ? { lastModified: p.lastModified } : {}) };
    } catch (error) {
      throw this.err(error, 'stat', key);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    if (prefix) checkKey(prefix, this.location, true);
    const pages = this.container
      .listBlobsFlat({ prefix: this.prefix + prefix })
      .byPage({ maxPageSize: this.listPageSize });
    while (true) {
      let page: Awaited<ReturnType<typeof pages.next>>;
      try {
        page = await pages.next();
      } catch (error) {
        throw this.err(error, 'list', prefix || undefined);
      }
      if (page.done) return;
      for (const item of page.value.segment.blobItems) {
        yield {
          key: item.name.slice(this.prefix.length),
          size: item.properties.contentLength ?? 0,
          lastModified: item.properties.lastModified,
        };
      }
    }
  }

  async delete(key: string): Promise<void> {
    const blob = this.blob(key);
    try {
      await blob.delete();
    } catch (error) {
      const mapped = this.err(error, 'delete', key);
      if (mapped.storageKind !== 'not-found') throw mapped;
    }
  }

  async close(): Promise<void> {}
}
