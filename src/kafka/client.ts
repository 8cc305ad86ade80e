/**
 * Kafka client setup: turns the `source` / `target` config section into client options
 * (SASL, TLS, mTLS), creates the Admin client, and classifies client errors into KafkaError
 * with a message that says what to do. Secrets are read here (inline, from files or commands)
 * and never echoed.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, [], {
      hint: `check security.tls.${what} points to a readable PEM file`,
    });
  }
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
    options.tls = {
      ...(t.ca_file ? { ca: readPem(t.ca_file, 'ca_file') } : {}),
      ...(t.cert_file ? { cert: readPem(t.cert_file, 'cert_file') } : {}),
      ...(t.key_file ? { key: readPem(t.key_file, 'key_file') } : {}),
      ...(keyPassword ? { passphrase: keyPassword } : {}),
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
      token = () => execFileSync('/bin/sh', ['-c', cmd], { encoding: 'utf8' }).trim();
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
  const msgs = collectMessages(error);
  const text = msgs.join('; ');
  let hint = `check that the brokers at ${servers} are running and reachable from here`;
  if (/SASL|authenticat|SCRAM|password/i.test(text)) hint = 'check the SASL mechanism, username and password';
  else if (/certificate|self.signed|TLS|SSL|handshake/i.test(text)) hint = 'check security.tls (CA file, hostname)';
  else if (/authoriz|ACL|not allowed/i.test(text)) hint = 'grant this principal the ACLs listed in docs/security.md';
  return new KafkaError(`${action} failed on Kafka cluster ${servers}: ${text}`, {
    hint,
    cause: error,
    canRetry: /timeout|ECONNREFUSED|ECONNRESET|NOT_LEADER|LEADER_NOT_AVAILABLE/i.test(text),
  });
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
