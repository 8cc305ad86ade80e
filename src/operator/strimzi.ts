/**
 * strimziClusterRef: the connection Strimzi documents for a cluster and a user, as a `kafka` spec
 * value (so it renders exactly like one written by hand):
 * - bootstrap servers: Kafka `.status.listeners[name=<listener>].bootstrapServers`;
 * - TLS: the listener's `.spec.kafka.listeners[].tls`; the cluster CA from Secret
 *   `<cluster>-cluster-ca-cert`, key `ca.crt`;
 * - a KafkaUser with `authentication.type` scram-sha-512: SASL SCRAM-SHA-512, username the user's
 *   name, password from Secret `<user>` key `password`; tls: client certificate `user.crt` and key
 *   `user.key` from Secret `<user>`.
 */
import type { Section, StrimziClusterRef } from './api.ts';

export const STRIMZI_GROUP = 'kafka.strimzi.io';
export const STRIMZI_VERSION = 'v1beta2';

export interface StrimziKafka {
  metadata: { name: string; namespace?: string };
  spec?: { kafka?: { listeners?: { name: string; tls?: boolean; authentication?: { type?: string } }[] } };
  status?: { listeners?: { name?: string; type?: string; bootstrapServers?: string }[] };
}
export interface StrimziUser {
  metadata: { name: string };
  spec?: { authentication?: { type?: string } };
}

export class StrimziProblem extends Error {}

export function strimziConnection(
  ref: StrimziClusterRef,
  cluster: StrimziKafka,
  user: StrimziUser | undefined,
): Section {
  const status = (cluster.status?.listeners ?? []).find((l) => (l.name ?? l.type) === ref.listener);
  if (!status?.bootstrapServers)
    throw new StrimziProblem(
      `Kafka ${ref.name} has no listener "${ref.listener}" with bootstrapServers in its status (listeners: ${
        (cluster.status?.listeners ?? []).map((l) => l.name ?? l.type).join(', ') || 'none yet'
      })`,
    );
  const listener = (cluster.spec?.kafka?.listeners ?? []).find((l) => l.name === ref.listener);
  const tls = listener?.tls ?? false;
  const auth = user?.spec?.authentication?.type;
  const security: Section = {};
  if (tls) security['tls'] = { caSecret: { name: `${ref.name}-cluster-ca-cert`, key: 'ca.crt' } };
  if (user && auth === 'scram-sha-512') {
    security['protocol'] = tls ? 'SASL_SSL' : 'SASL_PLAINTEXT';
    security['sasl'] = {
      mechanism: 'SCRAM-SHA-512',
      username: user.metadata.name,
      passwordSecret: { name: user.metadata.name, key: 'password' },
    };
  } else if (user && (auth === 'tls' || auth === 'tls-external')) {
    if (!tls)
      throw new StrimziProblem(
        `KafkaUser ${user.metadata.name} authenticates with TLS, but listener "${ref.listener}" has no TLS`,
      );
    security['protocol'] = 'SSL';
    (security['tls'] as Section)['certSecret'] = { name: user.metadata.name, key: 'user.crt' };
    (security['tls'] as Section)['keySecret'] = { name: user.metadata.name, key: 'user.key' };
  } else if (user) {
    throw new StrimziProblem(
      `KafkaUser ${user.metadata.name} has authentication type "${auth ?? 'none'}"; supported: scram-sha-512, tls, tls-external`,
    );
  } else security['protocol'] = tls ? 'SSL' : 'PLAINTEXT';
  return {
    bootstrapServers: status.bootstrapServers
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    security,
  };
}
