/**
 * Backup and restore through the real CLI against the secure broker (`scripts/services.sh start
 * kafka-secure`, started here if it is not running): SASL_PLAINTEXT with SCRAM-SHA-512,
 * SCRAM-SHA-256 and PLAIN, SASL_SSL with SCRAM-SHA-512, and SSL with a client certificate.
 * The principals have exactly the ACLs docs/security.md lists (the broker denies everything
 * else), so these runs also check that list. Records are produced and read back with Kafka's own
 * Java client (peers on the broker's loopback PLAINTEXT listener, ConsoleConsumer and
 * GetOffsetShell over SASL_SSL), never with our code. Failures (wrong password, untrusted CA,
 * refused client certificate, missing ACL, wrong key password) must exit with a message that says
 * what to check, and no secret may ever be printed.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { AclOperations, AclPermissionTypes, Admin, ResourcePatternTypes, ResourceTypes } from '@platformatic/kafka';
import { type CliResult, cli, jsonOut, tempDir, writeConfig } from '../../helpers/cli.ts';
import { kafkaTool, REPO_ROOT, run, uniqueTopic } from '../../helpers/kafka.ts';
import {
  consumeAsGroup,
  type DumpedRecord,
  dumpTopic,
  groupOffsets,
  produceSpec,
  type SpecLine,
} from '../../helpers/peers.ts';

const HOST = '127.0.0.1';
const SASL_PLAINTEXT = `${HOST}:19592`;
const SASL_SSL = `${HOST}:19593`;
const SSL = `${HOST}:19594`;
/** The broker's inter-broker listener: PLAINTEXT on loopback, a super user. Only the Java peers use it. */
const INTERNAL = `${HOST}:19595`;
const CERTS = join(process.env['KB_STATE_DIR'] ?? join(REPO_ROOT, '.services'), 'kafka-secure/certs');
const cert = (name: string) => join(CERTS, name);

/** Every secret the tests use: none may appear in anything the CLI prints. */
const SECRETS = [
  'backup-secret',
  'restore-secret',
  'admin-secret',
  'client-key-secret',
  'wrong-pw-7f3a9c',
  'broker-store-secret',
];
/** `${NAME}` in a config: the loader substitutes the environment variable. */
const envRef = (name: string) => `\${${name}}`;
const KAFKA_PASSWORD_REF = envRef('KAFKA_PASSWORD');
const RESTORE_PASSWORD_REF = envRef('RESTORE_PASSWORD');
const CLIENT_PRINCIPAL = 'User:CN=kafka-backup-client';
const PARTITIONS = 3;
const PER_PARTITION = 40;

/** The ACLs docs/security.md lists, on every resource whose name starts with prefix. */
function documentedAcls(principal: string, prefix: string, role: 'source' | 'target') {
  const O = AclOperations;
  const topic =
    role === 'source'
      ? [O.DESCRIBE, O.READ, O.DESCRIBE_CONFIGS]
      : [O.CREATE, O.WRITE, O.DESCRIBE, O.DESCRIBE_CONFIGS, O.READ];
  const group = role === 'source' ? [O.DESCRIBE] : [O.READ, O.DESCRIBE];
  const cluster = role === 'source' ? [] : [O.IDEMPOTENT_WRITE];
  const acl = (resourceType: number, resourceName: string, prefixed: boolean, operation: number) => ({
    resourceType: resourceType as typeof ResourceTypes.TOPIC,
    resourceName,
    resourcePatternType: prefixed ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
    principal,
    host: '*',
    operation: operation as typeof O.READ,
    permissionType: AclPermissionTypes.ALLOW,
  });
  return [
    ...topic.map((op) => acl(ResourceTypes.TOPIC, prefix, true, op)),
    ...group.map((op) => acl(ResourceTypes.GROUP, prefix, true, op)),
    ...cluster.map((op) => acl(ResourceTypes.CLUSTER, 'kafka-cluster', false, op)),
  ];
}

function assertNoSecret(r: CliResult, what: string): void {
  for (const s of SECRETS) {
    assert.ok(!r.stdout.includes(s), `${what}: stdout shows a secret (${s.slice(0, 3)}…)`);
    assert.ok(!r.stderr.includes(s), `${what}: stderr shows a secret (${s.slice(0, 3)}…)`);
  }
}

/** The error line and the fix line the CLI printed (stderr). */
function errorText(r: CliResult): string {
  return r.stderr
    .split('\n')
    .filter((l) => !l.startsWith('{'))
    .join('\n');
}

const strip = (r: DumpedRecord) => ({
  partition: r.partition,
  key: r.key,
  value: r.value,
  headers: r.headers,
  timestamp: r.timestamp,
});

describe('kafka security: backup and restore over SASL and TLS', { timeout: 600_000 }, () => {
  const prefix = `${uniqueTopic('sec')}-`;
  const source = `${prefix}src`;
  const group = `${prefix}g1`;
  /** Outside the prefix: User:backup may Describe and Read it, but not DescribeConfigs. */
  const partial = uniqueTopic('secpartial');
  let dir: string;
  let sourceDump: DumpedRecord[];
  const env = { KAFKA_PASSWORD: 'backup-secret', RESTORE_PASSWORD: 'restore-secret' };

  const scram = (mechanism: string, user: 'backup' | 'restore', password: Record<string, string>) => ({
    protocol: 'SASL_PLAINTEXT',
    sasl: { mechanism, username: user, ...password },
  });

  /** Writes backup and restore configs for one protocol, runs both, and returns the target topic. */
  async function roundTrip(
    name: string,
    src: { bootstrap: string; security: unknown },
    dst: { bootstrap: string; security: unknown },
    extraEnv: Record<string, string> = {},
  ): Promise<string> {
    const target = `${prefix}${name}`;
    const storage = { backend: 'filesystem', path: join(dir, 'backups') };
    const b = writeConfig(dir, `${name}-backup.yaml`, {
      backup_id: name,
      source: { bootstrap_servers: [src.bootstrap], topics: { include: [source] }, security: src.security },
      storage,
    });
    const r = writeConfig(dir, `${name}-restore.yaml`, {
      backup_id: name,
      target: { bootstrap_servers: [dst.bootstrap], security: dst.security },
      storage,
      restore: { topic_mapping: { [source]: target } },
    });
    const backup = await cli(['backup', '-c', b, '--format', 'json'], { ...env, ...extraEnv });
    assertNoSecret(backup, `${name} backup`);
    assert.equal(backup.code, 0, backup.stderr);
    const out = jsonOut<{ state: string; records: number }>(backup);
    assert.equal(out.state, 'complete');
    assert.equal(out.records, PARTITIONS * PER_PARTITION);
    const restore = await cli(['restore', '-c', r, '--format', 'json'], { ...env, ...extraEnv });
    assertNoSecret(restore, `${name} restore`);
    assert.equal(restore.code, 0, restore.stderr);
    return target;
  }

  async function assertSameRecords(target: string): Promise<void> {
    const restored = await dumpTopic(target, { bootstrap: INTERNAL });
    assert.equal(restored.length, sourceDump.length, 'record count');
    assert.deepEqual(restored.map(strip), sourceDump.map(strip), 'keys, values, headers, timestamps, partitions');
  }

  before(async () => {
    const t0 = Date.now();
    const started = await run('bash', [join(REPO_ROOT, 'scripts/services.sh'), 'start', 'kafka-secure'], {
      timeoutMs: 300_000,
    });
    assert.match(started.stdout, /SASL_SSL 127\.0\.0\.1:19593/);
    console.log(`kafka-secure start: ${Date.now() - t0} ms`);
    dir = tempDir('security');
    // the test's super user, over SCRAM: creates the topic and grants the documented ACLs
    const admin = new Admin({
      clientId: 'kb-test-security-admin',
      bootstrapBrokers: [SASL_PLAINTEXT],
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'admin', password: 'admin-secret' },
      retries: 5,
      retryDelay: 300,
    });
    try {
      await admin.createAcls({
        creations: [
          ...documentedAcls('User:backup', prefix, 'source'),
          ...documentedAcls('User:restore', prefix, 'target'),
          ...documentedAcls(CLIENT_PRINCIPAL, prefix, 'source'),
          ...documentedAcls(CLIENT_PRINCIPAL, prefix, 'target'),
          ...[AclOperations.DESCRIBE, AclOperations.READ].map((operation) => ({
            resourceType: ResourceTypes.TOPIC,
            resourceName: partial,
            resourcePatternType: ResourcePatternTypes.LITERAL,
            principal: 'User:backup',
            host: '*',
            operation,
            permissionType: AclPermissionTypes.ALLOW,
          })),
        ],
      });
      await admin.createTopics({ topics: [partial], partitions: 1, replicas: 1 });
      await admin.createTopics({
        topics: [source],
        partitions: PARTITIONS,
        replicas: 1,
        configs: [{ name: 'retention.ms', value: '-1' }],
      });
    } finally {
      await admin.close();
    }
    const spec: SpecLine[] = [];
    for (let i = 0; i < PER_PARTITION; i++)
      for (let p = 0; p < PARTITIONS; p++)
        spec.push({
          partition: p,
          key: `key-${p}-${i}`,
          value: `value ${p}/${i} ${'x'.repeat(i)}`,
          headers: [['h', `${i}`]],
          timestamp: 1_700_000_000_000 + i * 1000 + p,
        });
    await produceSpec(source, spec, { bootstrap: INTERNAL });
    sourceDump = await dumpTopic(source, { bootstrap: INTERNAL });
    assert.equal(sourceDump.length, PARTITIONS * PER_PARTITION);
    // a consumer group with committed offsets, for the offset capture and apply
    await consumeAsGroup(group, source, 30, { bootstrap: INTERNAL });
    // the ACLs reach the authorizer asynchronously (metadata log): wait until the backup user sees the topic
    const probe = new Admin({
      clientId: 'kb-test-security-probe',
      bootstrapBrokers: [SASL_PLAINTEXT],
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'backup', password: 'backup-secret' },
    });
    try {
      for (let i = 0; ; i++) {
        const md = await probe.metadata({ topics: [source] }).catch(() => null);
        if (md?.topics.get(source)) break;
        if (i > 100) throw new Error('ACLs for User:backup did not take effect');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await probe.close();
    }
  });

  test('SASL_PLAINTEXT SCRAM-SHA-512: password from an environment variable, then from password_file', async () => {
    const pwFile = join(dir, 'restore.password');
    writeFileSync(pwFile, 'restore-secret\n', { mode: 0o600 });
    const target = await roundTrip(
      'scram512',
      { bootstrap: SASL_PLAINTEXT, security: scram('SCRAM-SHA-512', 'backup', { password: KAFKA_PASSWORD_REF }) },
      { bootstrap: SASL_PLAINTEXT, security: scram('SCRAM-SHA-512', 'restore', { password_file: pwFile }) },
    );
    await assertSameRecords(target);
  });

  test('SASL_PLAINTEXT SCRAM-SHA-256: password_file for the source, an environment variable for the target', async () => {
    const pwFile = join(dir, 'backup.password');
    writeFileSync(pwFile, 'backup-secret', { mode: 0o600 });
    const target = await roundTrip(
      'scram256',
      { bootstrap: SASL_PLAINTEXT, security: scram('SCRAM-SHA-256', 'backup', { password_file: pwFile }) },
      { bootstrap: SASL_PLAINTEXT, security: scram('SCRAM-SHA-256', 'restore', { password: RESTORE_PASSWORD_REF }) },
    );
    await assertSameRecords(target);
  });

  test('SASL_PLAINTEXT PLAIN', async () => {
    const target = await roundTrip(
      'plain',
      {
        bootstrap: SASL_PLAINTEXT,
        security: {
          protocol: 'SASL_PLAINTEXT',
          sasl: { mechanism: 'PLAIN', username: 'backup', password: KAFKA_PASSWORD_REF },
        },
      },
      {
        bootstrap: SASL_PLAINTEXT,
        security: {
          protocol: 'SASL_PLAINTEXT',
          sasl: { mechanism: 'PLAIN', username: 'restore', password: RESTORE_PASSWORD_REF },
        },
      },
    );
    await assertSameRecords(target);
  });

  let sslTarget = '';
  test('SASL_SSL SCRAM-SHA-512 with the test CA; Kafka’s ConsoleConsumer and GetOffsetShell read the result over SASL_SSL', async () => {
    const tls = { ca_file: cert('ca.pem') };
    sslTarget = await roundTrip(
      'saslssl',
      {
        bootstrap: SASL_SSL,
        security: {
          protocol: 'SASL_SSL',
          sasl: { mechanism: 'SCRAM-SHA-512', username: 'backup', password: KAFKA_PASSWORD_REF },
          tls,
        },
      },
      {
        bootstrap: `localhost:19593`,
        security: {
          protocol: 'SASL_SSL',
          sasl: { mechanism: 'SCRAM-SHA-512', username: 'restore', password: RESTORE_PASSWORD_REF },
          tls: { ...tls, verify_hostname: true },
        },
      },
    );
    const props = join(dir, 'java-sasl-ssl.properties');
    writeFileSync(
      props,
      [
        'security.protocol=SASL_SSL',
        'sasl.mechanism=SCRAM-SHA-512',
        'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="admin-secret";',
        'ssl.truststore.type=PEM',
        `ssl.truststore.location=${cert('ca.pem')}`,
        '',
      ].join('\n'),
    );
    const offsets = await kafkaTool('org.apache.kafka.tools.GetOffsetShell', [
      '--bootstrap-server',
      SASL_SSL,
      '--topic',
      sslTarget,
      '--command-config',
      props,
    ]);
    const ends = offsets.stdout
      .trim()
      .split('\n')
      .map((l) => Number(l.split(':').at(-1)));
    assert.equal(ends.length, PARTITIONS, offsets.stdout);
    assert.equal(
      ends.reduce((a, b) => a + b, 0),
      PARTITIONS * PER_PARTITION,
      'end offsets over SASL_SSL',
    );
    const consumed = await kafkaTool('org.apache.kafka.tools.consumer.ConsoleConsumer', [
      '--bootstrap-server',
      SASL_SSL,
      '--topic',
      sslTarget,
      '--from-beginning',
      '--consumer.config',
      props,
      '--max-messages',
      String(PARTITIONS * PER_PARTITION),
      '--timeout-ms',
      '30000',
      '--property',
      'print.key=true',
      '--property',
      'print.partition=true',
      '--property',
      'key.separator=|',
    ]);
    const lines = consumed.stdout.trim().split('\n').sort();
    const expected = sourceDump
      .map((r) => `Partition:${r.partition}|${Buffer.from(r.key!, 'base64')}|${Buffer.from(r.value!, 'base64')}`)
      .sort();
    assert.deepEqual(lines, expected, 'ConsoleConsumer over SASL_SSL reads every key and value');
  });

  test('the captured group offsets are applied to the restored topic over SASL_SSL (target group ACLs)', async () => {
    assert.ok(sslTarget, 'the SASL_SSL round trip ran');
    const config = writeConfig(dir, 'offsets.yaml', {
      backup_id: 'saslssl',
      target: {
        bootstrap_servers: [SASL_SSL],
        security: {
          protocol: 'SASL_SSL',
          sasl: { mechanism: 'SCRAM-SHA-512', username: 'restore', password: RESTORE_PASSWORD_REF },
          tls: { ca_file: cert('ca.pem') },
        },
      },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      restore: { topic_mapping: { [source]: sslTarget }, group_mapping: { [group]: `${group}-restored` } },
    });
    const r = await cli(['offsets', 'apply', '--execute', '-c', config, '--groups', group, '--format', 'json'], env);
    assertNoSecret(r, 'offsets apply');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const src = await groupOffsets(group, { bootstrap: INTERNAL });
    const dst = await groupOffsets(`${group}-restored`, { bootstrap: INTERNAL });
    assert.ok(src.length > 0);
    assert.deepEqual(
      dst.map((o) => [o.partition, o.offset]),
      src.map((o) => [o.partition, o.offset]),
      'the same positions (the restored topic has the same offsets)',
    );
  });

  test('SSL with a client certificate (mTLS); an encrypted key with key_password_file', async () => {
    const target = await roundTrip(
      'mtls',
      {
        bootstrap: SSL,
        security: {
          protocol: 'SSL',
          tls: { ca_file: cert('ca.pem'), cert_file: cert('client.pem'), key_file: cert('client.key') },
        },
      },
      {
        bootstrap: SSL,
        security: {
          protocol: 'SSL',
          tls: {
            ca_file: cert('ca.pem'),
            cert_file: cert('client.pem'),
            key_file: cert('client-encrypted.key'),
            key_password_file: cert('client-key.pass'),
          },
        },
      },
    );
    await assertSameRecords(target);
  });

  /** Runs a backup of the source with this security section and returns the result. */
  async function failingBackup(
    name: string,
    bootstrap: string,
    security: unknown,
    extraEnv: Record<string, string> = {},
  ) {
    const c = writeConfig(dir, `${name}.yaml`, {
      backup_id: name,
      source: { bootstrap_servers: [bootstrap], topics: { include: [source] }, security },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
    });
    const r = await cli(['backup', '-c', c, '--debug'], { ...env, ...extraEnv });
    assertNoSecret(r, name);
    return r;
  }

  test('a wrong SCRAM password: exit 1, says to check the credentials, never prints the password', async () => {
    for (const mechanism of ['SCRAM-SHA-512', 'SCRAM-SHA-256']) {
      const r = await failingBackup(
        `wrong-${mechanism}`,
        SASL_PLAINTEXT,
        scram(mechanism, 'backup', { password: KAFKA_PASSWORD_REF }),
        { KAFKA_PASSWORD: 'wrong-pw-7f3a9c' },
      );
      assert.equal(r.code, 1, r.stderr);
      const text = errorText(r);
      assert.match(text, /SASL authentication failed/);
      assert.match(text, /rejected the credentials: check security\.sasl\.username \('backup'\), the password/);
      assert.ok(text.includes(mechanism), text);
    }
  });

  test('a wrong password in password_file: the hint names the file, not its content', async () => {
    const pwFile = join(dir, 'wrong.password');
    writeFileSync(pwFile, 'wrong-pw-7f3a9c\n');
    const r = await failingBackup('wrong-file', SASL_SSL, {
      protocol: 'SASL_SSL',
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'backup', password_file: pwFile },
      tls: { ca_file: cert('ca.pem') },
    });
    assert.equal(r.code, 1, r.stderr);
    assert.ok(errorText(r).includes(`password_file ${pwFile}`), errorText(r));
  });

  test('a CA that did not sign the broker certificate: exit 1, says to set tls.ca_file', async () => {
    const r = await failingBackup('untrusted', SASL_SSL, {
      protocol: 'SASL_SSL',
      sasl: { mechanism: 'SCRAM-SHA-512', username: 'backup', password: KAFKA_PASSWORD_REF },
      tls: { ca_file: cert('other-ca.pem') },
    });
    assert.equal(r.code, 1, r.stderr);
    const text = errorText(r);
    assert.match(text, /self-signed certificate in certificate chain/);
    assert.match(text, /not signed by a CA this client trusts: set security\.tls\.ca_file/);
    assert.ok(text.includes('other-ca.pem'), text);
  });

  test('mTLS: no client certificate, or one from another CA: exit 1, says which certificate to check', async () => {
    const none = await failingBackup('mtls-none', SSL, { protocol: 'SSL', tls: { ca_file: cert('ca.pem') } });
    assert.equal(none.code, 1, none.stderr);
    assert.match(errorText(none), /requires client certificates .*set security\.tls\.cert_file and key_file/);
    const other = await failingBackup('mtls-other', SSL, {
      protocol: 'SSL',
      tls: { ca_file: cert('ca.pem'), cert_file: cert('other-client.pem'), key_file: cert('other-client.key') },
    });
    assert.equal(other.code, 1, other.stderr);
    assert.match(errorText(other), /refusing the client certificate .*other-client\.pem/);
  });

  test('a wrong key password: a config error (exit 2) naming key_password, before connecting', async () => {
    const r = await failingBackup('bad-key-password', SSL, {
      protocol: 'SSL',
      tls: {
        ca_file: cert('ca.pem'),
        cert_file: cert('client.pem'),
        key_file: cert('client-encrypted.key'),
        key_password: KAFKA_PASSWORD_REF,
      },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(errorText(r), /cannot decrypt source\.security\.tls\.key_file/);
    assert.match(errorText(r), /check source\.security\.tls\.key_password/);
  });

  test('a missing ACL (Create outside the granted prefix): exit 1, names the Create ACL', async () => {
    const c = writeConfig(dir, 'no-acl-restore.yaml', {
      backup_id: 'scram512',
      target: {
        bootstrap_servers: [SASL_PLAINTEXT],
        security: scram('SCRAM-SHA-512', 'restore', { password: RESTORE_PASSWORD_REF }),
      },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      restore: { topic_mapping: { [source]: uniqueTopic('outside') } },
    });
    const r = await cli(['restore', '-c', c], env);
    assertNoSecret(r, 'no-acl restore');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(errorText(r), /Topic authorization failed/);
    assert.match(errorText(r), /Create ACL/);
  });

  test('a missing DescribeConfigs ACL: exit 1, the hint names the ACL, the API and the principal', async () => {
    const c = writeConfig(dir, 'no-describe-configs.yaml', {
      backup_id: 'no-describe-configs',
      source: {
        bootstrap_servers: [SASL_PLAINTEXT],
        topics: { include: [partial] },
        security: scram('SCRAM-SHA-512', 'backup', { password: KAFKA_PASSWORD_REF }),
      },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
    });
    const r = await cli(['backup', '-c', c], env);
    assertNoSecret(r, 'no-describe-configs backup');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(errorText(r), /Topic authorization failed/);
    assert.match(errorText(r), /refused User:backup: grant it DescribeConfigs on the topics \(for DescribeConfigs\)/);
  });

  /** An unsigned JWT ("alg":"none") for the broker's default OAUTHBEARER validator. */
  const jwt = (sub: string) => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    return `${b64({ alg: 'none' })}.${b64({ sub, iat: now, exp: now + 3600 })}.`;
  };

  test('SASL_PLAINTEXT OAUTHBEARER: token_command for the source, token_file for the target', async () => {
    const script = join(dir, 'token.sh');
    writeFileSync(
      script,
      [
        'b64() { openssl base64 -A | tr "+/" "-_" | tr -d "="; }',
        'now=$(date +%s)',
        `printf '%s.%s.\n' "$(printf '{"alg":"none"}' | b64)" "$(printf '{"sub":"%s","iat":%s,"exp":%s}' "$1" "$now" "$((now + 3600))" | b64)"`,
        '',
      ].join('\n'),
    );
    const tokenFile = join(dir, 'restore.token');
    const token = jwt('restore');
    SECRETS.push(token);
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const target = await roundTrip(
      'oauth',
      {
        bootstrap: SASL_PLAINTEXT,
        security: {
          protocol: 'SASL_PLAINTEXT',
          sasl: { mechanism: 'OAUTHBEARER', token_command: `sh ${script} backup` },
        },
      },
      {
        bootstrap: SASL_PLAINTEXT,
        security: { protocol: 'SASL_PLAINTEXT', sasl: { mechanism: 'OAUTHBEARER', token_file: tokenFile } },
      },
    );
    await assertSameRecords(target);
  });

  test('OAUTHBEARER: a failing token_command and a rejected token give exit 1 and say what to check', async () => {
    const failing = await failingBackup('oauth-cmd-fails', SASL_PLAINTEXT, {
      protocol: 'SASL_PLAINTEXT',
      sasl: { mechanism: 'OAUTHBEARER', token_command: 'echo token service unreachable >&2; exit 3' },
    });
    assert.equal(failing.code, 1, failing.stderr);
    assert.match(errorText(failing), /token_command exited with code 3/);
    assert.match(errorText(failing), /run security\.sasl\.token_command by hand/);
    assert.match(failing.stderr, /token service unreachable/, "the command's own stderr passes through");
    const rejected = await failingBackup('oauth-rejected', SASL_PLAINTEXT, {
      protocol: 'SASL_PLAINTEXT',
      sasl: { mechanism: 'OAUTHBEARER', token: 'wrong-pw-7f3a9c' },
    });
    assert.equal(rejected.code, 1, rejected.stderr);
    assert.match(errorText(rejected), /the broker rejected the OAUTHBEARER token/);
  });
});
