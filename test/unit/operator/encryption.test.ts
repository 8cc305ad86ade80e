/** backup.encryption of the resources: the key reaches the runs as mounted files or Secret env, never as a value. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KafkaBackupSpec } from '../../../src/operator/api.ts';
import { encryptionPathEnv } from '../../../src/operator/encryption.ts';
import { SecretMounts } from '../../../src/operator/fields.ts';
import { jobOf } from '../../../src/operator/jobs.ts';
import { renderBackup, renderRestore } from '../../../src/operator/render.ts';
import { configProblems } from '../../../src/operator/validate.ts';

const storage = { url: 's3://bucket/p' };
const kafka = { bootstrapServers: ['kafka:9092'] };
const job = (rendered: ReturnType<typeof renderBackup>) =>
  jobOf({
    kind: 'KafkaBackup',
    owner: { name: 'b', namespace: 'ns', uid: 'u' },
    jobName: 'b-1',
    args: ['backup'],
    rendered,
    settings: {},
    image: 'img',
  }) as { spec: { template: { spec: { containers: { env: { name: string; valueFrom?: unknown }[] }[] } } } };

test('a raw key or passphrase from a Secret: key_file is the mounted path, for backup and for a restore of the line', () => {
  const encryption = { enabled: true, provider: 'passphrase', keySecret: { name: 'line-key', key: 'passphrase' } };
  const spec: KafkaBackupSpec = { kafka, storage, backup: { encryption } };
  const b = renderBackup(spec, { backupId: 'l', kafka, storage });
  assert.deepEqual(configProblems(b), []);
  const enc = (b.config['backup'] as { encryption: Record<string, unknown> }).encryption;
  assert.deepEqual(enc, {
    enabled: true,
    provider: 'passphrase',
    key_file: '/var/run/kafka-backup/secrets/line-key/passphrase',
  });
  assert.deepEqual(b.secrets.secretsNeeded().get('line-key'), new Set(['passphrase']));
  assert.match(JSON.stringify(job(b)), /"secretName":"line-key"/);
  // the restore reads the same line with the same key (enabled is only for new lines)
  const r = renderRestore({ backupRef: { name: 'b' } }, { backupId: 'l', kafka, storage, encryption });
  assert.deepEqual(configProblems(r), []);
  assert.deepEqual((r.config['backup'] as { encryption: Record<string, unknown> }).encryption, {
    provider: 'passphrase',
    key_file: '/var/run/kafka-backup/secrets/line-key/passphrase',
  });
});

test('AWS KMS: the key id in the config, the credentials as env from their Secret (none: workload identity)', () => {
  const encryption = {
    enabled: true,
    provider: 'aws-kms',
    kmsKeyId: 'alias/kb',
    kmsRegion: 'eu-west-1',
    kmsCredentials: {
      accessKeyIdSecret: { name: 'kms', key: 'id' },
      secretAccessKeySecret: { name: 'kms', key: 'secret' },
    },
  };
  const b = renderBackup({ kafka, storage, backup: { encryption } }, { backupId: 'l', kafka, storage });
  assert.deepEqual(configProblems(b), []);
  const enc = (b.config['backup'] as { encryption: Record<string, unknown> }).encryption;
  assert.deepEqual(enc, { enabled: true, provider: 'aws-kms', kms_key_id: 'alias/kb', kms_region: 'eu-west-1' });
  assert.doesNotMatch(b.yaml, /kms_credentials|kmsCredentials/);
  const env = job(b).spec.template.spec.containers[0]!.env;
  assert.deepEqual(
    env.find((e) => e.name === 'AWS_SECRET_ACCESS_KEY'),
    { name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: 'kms', key: 'secret' } } },
  );
  const { kmsCredentials: _, ...identity } = encryption;
  const w = renderBackup({ kafka, storage, backup: { encryption: identity } }, { backupId: 'l', kafka, storage });
  assert.ok(!job(w).spec.template.spec.containers[0]!.env.some((e) => e.name.startsWith('AWS_')));
});

test('forget and prune (--path only) get the key through KB_ENCRYPTION_* with the file mounted', () => {
  const secrets = new SecretMounts();
  assert.deepEqual(encryptionPathEnv({ provider: 'raw', keySecret: { name: 'k', key: 'key' } }, secrets), [
    { name: 'KB_ENCRYPTION_KEY_FILE', value: '/var/run/kafka-backup/secrets/k/key' },
  ]);
  assert.deepEqual(secrets.secretsNeeded().get('k'), new Set(['key']));
  assert.deepEqual(encryptionPathEnv({ provider: 'aws-kms', kmsKeyId: 'alias/x', keySlot: 's1' }, secrets), [
    { name: 'KB_ENCRYPTION_KMS_KEY_ID', value: 'alias/x' },
    { name: 'KB_ENCRYPTION_KEY_SLOT', value: 's1' },
  ]);
  assert.deepEqual(encryptionPathEnv(undefined, secrets), []);
});
