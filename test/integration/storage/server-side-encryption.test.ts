/**
 * Storage-side encryption settings (issue 15 item 5), against the real emulators. Each setting
 * runs the shared backend suite through the fault proxy (injecting nothing, only logging each
 * request) in front of the server, then checks
 * what the server says (moto echoes SSE-S3 and SSE-KMS on HEAD) and what every request carried
 * (the emulators accept SSE-C, encryption scopes and GCS keys without enforcing them; see the
 * table in docs/security.md for which setting is verified how).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { StorageError } from '../../../src/errors.ts';
import type { StorageBackend } from '../../../src/storage/backend.ts';
import type { StorageOptions } from '../../../src/storage/options.ts';
import { type FaultProxy, startFaultProxy } from '../../helpers/fault-proxy.ts';
import {
  AZURE_ENDPOINT,
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  createAzureContainer,
  createGcsBucket,
  createS3Bucket,
  GCS_ENDPOINT,
  S3_CREDENTIALS,
  S3_ENDPOINT,
} from '../../helpers/storage-servers.ts';
import { runBackendSuite, SUITE_PART_SIZE } from './backend-suite.ts';

const KEY = randomBytes(32);
const KEY_B64 = KEY.toString('base64');
const sha256 = createHash('sha256').update(KEY).digest('base64');
const md5 = createHash('md5').update(KEY).digest('base64');

type RecordedRequest = FaultProxy['log'][number];

/** The proxy's base URL with the target's path (Azurite's account is in the path). */
const proxied = (proxy: FaultProxy, target: string) => `${proxy.url}${new URL(target).pathname.replace(/\/$/, '')}`;

/** A key in moto's own KMS (same server as its S3; moto does not check request signatures). */
async function createMotoKmsKey(): Promise<string> {
  const res = await fetch(S3_ENDPOINT, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'TrentService.CreateKey',
      authorization: `AWS4-HMAC-SHA256 Credential=${S3_CREDENTIALS.access_key_id}/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify({ Description: 'kafka-backup SSE-KMS test' }),
  });
  const body = (await res.json()) as { KeyMetadata?: { KeyId?: string } };
  assert.equal(res.status, 200);
  return body.KeyMetadata!.KeyId!;
}

/** Runs the backend suite through a proxy; `check` then sees every request the suite made. */
function suiteThroughProxy(
  name: string,
  target: string,
  make: (endpoint: string) => Promise<StorageBackend>,
  check: (requests: RecordedRequest[]) => Promise<void> | void,
): void {
  let proxy: FaultProxy;
  describe(`${name}: backend suite through a logging proxy`, () => {
    before(async () => {
      proxy = await startFaultProxy(target);
    });
    runBackendSuite(name, () => make(proxied(proxy, target)));
    test(`${name}: what the requests carried`, async () => {
      assert.ok(proxy.log.length > 20, `only ${proxy.log.length} requests logged`);
      await check(proxy.log);
    });
    after(() => proxy.close());
  });
}

const s3Options = (bucket: string, endpoint: string, extra: Partial<StorageOptions>): StorageOptions => ({
  backend: 's3',
  bucket,
  prefix: 'sse',
  endpoint,
  ...S3_CREDENTIALS,
  buffer_size: SUITE_PART_SIZE,
  ...extra,
});

/** S3 requests on an object's data or metadata (not list, delete or bucket calls). */
function s3ObjectRequests(requests: RecordedRequest[]): RecordedRequest[] {
  return requests.filter((r) => /\/sse\//.test(r.url) && r.method !== 'DELETE' && !/[?&]list-type=/.test(r.url));
}

const s3 = async () => {
  const { S3Backend } = await import('../../../src/storage/s3.ts');
  return S3Backend;
};
const plainS3 = () =>
  new S3Client({
    endpoint: S3_ENDPOINT,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: S3_CREDENTIALS.access_key_id, secretAccessKey: S3_CREDENTIALS.secret_access_key },
  });

/** Writes one small and one multipart object, then asks moto (directly) how each is encrypted. */
async function s3EncryptionOf(backend: StorageBackend, bucket: string) {
  await backend.put('probe/small', Buffer.from('small'));
  const w = await backend.openWriter('probe/multipart');
  await w.write(randomBytes(SUITE_PART_SIZE + 1000));
  await w.commit();
  const client = plainS3();
  try {
    const out = [];
    for (const Key of ['sse/probe/small', 'sse/probe/multipart']) {
      const h = await client.send(new HeadObjectCommand({ Bucket: bucket, Key }));
      out.push({ sse: h.ServerSideEncryption, kms: h.SSEKMSKeyId });
    }
    return out;
  } finally {
    client.destroy();
  }
}

describe('s3 SSE-S3 (moto echoes it)', () => {
  test('put and multipart objects are stored with AES256', async () => {
    const bucket = await createS3Bucket('kb-sse-s3');
    const B = await s3();
    const b = new B(s3Options(bucket, S3_ENDPOINT, { sse: 'AES256' }));
    assert.deepEqual(await s3EncryptionOf(b, bucket), [
      { sse: 'AES256', kms: undefined },
      { sse: 'AES256', kms: undefined },
    ]);
    await b.close();
  });
});

describe('s3 SSE-KMS with a key of moto’s KMS (moto echoes it)', () => {
  test('put and multipart objects name the key', async () => {
    const keyId = await createMotoKmsKey();
    const bucket = await createS3Bucket('kb-sse-kms');
    const B = await s3();
    const b = new B(s3Options(bucket, S3_ENDPOINT, { sse: 'aws:kms', sse_kms_key_id: keyId }));
    assert.deepEqual(await s3EncryptionOf(b, bucket), [
      { sse: 'aws:kms', kms: keyId },
      { sse: 'aws:kms', kms: keyId },
    ]);
    await b.close();
  });
});

let sseCBucket = '';
suiteThroughProxy(
  's3 SSE-C (moto ignores it: checked on the wire)',
  S3_ENDPOINT,
  async (endpoint) => {
    sseCBucket ||= await createS3Bucket('kb-sse-c');
    const B = await s3();
    return new B(s3Options(sseCBucket, endpoint, { sse_customer_key: KEY_B64 }), { listPageSize: 7 });
  },
  (requests) => {
    const objectCalls = s3ObjectRequests(requests);
    const kinds = new Set(objectCalls.map((r) => `${r.method} ${/uploadId=/.test(r.url) ? 'upload' : 'object'}`));
    for (const k of ['PUT object', 'POST object', 'PUT upload', 'POST upload', 'GET object', 'HEAD object'])
      assert.ok(kinds.has(k), `no ${k} request seen: ${[...kinds].join(', ')}`);
    for (const r of objectCalls) {
      const what = `${r.method} ${r.url}`;
      assert.equal(r.headers['x-amz-server-side-encryption-customer-algorithm'], 'AES256', what);
      assert.equal(r.headers['x-amz-server-side-encryption-customer-key'], KEY_B64, what);
      assert.equal(r.headers['x-amz-server-side-encryption-customer-key-md5'], md5, what);
      assert.equal(r.headers['x-amz-server-side-encryption'], undefined, what);
    }
  },
);

let scopeContainer = '';
suiteThroughProxy(
  'azure encryption scope (Azurite accepts it: checked on the wire)',
  AZURE_ENDPOINT,
  async (endpoint) => {
    scopeContainer ||= await createAzureContainer('kb-scope');
    const { AzureBackend } = await import('../../../src/storage/azure.ts');
    return new AzureBackend({
      backend: 'azure',
      account: AZURITE_ACCOUNT,
      account_key: AZURITE_KEY,
      container: scopeContainer,
      prefix: 'sse',
      endpoint,
      buffer_size: SUITE_PART_SIZE,
      encryption_scope: 'kb-scope-1',
    });
  },
  (requests) => {
    const writes = requests.filter((r) => r.method === 'PUT' && /\/sse\//.test(r.url));
    assert.ok(
      writes.some((r) => /comp=block(&|$)/.test(r.url)),
      'a Put Block',
    );
    assert.ok(
      writes.some((r) => /comp=blocklist/.test(r.url)),
      'a Put Block List',
    );
    assert.ok(
      writes.some((r) => !/comp=/.test(r.url)),
      'a Put Blob',
    );
    for (const r of writes) assert.equal(r.headers['x-ms-encryption-scope'], 'kb-scope-1', `${r.method} ${r.url}`);
  },
);

describe('azure customer-provided key', () => {
  test('the SDK refuses to send it over http: one clear permanent error, nothing sent', async () => {
    const proxy = await startFaultProxy(AZURE_ENDPOINT);
    try {
      const { AzureBackend } = await import('../../../src/storage/azure.ts');
      const b = new AzureBackend({
        backend: 'azure',
        account: AZURITE_ACCOUNT,
        account_key: AZURITE_KEY,
        container: await createAzureContainer('kb-cpk'),
        endpoint: proxied(proxy, AZURE_ENDPOINT),
        customer_provided_key: KEY_B64,
      });
      for (const op of [() => b.put('k', Buffer.from('x')), () => b.get('k'), () => b.stat('k')]) {
        const error = await op().then(
          () => assert.fail('expected a refusal'),
          (e: unknown) => e,
        );
        assert.ok(error instanceof StorageError);
        assert.equal(error.storageKind, 'permanent');
        assert.equal(error.code, 'STORAGE_CONFIG');
        assert.match(error.message, /customer-provided key needs an https:\/\/ endpoint/);
        assert.ok(!error.message.includes(KEY_B64) && !String(error.hint).includes(KEY_B64));
      }
      assert.deepEqual(
        proxy.log.map((r) => r.method),
        [],
      );
    } finally {
      await proxy.close();
    }
  });
});

const KMS_KEY = 'projects/kb/locations/global/keyRings/kb/cryptoKeys/backup';

/** A GCS backend on a bucket made once per setting (the suite's factory runs more than once). */
function gcsFactory(base: string, extra: Partial<StorageOptions>): (endpoint: string) => Promise<StorageBackend> {
  let bucket = '';
  return async (endpoint) => {
    bucket ||= await createGcsBucket(base);
    const { GcsBackend } = await import('../../../src/storage/gcs.ts');
    return new GcsBackend(
      { backend: 'gcs', bucket, prefix: 'sse', endpoint, buffer_size: SUITE_PART_SIZE, ...extra },
      { listPageSize: 7 },
    );
  };
}
suiteThroughProxy(
  'gcs customer-managed key (fake-gcs-server accepts it: checked on the wire)',
  GCS_ENDPOINT,
  gcsFactory('kb-kms', { kms_key_name: KMS_KEY }),
  (requests) => {
    const uploads = requests.filter((r) => r.method === 'POST' && /\/upload\/storage\/v1\//.test(r.url));
    assert.ok(
      uploads.some((r) => /uploadType=resumable/.test(r.url)),
      'a resumable upload',
    );
    assert.ok(
      uploads.some((r) => /uploadType=multipart/.test(r.url)),
      'a one-shot upload',
    );
    for (const r of uploads) assert.equal(new URL(r.url, 'http://x').searchParams.get('kmsKeyName'), KMS_KEY, r.url);
  },
);

suiteThroughProxy(
  'gcs customer-supplied key (fake-gcs-server ignores it: checked on the wire)',
  GCS_ENDPOINT,
  gcsFactory('kb-csek', { encryption_key: KEY_B64 }),
  (requests) => {
    // every upload, chunk, status query and media download (not list, metadata or delete)
    const data = requests.filter(
      (r) => /\/upload\/storage\/v1\//.test(r.url) || /[?&]alt=media/.test(r.url) || /upload_id=/.test(r.url),
    );
    assert.ok(
      data.some((r) => r.method === 'PUT'),
      'a resumable chunk',
    );
    assert.ok(
      data.some((r) => r.method === 'GET'),
      'a media download',
    );
    for (const r of data) {
      const what = `${r.method} ${r.url}`;
      assert.equal(r.headers['x-goog-encryption-algorithm'], 'AES256', what);
      assert.equal(r.headers['x-goog-encryption-key'], KEY_B64, what);
      assert.equal(r.headers['x-goog-encryption-key-sha256'], sha256, what);
    }
  },
);
