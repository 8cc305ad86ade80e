/**
 * The test Schema Registries. `scripts/services.sh start schema-registry`: franz-go's srfake, an
 * in-memory implementation of the Confluent REST API, once as the source and once as the target
 * of a restore. `scripts/services.sh start schema-registry-import`: AxonOps Schema Registry, a
 * Confluent-compatible registry that implements IMPORT mode (registration with explicit ids and
 * versions), which srfake refuses: the target for preserve_ids.
 *
 *   KB_SR_SOURCE_URL  default http://127.0.0.1:18081
 *   KB_SR_TARGET_URL  default http://127.0.0.1:18082
 *   KB_SR_IMPORT_URL  default http://127.0.0.1:18083
 *   KB_SR_TLS_URL     default https://127.0.0.1:18084   srfake over TLS (part of schema-registry)
 *   KB_SR_MTLS_URL    default https://127.0.0.1:18085   srfake over TLS, client certificate required
 *
 * The TLS registries' certificates (srTlsFiles) are written by scripts/services/certs.sh into the
 * services' state folder; registryRequest trusts their CA and presents the client certificate.
 *
 * All are shared by every test file that runs at once: a test that resets one (resetRegistry)
 * must hold lockRegistries() for as long as it relies on its content.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join, resolve } from 'node:path';
import { lockTestResource, REPO_ROOT, run } from './kafka.ts';

export const SR_SOURCE_URL = process.env['KB_SR_SOURCE_URL'] ?? 'http://127.0.0.1:18081';
export const SR_TARGET_URL = process.env['KB_SR_TARGET_URL'] ?? 'http://127.0.0.1:18082';
export const SR_IMPORT_URL = process.env['KB_SR_IMPORT_URL'] ?? 'http://127.0.0.1:18083';
export const SR_TLS_URL = process.env['KB_SR_TLS_URL'] ?? 'https://127.0.0.1:18084';
export const SR_MTLS_URL = process.env['KB_SR_MTLS_URL'] ?? 'https://127.0.0.1:18085';

/** The TLS registries' certificate files (scripts/services/schema.sh, certs.sh). */
export function srTlsFiles() {
  const dir = resolve(process.env['KB_STATE_DIR'] ?? resolve(REPO_ROOT, '.services'), 'schema-registry/certs');
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    otherCa: join(dir, 'other-ca.pem'),
    cert: join(dir, 'client.pem'),
    key: join(dir, 'client.key'),
    encryptedKey: join(dir, 'client-encrypted.key'),
    keyPassword: join(dir, 'client-key.pass'),
    otherCert: join(dir, 'other-client.pem'),
    otherKey: join(dir, 'other-client.key'),
  };
}

const SR_CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

/**
 * Starts both registries unless they answer already (services.sh builds the binary on first use,
 * from the Go module proxy, then caches it). Returns their URLs.
 */
export async function ensureSchemaRegistries(): Promise<{
  source: string;
  target: string;
  tlsSource: string;
  mtlsTarget: string;
}> {
  const urls = [SR_SOURCE_URL, SR_TARGET_URL, SR_TLS_URL, SR_MTLS_URL];
  await whileStarting(async () => {
    if (!(await Promise.all(urls.map(answers))).every(Boolean)) await services('start', 'schema-registry');
  });
  return { source: SR_SOURCE_URL, target: SR_TARGET_URL, tlsSource: SR_TLS_URL, mtlsTarget: SR_MTLS_URL };
}

/**
 * Starts the IMPORT-capable registry unless it answers already (the first start builds it from
 * the Go module proxy: about a minute of CPU, minutes at high load, then cached). Returns its URL.
 */
export async function ensureImportRegistry(): Promise<string> {
  await whileStarting(async () => {
    if (!(await answers(SR_IMPORT_URL))) await services('start', 'schema-registry-import');
  });
  return SR_IMPORT_URL;
}

/**
 * Runs a check-then-start or a restart of the registries with no other test process doing the
 * same: without it, one file's restart of the IMPORT-capable registry (resetRegistry) and
 * another's start of it (ensureImportRegistry) interleave, and one of them waits for a process
 * the other has stopped (a CI failure of testbed.test.ts). A lock of its own, short-lived, so it
 * can be taken with or without lockRegistries() held.
 */
async function whileStarting(fn: () => Promise<void>): Promise<void> {
  const release = await lockTestResource('schema-registry-start.test-lock', 'starting the schema registries');
  try {
    await fn();
  } finally {
    await release();
  }
}

function services(action: 'start' | 'stop', name: string): Promise<unknown> {
  return run('bash', [join(REPO_ROOT, 'scripts/services.sh'), action, name], { timeoutMs: 600_000 });
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await send(url, 'GET', '/mode', undefined, 2000)).status === 200;
  } catch {
    return false;
  }
}

/**
 * Empties a registry completely: subjects, schemas, configs, modes, and the id counter (the next
 * registered schema gets id 1 again). On srfake a test-only route of our server (POST
 * /_kb/reset), since hard deletes in the Confluent API never give ids back; the IMPORT-capable
 * registry (SR_IMPORT_URL) is restarted instead (its storage is in memory).
 */
export async function resetRegistry(url: string): Promise<void> {
  if (url === SR_IMPORT_URL) {
    await whileStarting(async () => {
      await services('stop', 'schema-registry-import');
      await services('start', 'schema-registry-import');
    });
    return;
  }
  const res = await send(url, 'POST', '/_kb/reset');
  if (res.status !== 200) throw new Error(`reset of the registry at ${url} failed: HTTP ${res.status} ${res.text}`);
}

/** One call to a registry's REST API; rejects with the registry's error body on a non-2xx answer. */
export async function registryRequest<T = unknown>(
  url: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  const { status, text } = await send(url, method, path, body);
  if (status < 200 || status >= 300) throw new Error(`${method} ${url}${path}: HTTP ${status} ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** fetch for http; node:https for https, trusting the test CA and presenting the client certificate. */
async function send(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 30_000,
): Promise<{ status: number; text: string }> {
  const headers = { 'content-type': SR_CONTENT_TYPE, accept: SR_CONTENT_TYPE };
  const payload = body === undefined ? undefined : JSON.stringify(body);
  if (!url.startsWith('https:')) {
    const res = await fetch(`${url}${path}`, {
      method,
      headers,
      signal: AbortSignal.timeout(timeoutMs),
      ...(payload === undefined ? {} : { body: payload }),
    });
    return { status: res.status, text: await res.text() };
  }
  const f = srTlsFiles();
  return new Promise((done, fail) => {
    const req = https.request(
      `${url}${path}`,
      {
        method,
        headers,
        timeout: timeoutMs,
        ca: readFileSync(f.ca),
        cert: readFileSync(f.cert),
        key: readFileSync(f.key),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', fail);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', fail);
    req.end(payload);
  });
}

/**
 * The registries are one pair per machine and test files run in parallel processes: a file that
 * resets them, or needs their ids to start at 1, holds this lock until the returned function is
 * called. Waits up to 15 minutes.
 */
export function lockRegistries(): Promise<() => Promise<void>> {
  return lockTestResource('schema-registry.test-lock', 'the schema registries');
}
