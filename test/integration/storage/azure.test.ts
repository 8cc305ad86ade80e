import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AzureBackend } from '../../../src/storage/azure.ts';
import { AZURE_ENDPOINT, AZURITE_ACCOUNT, AZURITE_KEY, createAzureContainer } from '../../helpers/storage-servers.ts';
import { assertStorageError, runBackendSuite, SUITE_PART_SIZE } from './backend-suite.ts';

runBackendSuite(
  'azure (Azurite)',
  async () =>
    new AzureBackend(
      {
        backend: 'azure',
        account: AZURITE_ACCOUNT,
        account_key: AZURITE_KEY,
        endpoint: AZURE_ENDPOINT,
        container: await createAzureContainer('kb-suite'),
        prefix: 'backups/test',
        buffer_size: SUITE_PART_SIZE,
      },
      { listPageSize: 7 },
    ),
  { listCount: 30 },
);

describe('azure errors against Azurite', () => {
  test('missing container is permanent and names it', async () => {
    const b = new AzureBackend({
      backend: 'azure',
      account: AZURITE_ACCOUNT,
      account_key: AZURITE_KEY,
      endpoint: AZURE_ENDPOINT,
      container: 'kb-no-such-container',
    });
    await assertStorageError(
      b.put('k', Buffer.from('x')),
      'permanent',
      /container kb-no-such-container does not exist/,
    );
    await b.close();
  });

  test('wrong account key is a permanent auth error without key material', async () => {
    const badKey = Buffer.from('definitely-not-the-azurite-key-0123456789').toString('base64');
    const b = new AzureBackend({
      backend: 'azure',
      account: AZURITE_ACCOUNT,
      account_key: badKey,
      endpoint: AZURE_ENDPOINT,
      container: await createAzureContainer('kb-auth'),
    });
    const error = await assertStorageError(b.put('k', Buffer.from('x')), 'permanent', /authentication failed/);
    assert.equal(error.code, 'STORAGE_AUTH');
    const text = `${error.message} ${error.hint ?? ''} ${JSON.stringify(error)}`;
    assert.ok(!text.includes(badKey), 'message must not contain the key');
    assert.ok(!text.includes(AZURITE_KEY), 'message must not contain the real key');
    assert.ok(!/signature|sharedkey/i.test(error.message), error.message);
    await b.close();
  });

  test('connection string works (AZURE_STORAGE_CONNECTION_STRING form)', async () => {
    const container = await createAzureContainer('kb-cs');
    const b = new AzureBackend({
      backend: 'azure',
      container,
      connection_string: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${AZURE_ENDPOINT};`,
    });
    await b.put('cs/x', Buffer.from('via connection string'));
    assert.equal((await b.get('cs/x')).toString(), 'via connection string');
    assert.match(b.location, /^azure:\/\/devstoreaccount1\//);
    await b.close();
  });
});
