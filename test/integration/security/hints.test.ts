/**
 * The hints kafkaError gives for security failures that the secure broker cannot easily
 * produce (hostname mismatch, expired certificate) and for the mapping of refused APIs to
 * ACLs. No broker needed: errors shaped like the ones Node's TLS stack and the Kafka client
 * raise are classified directly.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { kafkaError } from '../../../src/kafka/client.ts';

const nodeError = (message: string, code: string) => Object.assign(new Error(message), { code });
const wrapped = (cause: Error) => new Error('Connection to 127.0.0.1:19593 failed.', { cause });

const sslConn = {
  bootstrap_servers: ['broker.example:9093'],
  security: { protocol: 'SSL' as const, tls: { ca_file: '/etc/kafka/ca.pem' } },
};

describe('kafkaError hints for security failures', () => {
  test('hostname mismatch says how to fix it and mentions verify_hostname', () => {
    const e = kafkaError(
      wrapped(
        nodeError(
          "Hostname/IP does not match certificate's altnames: Host: broker.example. is not in the cert's altnames: DNS:localhost",
          'ERR_TLS_CERT_ALTNAME_INVALID',
        ),
      ),
      'reading cluster metadata',
      sslConn,
    );
    assert.equal(e.exitCode, 1);
    assert.match(e.hint ?? '', /does not name the host connected to/);
    assert.match(e.hint ?? '', /verify_hostname: false/);
  });

  test('an expired certificate points at renewal or the clock', () => {
    const e = kafkaError(wrapped(nodeError('certificate has expired', 'CERT_HAS_EXPIRED')), 'x', sslConn);
    assert.match(e.hint ?? '', /validity period/);
  });

  test('an unknown issuer names the configured ca_file', () => {
    const e = kafkaError(
      wrapped(nodeError('unable to get local issuer certificate', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY')),
      'x',
      sslConn,
    );
    assert.match(e.hint ?? '', /set security\.tls\.ca_file .*now: \/etc\/kafka\/ca\.pem/);
  });

  test('refused APIs map to the ACL the broker checks, for the SASL user', () => {
    const conn = {
      bootstrap_servers: ['b:9092'],
      security: {
        protocol: 'SASL_PLAINTEXT' as const,
        sasl: { mechanism: 'SCRAM-SHA-512' as const, username: 'svc', password: 'pw-should-not-appear' },
      },
    };
    const cases: [string, RegExp][] = [
      ['Fetch', /Read on the topics/],
      ['InitProducerId', /IdempotentWrite on the cluster/],
      ['OffsetCommit', /Read on the consumer groups and Read on their topics/],
      ['Produce', /Write on the topics/],
    ];
    for (const [api, acl] of cases) {
      const cause = new Error(`Received response with error while executing API ${api}(v9)`, {
        cause: new Error('Topic authorization failed.'),
      });
      const e = kafkaError(cause, 'x', conn);
      assert.match(e.hint ?? '', /refused User:svc/);
      assert.match(e.hint ?? '', acl, api);
      assert.ok(!`${e.message} ${e.hint}`.includes('pw-should-not-appear'));
    }
  });

  test('plaintext against a TLS port says to use SSL or SASL_SSL', () => {
    const e = kafkaError(new Error('Broker requires TLS.'), 'x', { bootstrap_servers: ['b:9093'] });
    assert.match(e.hint ?? '', /set security\.protocol to SSL or SASL_SSL/);
  });
});
