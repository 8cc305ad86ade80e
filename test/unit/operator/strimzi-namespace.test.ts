/** strimziClusterRef to a Kafka in another namespace: its Secrets must be where the runs are, and the status says so. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KafkaBackupSpec, Resource } from '../../../src/operator/api.ts';
import type { Kube } from '../../../src/operator/kube.ts';
import { prepareBackup } from '../../../src/operator/prepare.ts';

const cluster = {
  metadata: { name: 'prod', namespace: 'kafka' },
  spec: { kafka: { listeners: [{ name: 'tls', tls: true }] } },
  status: { listeners: [{ name: 'tls', bootstrapServers: 'prod-kafka-bootstrap.kafka.svc:9093' }] },
};
const user = { metadata: { name: 'backup' }, spec: { authentication: { type: 'scram-sha-512' } } };

/** A Kube with the Strimzi resources in `kafka` and the given Secrets (by namespace). */
function fakeKube(secrets: Record<string, Record<string, string[]>>): Kube {
  return {
    getCustom: async (_g: string, _v: string, plural: string, ns: string) =>
      ns === 'kafka' ? (plural === 'kafkas' ? cluster : user) : undefined,
    secretKeys: async (ns: string, name: string) => {
      const keys = secrets[ns]?.[name];
      return keys ? new Set(keys) : undefined;
    },
  } as unknown as Kube;
}

const resource: Resource<KafkaBackupSpec> = {
  apiVersion: 'kafkabackup.io/v1alpha1',
  kind: 'KafkaBackup',
  metadata: { name: 'b', namespace: 'apps', uid: 'u' },
  spec: {
    strimziClusterRef: { name: 'prod', namespace: 'kafka', listener: 'tls', kafkaUser: 'backup' },
    storage: { url: 's3://bucket/p' },
  },
};

test('the CA and user Secrets only in the Kafka namespace: StrimziSecretNotInNamespace, naming the Secret and the fix', async () => {
  const p = await prepareBackup(
    { kube: fakeKube({ kafka: { 'prod-cluster-ca-cert': ['ca.crt'], backup: ['password'] } }), image: 'img' },
    resource,
  );
  assert.equal(p.ok, false);
  if (p.ok) return;
  assert.equal(p.reason, 'StrimziSecretNotInNamespace');
  assert.match(p.message, /Secret backup \(Strimzi's, in kafka\) is needed in apps/);
  assert.match(p.message, /copy it there/);
});

test('copied into the resource namespace: the run is prepared', async () => {
  const copies = { 'prod-cluster-ca-cert': ['ca.crt'], backup: ['password'] };
  const p = await prepareBackup({ kube: fakeKube({ kafka: copies, apps: copies }), image: 'img' }, resource);
  assert.equal(p.ok, true, JSON.stringify(p));
});
