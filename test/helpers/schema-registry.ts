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
 *
 * All are shared by every test file that runs at once: a test that resets one (resetRegistry)
 * must hold lockRegistries() for as long as it relies on its content.
 */
import { join } from 'node:path';
import { lockTestResource, REPO_ROOT, run } from './kafka.ts';

export const SR_SOURCE_URL = process.env['KB_SR_SOURCE_URL'] ?? 'http://127.0.0.1:18081';
export const SR_TARGET_URL = process.env['KB_SR_TARGET_URL'] ?? 'http://127.0.0.1:18082';
export const SR_IMPORT_URL = process.env['KB_SR_IMPORT_URL'] ?? 'http://127.0.0.1:18083';

const SR_CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

/**
 * Starts both registries unless they answer already (services.sh builds the binary on first use,
 * from the Go module proxy, then caches it). Returns their URLs.
 */
export async function ensureSchemaRegistries(): Promise<{ source: string; target: string }> {
  if (!((await answers(SR_SOURCE_URL)) && (await answers(SR_TARGET_URL)))) await services('start', 'schema-registry');
  return { source: SR_SOURCE_URL, target: SR_TARGET_URL };
}

/**
 * Starts the IMPORT-capable registry unless it answers already (the first start builds it from
 * the Go module proxy: about a minute of CPU, minutes at high load, then cached). Returns its URL.
 */
export async function ensureImportRegistry(): Promise<string> {
  if (!(await answers(SR_IMPORT_URL))) await services('start', 'schema-registry-import');
  return SR_IMPORT_URL;
}

function services(action: 'start' | 'stop', name: string): Promise<unknown> {
  return run('bash', [join(REPO_ROOT, 'scripts/services.sh'), action, name], { timeoutMs: 600_000 });
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/mode`, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.ok;
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
    await services('stop', 'schema-registry-import');
    await services('start', 'schema-registry-import');
    return;
  }
  const res = await fetch(`${url}/_kb/reset`, { method: 'POST' });
  if (!res.ok) throw new Error(`reset of the registry at ${url} failed: HTTP ${res.status} ${await res.text()}`);
}

/** One call to a registry's REST API; rejects with the registry's error body on a non-2xx answer. */
export async function registryRequest<T = unknown>(
  url: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': SR_CONTENT_TYPE, accept: SR_CONTENT_TYPE },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}${path}: HTTP ${res.status} ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/**
 * The registries are one pair per machine and test files run in parallel processes: a file that
 * resets them, or needs their ids to start at 1, holds this lock until the returned function is
 * called. Waits up to 15 minutes.
 */
export function lockRegistries(): Promise<() => Promise<void>> {
  return lockTestResource('schema-registry.test-lock', 'the schema registries');
}
