import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { S3Backend } from '../../../src/storage/s3.ts';
import { createS3Bucket, S3_CREDENTIALS, S3_ENDPOINT } from '../../helpers/storage-servers.ts';
import { assertStorageError, runBackendSuite, SUITE_PART_SIZE } from './backend-suite.ts';

runBackendSuite(
  's3 (moto)',
  async () =>
    new S3Backend(
      {
        backend: 's3',
        bucket: await createS3Bucket('kb-suite'),
        prefix: 'backups/test',
        endpoint: S3_ENDPOINT,
        ...S3_CREDENTIALS,
        buffer_size: SUITE_PART_SIZE,
      },
      { listPageSize: 7 },
    ),
  { listCount: 30 },
);

describe('s3 incomplete multipart uploads (moto)', () => {
  test('an upload never completed is listed under its key and abortIncomplete discards it', async () => {
    const b = new S3Backend({
      backend: 's3',
      bucket: await createS3Bucket('kb-incomplete'),
      prefix: 'p',
      endpoint: S3_ENDPOINT,
      ...S3_CREDENTIALS,
      buffer_size: SUITE_PART_SIZE,
    });
    try {
      // more than one part, so the writer starts a multipart upload; then "killed": no commit
      const killed = await b.openWriter('line/data/big.kbs');
      await killed.write(Buffer.alloc(SUITE_PART_SIZE + 1024, 1));
      const outside = await b.openWriter('elsewhere/big');
      await outside.write(Buffer.alloc(SUITE_PART_SIZE + 1024, 2));
      const found = [];
      for await (const w of b.listIncomplete('line/')) found.push(w);
      assert.deepEqual(
        found.map((w) => w.key),
        ['line/data/big.kbs'],
      );
      assert.ok(found[0]!.id.length > 0 && found[0]!.startedAt instanceof Date);
      await b.abortIncomplete(found[0]!);
      const after = [];
      for await (const w of b.listIncomplete('line/')) after.push(w);
      assert.deepEqual(after, [], 'the upload is gone');
      await b.abortIncomplete(found[0]!); // already gone: not an error
      const rest = [];
      for await (const w of b.listIncomplete('')) rest.push(w.key);
      assert.deepEqual(rest, ['elsewhere/big'], 'uploads outside the prefix stay');
      await outside.abort();
    } finally {
      await b.close();
    }
  });
});

describe('s3 errors against moto', () => {
  test('missing bucket is permanent and names the bucket', async () => {
    const b = new S3Backend({
      backend: 's3',
      bucket: 'kb-no-such-bucket-x1',
      endpoint: S3_ENDPOINT,
      ...S3_CREDENTIALS,
    });
    await assertStorageError(b.put('k', Buffer.from('x')), 'permanent', /bucket kb-no-such-bucket-x1 does not exist/);
    await assertStorageError(b.get('k'), 'permanent', /kb-no-such-bucket-x1/);
    await b.close();
  });

  test('nothing listening is transient', async () => {
    const b = new S3Backend({ backend: 's3', bucket: 'x', endpoint: 'http://127.0.0.1:1', ...S3_CREDENTIALS });
    await assertStorageError(b.get('k'), 'transient');
    await b.close();
  });
});

describe('openStorage with a bare URL and the environment', () => {
  test('s3://bucket/prefix plus AWS_* variables', async () => {
    const { openStorage } = await import('../../../src/storage/open.ts');
    const bucket = await createS3Bucket('kb-env');
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_S3: S3_ENDPOINT,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: S3_CREDENTIALS.access_key_id,
      AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secret_access_key,
    });
    try {
      const s = await openStorage({ url: `s3://${bucket}/env/prefix` });
      assert.equal(s.location, `s3://${bucket}/env/prefix`);
      await s.put('k', Buffer.from('v'));
      assert.equal((await s.get('k')).toString(), 'v');
      const keys: string[] = [];
      for await (const o of s.list('')) keys.push(o.key);
      assert.deepEqual(keys, ['k']);
      await s.close();
      const direct = new S3Backend({ backend: 's3', bucket, endpoint: S3_ENDPOINT, ...S3_CREDENTIALS });
      assert.equal((await direct.get('env/prefix/k')).toString(), 'v');
      await direct.close();
    } finally {
      process.env = saved;
    }
  });

  test('when_required checksums, SSE-S3 and a storage class are accepted', async () => {
    const b = new S3Backend({
      backend: 's3',
      bucket: await createS3Bucket('kb-opts'),
      endpoint: S3_ENDPOINT,
      ...S3_CREDENTIALS,
      request_checksum_calculation: 'when_required',
      sse: 'AES256',
      storage_class: 'STANDARD_IA',
      buffer_size: SUITE_PART_SIZE,
    });
    await b.put('x', Buffer.from('x'));
    const w = await b.openWriter('y');
    await w.write(Buffer.alloc(SUITE_PART_SIZE + 10, 1));
    await w.commit();
    assert.equal((await b.stat('y')).size, SUITE_PART_SIZE + 10);
    await b.close();
  });
});
