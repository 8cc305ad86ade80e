/**
 * How a config section becomes resource fields and back, in one place, both directions walking the
 * CLI's zod schema:
 * - keys become camelCase;
 * - a secret value (password, token, secret_access_key, ... as src/config/secrets.ts knows them)
 *   becomes `<name>Secret: {name, key}`, a reference to a Kubernetes Secret. Rendering turns it into
 *   `${KB_SECRET_n}` in the config and an env var filled by the kubelet from the Secret (valueFrom),
 *   so the value is in neither the rendered config, nor the Job, nor the resource's status;
 * - a key that can only be a file (ca_file, cert_file, key_file, credentials_file) becomes
 *   `<name>Secret` too, mounted from the Secret as a file whose path goes into the config;
 * - the `_file` and `_command` variants of value secrets are left out (the Secret covers them), and
 *   so is an `_env` key beside a `_file` one (the name of a variable holding the secret: the
 *   Secret reference is how a resource gives it).
 */
import type { z } from 'zod';
import { unwrapSchema } from '../config/schema.ts';
import { isSecretKey } from '../config/secrets.ts';
import { camel } from './naming.ts';
import { isOptional, type OpenApi, toOpenApi } from './openapi.ts';

type AnySchema = z.core.$ZodType;
interface Def {
  type: string;
  shape?: Record<string, AnySchema>;
  valueType?: AnySchema;
  element?: AnySchema;
}
const defOf = (s: AnySchema): Def => unwrapSchema(s)._zod.def as unknown as Def;

export interface SecretKeyRef {
  name: string;
  key: string;
}

type FieldKind =
  | { kind: 'plain'; specKey: string }
  | { kind: 'secret-env'; specKey: string }
  | { kind: 'secret-file'; specKey: string }
  | { kind: 'omit' };

/** Not secret by the redactor's rule, but a credential all the same: take it from a Secret too. */
const ALSO_SECRET = new Set(['access_key_id']);

export function classifyKey(key: string, siblings: readonly string[]): FieldKind {
  if (key.endsWith('_command')) return { kind: 'omit' };
  if (key.endsWith('_env') && siblings.includes(`${key.slice(0, -'_env'.length)}_file`)) return { kind: 'omit' };
  if (key.endsWith('_file')) {
    const base = key.slice(0, -'_file'.length);
    if (siblings.includes(base)) return { kind: 'omit' };
    return { kind: 'secret-file', specKey: `${camel(base)}Secret` };
  }
  if (isSecretKey(key) || ALSO_SECRET.has(key)) return { kind: 'secret-env', specKey: `${camel(key)}Secret` };
  return { kind: 'plain', specKey: camel(key) };
}

export const SECRET_KEY_REF: OpenApi = {
  type: 'object',
  description: 'a key of a Secret in the resource namespace',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' },
    key: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[-._a-zA-Z0-9]+$' },
  },
  required: ['name', 'key'],
};

export interface FieldOptions {
  /** snake_case keys of this object to leave out (they are fields of their own elsewhere). */
  omit?: readonly string[];
  /** Keep the CLI's required keys required. */
  required?: boolean;
}

/** The OpenAPI schema of a config section with secrets as Secret references. */
export function sectionSchema(schema: AnySchema, options: FieldOptions = {}): OpenApi {
  const def = defOf(schema);
  if (def.type === 'array') return { type: 'array', items: sectionSchema(def.element!) };
  if (def.type !== 'object') return toOpenApi(schema);
  const keys = Object.keys(def.shape!);
  const properties: Record<string, OpenApi> = {};
  const required: string[] = [];
  for (const key of keys) {
    if (options.omit?.includes(key)) continue;
    const child = def.shape![key]!;
    const field = classifyKey(key, keys);
    if (field.kind === 'omit') continue;
    if (field.kind === 'plain') {
      properties[field.specKey] = sectionSchema(child);
      if (options.required !== false && !isOptional(child)) required.push(field.specKey);
    } else properties[field.specKey] = SECRET_KEY_REF;
  }
  return { type: 'object', properties, ...(required.length ? { required } : {}) };
}

/** Collects the env vars and Secret files a rendered config refers to. */
export class SecretMounts {
  readonly env: { name: string; valueFrom: { secretKeyRef: SecretKeyRef } }[] = [];
  readonly files = new Map<string, Set<string>>();
  static readonly ROOT = '/var/run/kafka-backup/secrets';

  /** `${KB_SECRET_n}` for the config; the same Secret key twice gets one variable. */
  envRef(ref: SecretKeyRef): string {
    let entry = this.env.find(
      (e) => e.valueFrom.secretKeyRef.name === ref.name && e.valueFrom.secretKeyRef.key === ref.key,
    );
    if (!entry) {
      entry = {
        name: `KB_SECRET_${this.env.length + 1}`,
        valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } },
      };
      this.env.push(entry);
    }
    return `\${${entry.name}}`;
  }

  /** The path the Secret key is mounted at. */
  fileRef(ref: SecretKeyRef): string {
    const keys = this.files.get(ref.name) ?? new Set<string>();
    keys.add(ref.key);
    this.files.set(ref.name, keys);
    return `${SecretMounts.ROOT}/${ref.name}/${ref.key}`;
  }

  /** Every Secret the config needs, with its keys (to check they exist before a run). */
  secretsNeeded(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const e of this.env) {
      const { name, key } = e.valueFrom.secretKeyRef;
      out.set(name, (out.get(name) ?? new Set()).add(key));
    }
    for (const [name, keys] of this.files) for (const key of keys) out.set(name, (out.get(name) ?? new Set()).add(key));
    return out;
  }

  volumes(): { volumes: unknown[]; mounts: unknown[] } {
    const volumes: unknown[] = [];
    const mounts: unknown[] = [];
    let i = 0;
    for (const [secretName, keys] of [...this.files].sort(([a], [b]) => a.localeCompare(b))) {
      const name = `secret-${++i}`;
      volumes.push({
        name,
        secret: { secretName, items: [...keys].sort().map((key) => ({ key, path: key })), defaultMode: 0o400 },
      });
      mounts.push({ name, mountPath: `${SecretMounts.ROOT}/${secretName}`, readOnly: true });
    }
    return { volumes, mounts };
  }
}

/**
 * The config section (snake_case) of a spec value, walking the zod schema: objects map field names
 * back, records and lists keep their keys, Secret references become env or file references.
 */
export function renderSection(value: unknown, schema: AnySchema, secrets: SecretMounts): unknown {
  if (value === undefined || value === null) return value;
  const def = defOf(schema);
  if (def.type === 'array' && Array.isArray(value)) return value.map((v) => renderSection(v, def.element!, secrets));
  if (def.type === 'record' && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, renderSection(v, def.valueType!, secrets)]),
    );
  if (def.type !== 'object' || typeof value !== 'object' || Array.isArray(value)) return value;
  const spec = value as Record<string, unknown>;
  const keys = Object.keys(def.shape!);
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const field = classifyKey(key, keys);
    if (field.kind === 'omit' || spec[field.specKey] === undefined) continue;
    const v = spec[field.specKey];
    if (field.kind === 'plain') out[key] = renderSection(v, def.shape![key]!, secrets);
    else if (field.kind === 'secret-env') out[key] = secrets.envRef(v as SecretKeyRef);
    else out[key] = secrets.fileRef(v as SecretKeyRef);
  }
  return out;
}

/** The spec path (camelCase) of a config key path, for messages that point at the resource. */
export function specPathOf(configPath: readonly (string | number)[]): string {
  return configPath
    .map((p) => (typeof p === 'number' ? `[${p}]` : camel(p)))
    .join('.')
    .replace(/\.\[/g, '[');
}
