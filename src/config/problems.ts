/**
 * Turns zod issues into one readable line each:
 *   `<key.path>: expected <what>, found <what> (got "value")`
 * with "did you mean" for unknown keys and enum values, and never a secret's value.
 */
import type { z } from 'zod';
import { ConfigSchema, keysAt, leafKind, schemaKeyPaths } from './schema.ts';
import { isSecretPath, sanitizeUrl } from './secrets.ts';
import { normaliseKey, suggest } from './suggest.ts';

type Issue = z.core.$ZodIssue;

/** `['source', 'bootstrap_servers', 0]` → `source.bootstrap_servers[0]`; odd keys are quoted: `topic_mapping["a b"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(String(key))) out += out ? `.${String(key)}` : String(key);
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out || '(top level)';
}

/** The value at `path` inside `root`, or undefined. */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key as string];
  }
  return v;
}

/** "a string", "an integer", "a list", ... for a value found in the file. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : 'a list';
  switch (typeof v) {
    case 'string':
      return v.length === 0 ? 'an empty string' : 'a string';
    case 'number':
      return Number.isInteger(v) ? 'an integer' : 'a number';
    case 'boolean':
      return 'a boolean';
    case 'object':
      return 'a mapping';
    default:
      return typeof v;
  }
}

/** ` (got "value")` for a scalar under a non-secret key, else nothing. */
function got(value: unknown, path: readonly PropertyKey[]): string {
  if (isSecretPath(path)) return '';
  const v = value;
  if (typeof v === 'string') {
    if (v.length === 0) return '';
    const text = /url$/i.test(String(path[path.length - 1] ?? '')) ? sanitizeUrl(v) : v;
    const shown = text.length > 60 ? `${text.slice(0, 57)}...` : text;
    return ` (got ${JSON.stringify(shown)})`;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return ` (got ${String(v)})`;
  return '';
}

function found(v: unknown, path: readonly PropertyKey[]): string {
  const what = describeValue(v);
  return `found ${what}${v === undefined ? ' (this key is required)' : got(v, path)}`;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  undefined: 'nothing',
};

function expectedType(issue: Extract<Issue, { code: 'invalid_type' }>): string {
  if (issue.expected === 'number' && leafKind(issue.path) === 'integer') return 'an integer';
  return TYPE_NAMES[issue.expected] ?? String(issue.expected);
}

function bound(
  issue: Extract<Issue, { code: 'too_small' | 'too_big' }>,
  limit: number | bigint,
  small: boolean,
): string {
  const op = small ? (issue.inclusive === false ? '>' : '>=') : issue.inclusive === false ? '<' : '<=';
  switch (issue.origin) {
    case 'string':
      if (small && Number(limit) === 1) return 'a non-empty string';
      return `a string of ${small ? 'at least' : 'at most'} ${limit} characters`;
    case 'array':
    case 'set':
      if (small && Number(limit) === 1) return 'a non-empty list';
      return `a list of ${small ? 'at least' : 'at most'} ${limit} items`;
    default: {
      const kind = leafKind(issue.path) === 'integer' || issue.origin === 'int' ? 'an integer' : 'a number';
      return `${kind} ${op} ${limit}`;
    }
  }
}

/** Where an unknown key probably belongs: a near miss at its level, or the same name elsewhere in the schema. */
export function unknownKeyHint(parent: readonly PropertyKey[], key: string): string {
  const here = keysAt(parent) ?? [];
  const near = suggest(key, here);
  if (near) return `did you mean '${near}'?`;
  const want = normaliseKey(key);
  const elsewhere = schemaKeyPaths(ConfigSchema).filter((p) => {
    const parts = p.split('.');
    return parts.includes(want) && p.split('.').slice(0, -1).join('.') !== parent.join('.');
  });
  const sections = [...new Set(elsewhere.map((p) => p.slice(0, p.indexOf(want) + want.length)))];
  if (sections.length > 0 && sections.length <= 3) return `did you mean '${sections.join("' or '")}'?`;
  return here.length ? `valid keys here: ${here.join(', ')}` : '';
}

/** One problem line per issue, in schema order; only the first issue of a key is kept. */
export function formatIssues(issues: readonly Issue[], input: unknown): string[] {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const issue of issues) {
    const path = issue.path;
    const p = formatPath(path);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const hint = unknownKeyHint(path, key);
        lines.push(`${formatPath([...path, key])}: unknown key${hint ? `; ${hint}` : ''}`);
      }
      continue;
    }
    if (seen.has(p)) continue;
    seen.add(p);
    const atPath = valueAt(input, path);
    const value = atPath === undefined && issue.input !== undefined ? issue.input : atPath;
    switch (issue.code) {
      case 'invalid_type':
        lines.push(`${p}: expected ${expectedType(issue)}, ${found(value, path)}`);
        break;
      case 'invalid_value': {
        const options = issue.values.map(String);
        const near = typeof value === 'string' ? suggest(value, options) : undefined;
        const expected = options.length === 1 ? options[0] : `one of ${options.join(', ')}`;
        lines.push(
          `${p}: expected ${expected}, ${found(value, path)}${near && !isSecretPath(path) ? `; did you mean '${near}'?` : ''}`,
        );
        break;
      }
      case 'too_small':
        lines.push(`${p}: expected ${bound(issue, issue.minimum, true)}, ${found(value, path)}`);
        break;
      case 'too_big':
        lines.push(`${p}: expected ${bound(issue, issue.maximum, false)}, ${found(value, path)}`);
        break;
      case 'invalid_format':
      case 'invalid_union':
        lines.push(`${p}: expected ${issue.message.replace(/^expected /, '')}, ${found(value, path)}`);
        break;
      case 'invalid_key': {
        const inner = issue.issues[0];
        const what = inner ? inner.message.replace(/^expected /, '') : 'a valid key';
        const key = path[path.length - 1];
        lines.push(`${p}: expected ${what} as the key, found ${JSON.stringify(String(key))}`);
        break;
      }
      case 'custom': {
        const expected = (issue.params as { expected?: unknown } | undefined)?.expected;
        if (typeof expected === 'string') lines.push(`${p}: expected ${expected}, ${found(value, path)}`);
        else lines.push(`${p}: ${issue.message}`);
        break;
      }
      default:
        lines.push(`${p}: ${issue.message}`);
    }
  }
  return lines;
}
