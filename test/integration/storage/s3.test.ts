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
