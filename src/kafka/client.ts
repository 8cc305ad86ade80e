/**
 * Kafka client setup: turns the `source` / `target` config section into client options
 * (SASL, TLS, mTLS), creates the Admin client, and classifies client errors into KafkaError
 * with a message that says what to do. Secrets are read here (inline, from files or commands)
 * and never echoed.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { Admin, type BaseOptions, type Connection } from '@platformatic/kafka';
import { ConfigError, KafkaError } from '../errors.ts';

export interface KafkaSecurityOptions {
  protocol?: 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
  sasl?: {
    mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | 'OAUTHBEARER';
    username?: string;
    password?: string;
    password_file?: string;
    token?: string;
    token_file?: string;
    token_command?: string;
  };
  tls?: {
    ca_file?: string;
    cert_file?: string;
    key_file?: string;
    key_password?: string;
    key_password_file?: string;
    verify_hostname?: boolean;
  };
}

export interface KafkaConnectionOptions {
  bootstrap_servers: string[];
  client_id?: string;
  client_rack?: string;
  request_timeout_ms?: number;
  connect_timeout_ms?: number;
  security?: KafkaSecurityOptions;
}

function readSecretFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new ConfigError(`cannot read ${what} from ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, [], {
      hint: `check that ${path} exists and is readable`,
    });
  }
}

function readPem(path: string, what: string, role: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, [], {
      hint: `check ${role}.security.tls.${what} points to a readable PEM file`,
    });
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM bundle; a ConfigError when there is none or one does not parse. */
function pemCertificates(pem: Buffer, path: string, what: string, role: string): X509Certificate[] {
  const blocks = pem.toString('utf8').match(PEM_CERT) ?? [];
  const hint = `${role}.security.tls.${what} must hold PEM certificates (-----BEGIN CERTIFICATE-----); convert DER or PKCS12 with openssl`;
  if (blocks.length === 0)
    throw new ConfigError(`${role}.security.tls.${what} ${path} holds no PEM certificate`, [], { hint });
  return blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch {
      throw new ConfigError(`${role}.security.tls.${what} ${path} holds a certificate that does not parse`, [], {
        hint,
      });
    }
  });
}

/**
 * Loads the TLS material once, so a wrong key password, a key that does not belong to the
 * certificate or a file that is not PEM fails at start with a ConfigError naming the setting,
 * not later as a connection error.
 */
function checkTlsMaterial(
  t: NonNullable<KafkaSecurityOptions['tls']>,
  m: { ca?: Buffer; cert?: Buffer; key?: Buffer; passphrase?: string },
  role: string,
): void {
  if (m.ca && t.ca_file) pemCertificates(m.ca, t.ca_file, 'ca_file', role);
  if (m.cert && t.cert_file) pemCertificates(m.cert, t.cert_file, 'cert_file', role);
  if (!m.key) return;
  try {
    createSecureContext({
      cert: m.cert,
      key: m.key,
      ...(m.passphrase !== undefined ? { passphrase: m.passphrase } : {}),
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    const at = `${role}.security.tls`;
    if (/BAD_DECRYPT|BAD_PASSWORD|INTERRUPTED_OR_CANCELLED/.test(code))
      throw new ConfigError(`cannot decrypt ${at}.key_file ${t.key_file}`, [], {
        hint:
          m.passphrase === undefined
            ? `the key is encrypted: set ${at}.key_password or ${at}.key_password_file`
            : `check ${at}.key_password${t.key_password_file ? `_file (${t.key_password_file})` : ''}`,
      });
    if (/KEY_VALUES_MISMATCH/.test(code))
      throw new ConfigError(`${at}.key_file ${t.key_file} is not the key of ${at}.cert_file ${t.cert_file}`, [], {
        hint: 'give the private key that belongs to the client certificate',
      });
    throw new ConfigError(`${at}.key_file ${t.key_file} cannot be used: ${(e as Error).message}`, [], {
      hint: `${at}.key_file must be a PEM private key (PKCS#1, SEC1 or PKCS#8, encrypted or not)`,
    });
  }
}

/**
 * Runs security.sasl.token_command (through /bin/sh, at most 60 s) and returns its trimmed
 * standard output. Run again for every new connection, so a command that prints a fresh token
 * covers token refresh. Its output is never shown; a failure names the exit code only.
 */
function runTokenCommand(cmd: string, role: string): string {
  let out: string;
  try {
    out = execFileSync('/bin/sh', ['-c', cmd], {
      encoding: 'utf8',
      timeout: 60_000,
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { status?: number | null; signal?: string | null };
    const how = err.signal
      ? `was stopped by ${err.signal}`
      : err.status != null
        ? `exited with code ${err.status}`
        : `failed (${err.code ?? 'error'})`;
    throw new ConfigError(`${role}.security.sasl.token_command ${how}`, [], {
      hint: `run the command by hand; it must print the OAUTHBEARER token on standard output within 60 s`,
    });
  }
  if (out === '')
    throw new ConfigError(`${role}.security.sasl.token_command printed nothing`, [], {
      hint: 'the command must print the OAUTHBEARER token on standard output',
    });
  return out;
}

export function clientOptions(conn: KafkaConnectionOptions, role: 'source' | 'target'): BaseOptions {
  const sec = conn.security ?? {};
  const protocol = sec.protocol ?? 'PLAINTEXT';
  const options: BaseOptions = {
    clientId: conn.client_id ?? 'kafka-backup',
    bootstrapBrokers: conn.bootstrap_servers,
    connectTimeout: conn.connect_timeout_ms ?? 10_000,
    requestTimeout: conn.request_timeout_ms ?? 30_000,
    timeout: conn.request_timeout_ms ?? 30_000,
    retries: 3,
    retryDelay: 500,
  };
  if (conn.client_rack) options.clientRack = conn.client_rack;
  if (protocol === 'SSL' || protocol === 'SASL_SSL') {
    const t = sec.tls ?? {};
    const keyPassword =
      t.key_password ?? (t.key_password_file ? readSecretFile(t.key_password_file, 'key password') : undefined);
    const material = {
      ...(t.ca_file ? { ca: readPem(t.ca_file, 'ca_file', role) } : {}),
      ...(t.cert_file ? { cert: readPem(t.cert_file, 'cert_file', role) } : {}),
      ...(t.key_file ? { key: readPem(t.key_file, 'key_file', role) } : {}),
      ...(keyPassword ? { passphrase: keyPassword } : {}),
    };
    checkTlsMaterial(t, material, role);
    options.tls = {
      ...material,
      rejectUnauthorized: true,
      ...(t.verify_hostname === false ? { checkServerIdentity: () => undefined } : {}),
    };
  }
  if (protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL') {
    const s = sec.sasl;
    if (!s) throw new ConfigError(`${role}.security.sasl is required when protocol is ${protocol}`);
    const password = s.password ?? (s.password_file ? readSecretFile(s.password_file, 'password') : undefined);
    let token: string | (() => string) | undefined = s.token;
    if (!token && s.token_file) {
      const f = s.token_file;
      token = () => readSecretFile(f, 'token');
    } else if (!token && s.token_command) {
      const cmd = s.token_command;
      token = () => runTokenCommand(cmd, role);
    }
    options.sasl = {
      mechanism: s.mechanism,
      ...(s.username !== undefined ? { username: s.username } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(token !== undefined ? { token } : {}),
    };
  }
  return options;
}

/** Turns a client error into a KafkaError that names the cluster and says what to check. */
export function kafkaError(error: unknown, action: string, conn: KafkaConnectionOptions): KafkaError {
  if (error instanceof KafkaError) return error;
  const servers = conn.bootstrap_servers.join(',');
  const text = collectMessages(error).join('; ');
  const codes = collectCodes(error);
  return new KafkaError(`${action} failed on Kafka cluster ${servers}: ${text}`, {
    hint: errorHint(text, codes, conn),
    cause: error,
    canRetry: /timeout|ECONNREFUSED|ECONNRESET|NOT_LEADER|LEADER_NOT_AVAILABLE/i.test(text),
  });
}

const UNTRUSTED_CERT_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

/** Which ACL each Kafka API needs (what the broker checks when it answers *_AUTHORIZATION_FAILED). */
const API_ACLS: Record<string, string> = {
  Metadata: 'Describe on the topics',
  Fetch: 'Read on the topics',
  ListOffsets: 'Describe on the topics',
  DescribeConfigs: 'DescribeConfigs on the topics',
  Produce: 'Write on the topics',
  CreateTopics: 'Create on the topics (or on the cluster)',
  CreatePartitions: 'Alter on the topics',
  DeleteTopics: 'Delete on the topics',
  DeleteRecords: 'Delete on the topics',
  IncrementalAlterConfigs: 'AlterConfigs on the topics',
  AlterConfigs: 'AlterConfigs on the topics',
  InitProducerId: 'IdempotentWrite on the cluster',
  FindCoordinator: 'Describe on the consumer groups',
  OffsetFetch: 'Describe on the consumer groups and on their topics',
  OffsetCommit: 'Read on the consumer groups and Read on their topics',
  OffsetDelete: 'Delete on the consumer groups and Read on their topics',
  ListGroups: 'Describe on the consumer groups (or on the cluster)',
  DescribeGroups: 'Describe on the consumer groups',
  ConsumerGroupDescribe: 'Describe on the consumer groups',
  DeleteGroups: 'Delete on the consumer groups',
  DescribeCluster: 'Describe on the cluster',
  DescribeLogDirs: 'Describe on the cluster',
};

/** The principal the broker most likely sees for these settings, for hints. */
function principalOf(conn: KafkaConnectionOptions): string {
  const sec = conn.security ?? {};
  const protocol = sec.protocol ?? 'PLAINTEXT';
  if (protocol.startsWith('SASL_') && sec.sasl?.username) return `User:${sec.sasl.username}`;
  if (protocol === 'SSL' && sec.tls?.cert_file) {
    try {
      const [cert] = pemCertificates(readFileSync(sec.tls.cert_file), sec.tls.cert_file, 'cert_file', 'source');
      // Kafka's default principal is the subject in RFC 2253 order: most specific RDN first
      if (cert) return `User:${cert.subject.split('\n').reverse().join(',')}`;
    } catch {
      // best effort
    }
    return 'the principal of the client certificate';
  }
  if (protocol === 'SSL' || protocol === 'PLAINTEXT') return 'User:ANONYMOUS';
  return 'this principal';
}

function errorHint(text: string, codes: Set<string>, conn: KafkaConnectionOptions): string {
  const servers = conn.bootstrap_servers.join(',');
  const sec = conn.security ?? {};
  const protocol = sec.protocol ?? 'PLAINTEXT';
  const usesTls = protocol === 'SSL' || protocol === 'SASL_SSL';
  const sasl = sec.sasl;
  const tls = sec.tls ?? {};
  const has = (re: RegExp) => re.test(text);

  if (has(/does not support the requested SASL mechanism|suitable SASL mechanism|UNSUPPORTED_SASL_MECHANISM/i))
    return `the broker's listener does not enable SASL mechanism ${sasl?.mechanism ?? '?'}: use one of its sasl.enabled.mechanisms in security.sasl.mechanism, or the port of the listener that has it`;
  if (
    has(
      /SASL authentication failed|SaslAuthenticate|authentication failed|invalid credentials|SASL_AUTHENTICATION_FAILED|token provider threw|current SASL state|ILLEGAL_SASL_STATE/i,
    )
  ) {
    if (sasl?.mechanism === 'OAUTHBEARER' && has(/token provider threw|token_command|cannot read token/i))
      return 'the OAUTHBEARER token could not be obtained: run security.sasl.token_command by hand, or check that token_file is readable';
    if (sasl?.mechanism === 'OAUTHBEARER')
      return 'the broker rejected the OAUTHBEARER token: check security.sasl.token / token_file / token_command returns a valid, unexpired token';
    const from = sasl?.password_file
      ? `password_file ${sasl.password_file}`
      : 'password (inline, or from the environment variable the config names)';
    return `the broker rejected the credentials: check security.sasl.username ('${sasl?.username ?? ''}'), the ${from}, and that the user exists for ${sasl?.mechanism ?? 'this mechanism'} (SCRAM credentials are per mechanism)`;
  }
  if (
    [...codes].some((c) => UNTRUSTED_CERT_CODES.has(c)) ||
    has(/self.signed certificate|unable to verify the first certificate|unable to get (local )?issuer certificate/i)
  )
    return `the broker's certificate is not signed by a CA this client trusts: set security.tls.ca_file to the CA that signed it (now: ${tls.ca_file ?? 'the system CAs'})`;
  if (codes.has('ERR_TLS_CERT_ALTNAME_INVALID') || has(/Hostname\/IP does not match|altnames/i))
    return "the broker's certificate does not name the host connected to: use bootstrap servers (and advertised listeners) that appear in its subjectAltName, or set security.tls.verify_hostname: false (testing only)";
  if (
    codes.has('CERT_HAS_EXPIRED') ||
    codes.has('CERT_NOT_YET_VALID') ||
    has(/certificate has expired|certificate is not yet valid/i)
  )
    return "a certificate is outside its validity period: renew the broker's certificate or check this machine's clock";
  if (has(/Broker requires TLS/i))
    return `the broker speaks TLS on ${servers}: set security.protocol to SSL or SASL_SSL (with security.tls.ca_file), or use its ${protocol} port`;
  if (
    usesTls &&
    has(
      /TLS handshake failed|before secure TLS connection was established|wrong version number|packet length too long/i,
    )
  )
    return `the broker does not speak TLS on ${servers}: check that security.protocol (${protocol}) matches the broker's listener on that port`;
  if (usesTls && (codes.has('ECONNRESET') || has(/Connection closed|socket hang up|ECONNRESET|alert/i)))
    return tls.cert_file
      ? `the broker closed the TLS connection, most likely refusing the client certificate ${tls.cert_file}: it must be signed by a CA in the broker's ssl.truststore and not expired; also check that the port is the broker's ${protocol} listener`
      : `the broker closed the TLS connection: if the listener requires client certificates (ssl.client.auth=required), set security.tls.cert_file and key_file; also check that the port is the broker's ${protocol} listener`;
  const authz =
    /(Topic|Group|Cluster|Transactional ?Id) authorization failed|(TOPIC|GROUP|CLUSTER|TRANSACTIONAL_ID)_AUTHORIZATION_FAILED/i.exec(
      text,
    );
  if (authz || has(/authoriz|ACL|not allowed/i)) {
    const api = /executing API (\w+)/.exec(text)?.[1];
    const acl = api ? API_ACLS[api] : undefined;
    const what = acl ? `${acl} (for ${api})` : 'the ACLs listed in docs/security.md';
    return `the broker refused ${principalOf(conn)}: grant it ${what}; docs/security.md lists every ACL backup and restore need`;
  }
  if (!usesTls && protocol !== 'PLAINTEXT' && has(/Connection closed|ECONNRESET/i))
    return `the broker closed the connection: check that the port is the broker's ${protocol} listener and security.protocol matches it`;
  if (protocol === 'PLAINTEXT' && has(/Connection closed|ECONNRESET/i))
    return `the broker closed the connection: if its listener needs authentication or TLS, set security.protocol (SASL_PLAINTEXT, SASL_SSL or SSL) and its settings; otherwise check that the brokers at ${servers} are running`;
  return `check that the brokers at ${servers} are running and reachable from here`;
}

/**
 * True when the broker or the client marked the failure as retriable anywhere in its chain
 * (e.g. COORDINATOR_LOAD_IN_PROGRESS from a broker that has just started).
 */
export function isRetriableKafkaError(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 4) return false;
  if ((error as { canRetry?: unknown }).canRetry === true) return true;
  const nested = (error as { errors?: unknown }).errors;
  if (Array.isArray(nested) && nested.some((e) => isRetriableKafkaError(e, depth + 1))) return true;
  return isRetriableKafkaError(error.cause, depth + 1);
}

function collectCodes(error: unknown, depth = 0, out = new Set<string>()): Set<string> {
  if (!(error instanceof Error) || depth > 4) return out;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') out.add(code);
  if (error instanceof AggregateError) for (const e of error.errors) collectCodes(e, depth + 1, out);
  else if (error.cause) collectCodes(error.cause, depth + 1, out);
  return out;
}

function collectMessages(error: unknown, depth = 0): string[] {
  if (!(error instanceof Error) || depth > 4) return [String(error)];
  const out = [error.message];
  if (error instanceof AggregateError) for (const e of error.errors) out.push(...collectMessages(e, depth + 1));
  else if (error.cause) out.push(...collectMessages(error.cause, depth + 1));
  return [...new Set(out)].filter(Boolean);
}

export function createAdmin(conn: KafkaConnectionOptions, role: 'source' | 'target'): Admin {
  return new Admin(clientOptions(conn, role));
}

/** Connections to the given brokers, through the admin's pool (same SASL/TLS settings). */
export async function brokerConnections(admin: Admin, nodeIds: number[]): Promise<Map<number, Connection>> {
  return admin.connectToBrokers(nodeIds);
}
