/**
 * Where the storage test servers are (started by `scripts/services.sh start s3 azure gcs`),
 * and helpers to create a fresh bucket/container per test file.
 *
 *   KB_S3_ENDPOINT     default http://127.0.0.1:19000  (moto)
 *   KB_AZURE_ENDPOINT  default http://127.0.0.1:10000/devstoreaccount1  (Azurite)
 *   KB_GCS_ENDPOINT    default http://127.0.0.1:14443  (fake-gcs-server)
 */
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';

export const S3_ENDPOINT = process.env['KB_S3_ENDPOINT'] ?? 'http://127.0.0.1:19000';
export const AZURE_ENDPOINT = process.env['KB_AZURE_ENDPOINT'] ?? 'http://127.0.0.1:10000/devstoreaccount1';
export const GCS_ENDPOINT = process.env['KB_GCS_ENDPOINT'] ?? 'http://127.0.0.1:14443';

/** moto accepts any keys. */
export const S3_CREDENTIALS = { access_key_id: 'kbtest', secret_access_key: 'kbtest-secret' };
/** Azurite's well-known development account (public, documented by Microsoft). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export function uniqueName(base: string): string {
  return `${base}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`.toLowerCase();
}

export async function createS3Bucket(base: string): Promise<string> {
  const bucket = uniqueName(base);
  const client = new S3Client({
    endpoint: S3_ENDPOINT,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: S3_CREDENTIALS.access_key_id, secretAccessKey: S3_CREDENTIALS.secret_access_key },
  });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return bucket;
}

export async function createAzureContainer(base: string): Promise<string> {
  const container = uniqueName(base);
  const service = new BlobServiceClient(AZURE_ENDPOINT, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY));
  await service.getContainerClient(container).create();
  return container;
}

export async function createGcsBucket(base: string): Promise<string> {
  const bucket = uniqueName(base);
  const res = await fetch(`${GCS_ENDPOINT}/storage/v1/b?project=test`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: bucket }),
  });
  if (!res.ok) throw new Error(`creating GCS bucket ${bucket}: HTTP ${res.status} ${await res.text()}`);
  return bucket;
}
