/**
 * The four storage backends as the CLI tests configure them: the storage section of a config,
 * the URL for `--path`, and the environment that goes with it. Credentials are in both the
 * config and the environment, so commands with and without a config reach the same store.
 */
import { join } from 'node:path';
import { tempDir } from './cli.ts';
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
} from './storage-servers.ts';

export interface Backend {
  name: string;
  storage: () => Promise<Record<string, unknown>>;
  url: (s: Record<string, unknown>) => string;
  env: NodeJS.ProcessEnv;
}

/** `tag` names the buckets and temporary folders, `prefix` is the key prefix inside a bucket. */
export function cliBackends(tag: string, prefix = 'kafka'): Backend[] {
  return [
    {
      name: 'filesystem',
      storage: async () => ({ backend: 'filesystem', path: join(tempDir(`${tag}-fs`), 'backups') }),
      url: (s) => `file://${s['path']}`,
      env: {},
    },
    {
      name: 's3',
      storage: async () => ({
        url: `s3://${await createS3Bucket(tag)}/${prefix}`,
        endpoint: S3_ENDPOINT,
        region: 'us-east-1',
        access_key_id: S3_CREDENTIALS.access_key_id,
        secret_access_key: S3_CREDENTIALS.secret_access_key,
        request_checksum_calculation: 'when_required',
      }),
      url: (s) => String(s['url']),
      env: {
        AWS_ACCESS_KEY_ID: S3_CREDENTIALS.access_key_id,
        AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secret_access_key,
        AWS_ENDPOINT_URL_S3: S3_ENDPOINT,
        AWS_REGION: 'us-east-1',
      },
    },
    {
      name: 'azure',
      storage: async () => ({
        url: `azure://${AZURITE_ACCOUNT}/${await createAzureContainer(tag)}/${prefix}`,
        endpoint: AZURE_ENDPOINT,
        account_key: AZURITE_KEY,
      }),
      url: (s) => String(s['url']),
      env: {
        AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${AZURE_ENDPOINT};`,
      },
    },
    {
      name: 'gcs',
      storage: async () => ({ url: `gs://${await createGcsBucket(tag)}/${prefix}`, endpoint: GCS_ENDPOINT }),
      url: (s) => String(s['url']),
      env: { STORAGE_EMULATOR_HOST: GCS_ENDPOINT },
    },
  ];
}
