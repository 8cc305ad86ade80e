import { describe, test } from 'node:test';
import { GcsBackend } from '../../../src/storage/gcs.ts';
import { createGcsBucket, GCS_ENDPOINT } from '../../helpers/storage-servers.ts';
import { assertStorageError, runBackendSuite, SUITE_PART_SIZE } from './backend-suite.ts';

runBackendSuite(
  'gcs (fake-gcs-server)',
  async () =>
    new GcsBackend(
      {
        backend: 'gcs',
        bucket: await createGcsBucket('kb-suite'),
        prefix: 'backups/test',
        endpoint: GCS_ENDPOINT,
        project_id: 'test',
        buffer_size: SUITE_PART_SIZE,
      },
      { listPageSize: 7 },
    ),
  { listCount: 30 },
);

describe('gcs errors against fake-gcs-server', () => {
  test('missing bucket is permanent and names the bucket', async () => {
    const b = new GcsBackend({ backend: 'gcs', bucket: 'kb-no-such-bucket-g1', endpoint: GCS_ENDPOINT });
    await assertStorageError(b.put('k', Buffer.from('x')), 'permanent', /bucket kb-no-such-bucket-g1 does not exist/);
    await b.close();
  });

  test('STORAGE_EMULATOR_HOST is honoured', async () => {
    const bucket = await createGcsBucket('kb-env');
    const b = new GcsBackend({ backend: 'gcs', bucket }, { env: { STORAGE_EMULATOR_HOST: GCS_ENDPOINT } });
    await b.put('x', Buffer.from('y'));
    await assertStorageError(b.stat('nope'), 'not-found');
    await b.close();
  });
});
