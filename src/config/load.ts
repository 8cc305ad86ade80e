/**
 * Reading a config file: YAML → environment substitution → schema → memory budget.
 * Every failure is a ConfigError (exit 2) that lists every problem at once, each with its key
 * path, and never carries a secret's value.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument, type YAMLError } from 'yaml';
import { ConfigError } from '../errors.ts';
import { type Env, type KeyPath, substituteEnv } from './env.ts';
import { checkMemoryBudget } from './memory.ts';
import { describeValue, formatIssues } from './problems.ts';
import { type Config, ConfigSchema, leafKind } from './schema.ts';

export type { Config } from './schema.ts';

export interface LoadOptions {
  /** Variables for ${VAR} substitution; defaults to process.env. */
  env?: Env;
}

const DOCS_HINT = 'see docs/configuration.md for every key, its type and default';

/** Reads, substitutes, validates and budget-checks a config file. */
export function loadConfig(path: string, options: LoadOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw readError(path, error);
  }
  return parseConfig(text, path, options.env ?? process.env);
}

function readError(path: string, error: unknown): ConfigError {
  const code = (error as NodeJS.ErrnoException).code;
  const where = resolve(path);
  switch (code) {
    case 'ENOENT':
      return new ConfigError(`config file ${path} not found`, [], {
        hint: `check the path given to -c/--config (looked for ${where}); relative paths start at the current directory`,
        code: 'CONFIG_NOT_FOUND',
        cause: error,
      });
    case 'EACCES':
    case 'EPERM':
      return new ConfigError(`config file ${path} cannot be read: permission denied`, [], {
        hint: `give the user running kafka-backup read access to ${where}`,
        code: 'CONFIG_UNREADABLE',
        cause: error,
      });
    case 'EISDIR':
      return new ConfigError(`config file ${path} is a directory`, [], {
        hint: 'pass the path of a YAML file, e.g. -c config/kafka-backup.yaml',
        code: 'CONFIG_UNREADABLE',
        cause: error,
      });
    default:
      return new ConfigError(`config file ${path} cannot be read (${code ?? (error as Error).message})`, [], {
        hint: `check that ${where} is a readable file`,
        code: 'CONFIG_UNREADABLE',
        cause: error,
      });
  }
}

/** `line 3, column 7: <what the parser says>`, without the source excerpt (it may hold a secret). */
function yamlProblem(error: YAMLError): string {
  const first = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?\s*$/, '').trim();
  const pos = error.linePos?.[0];
  return pos ? `line ${pos.line}, column ${pos.col}: ${first}` : first;
}

/** The first few parse errors; later ones are usually echoes of the first. */
function yamlProblems(errors: readonly YAMLError[]): string[] {
  const shown = errors.slice(0, 3).map(yamlProblem);
  if (errors.length > 3) shown.push(`... and ${errors.length - 3} more, usually caused by the first`);
  return shown;
}

function setAt(root: unknown, path: KeyPath, value: unknown): void {
  let v = root as Record<PropertyKey, unknown>;
  for (const key of path.slice(0, -1)) v = v[key] as Record<PropertyKey, unknown>;
  v[path[path.length - 1]!] = value;
}

/**
 * A substituted value is text; when the schema wants a number or boolean there and the text is
 * one (`batch_size: ${BATCH_SIZE}`), it becomes that number or boolean.
 */
function coerceSubstituted(root: unknown, paths: KeyPath[]): void {
  for (const path of paths) {
    if (path.length === 0) continue;
    let v: unknown = root;
    for (const key of path) v = (v as Record<PropertyKey, unknown>)[key];
    if (typeof v !== 'string') continue;
    const kind = leafKind(path);
    const text = v.trim();
    if ((kind === 'integer' || kind === 'number') && /^-?\d+(\.\d+)?$/.test(text)) setAt(root, path, Number(text));
    else if (kind === 'boolean' && /^(true|false)$/i.test(text)) setAt(root, path, text.toLowerCase() === 'true');
  }
}

const isUnder = (path: readonly PropertyKey[], prefix: readonly PropertyKey[]) =>
  prefix.length <= path.length && prefix.every((k, i) => String(k) === String(path[i]));

/** Parses config text; `sourceName` names it in messages (usually the file path). */
export function parseConfig(text: string, sourceName = 'config', env: Env = process.env): Config {
  const doc = parseDocument(text, { merge: true, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0)
    throw new ConfigError(`config file ${sourceName} is not valid YAML`, yamlProblems(doc.errors), {
      hint: 'fix the YAML at the line and column shown; quote values that contain ": ", " #" or start with a special character',
      code: 'CONFIG_YAML',
    });
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (error) {
    throw new ConfigError(`config file ${sourceName} is not valid YAML`, [(error as Error).message.split('\n')[0]!], {
      hint: 'fix the YAML aliases (*name) and anchors (&name)',
      code: 'CONFIG_YAML',
    });
  }
  if (raw === null || raw === undefined)
    throw new ConfigError(`config file ${sourceName} is empty`, [], {
      hint: `write at least backup_id, source and storage; ${DOCS_HINT}`,
      code: 'CONFIG_EMPTY',
    });
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(
      `config file ${sourceName} must be a mapping of keys to values at the top level, found ${describeValue(raw)}`,
      [],
      {
        hint: `start the file with keys such as "backup_id: orders" and "source:"; ${DOCS_HINT}`,
        code: 'CONFIG_SHAPE',
      },
    );

  const substituted = substituteEnv(raw, env);
  coerceSubstituted(substituted.value, substituted.substitutedPaths);
  const parsed = ConfigSchema.safeParse(substituted.value, { reportInput: true });
  const issues = parsed.success
    ? []
    : parsed.error.issues.filter((issue) => !substituted.failedPaths.some((p) => isUnder(issue.path, p)));
  const problems = [...substituted.problems, ...formatIssues(issues, substituted.value)];
  if (problems.length > 0 || !parsed.success) {
    const envOnly = substituted.problems.length === problems.length;
    throw new ConfigError(
      `config file ${sourceName} has ${problems.length} problem${problems.length === 1 ? '' : 's'}`,
      problems,
      {
        hint: envOnly
          ? 'export the variables named above, or give each a default with $' + '{VAR:-default}'
          : DOCS_HINT,
        code: envOnly ? 'CONFIG_ENV' : 'CONFIG_INVALID',
      },
    );
  }
  checkMemoryBudget(parsed.data);
  return parsed.data;
}

// ---------------------------------------------------------------------------------------------

type OptionalKey = { [K in keyof Config]-?: undefined extends Config[K] ? K : never }[keyof Config];

/** Config with the given optional sections known to be present. */
export type ConfigWith<K extends keyof Config> = Config & { [P in K]-?: NonNullable<Config[P]> };

const SECTION_HELP: Partial<Record<keyof Config, { why: string; example: string }>> = {
  backup_id: { why: 'the name of the backup line', example: 'backup_id: orders-prod' },
  source: { why: 'the Kafka cluster to back up', example: 'source:\n  bootstrap_servers: ["kafka-1:9092"]' },
  target: { why: 'the Kafka cluster to restore into', example: 'target:\n  bootstrap_servers: ["kafka-dr-1:9092"]' },
  storage: { why: 'where backups are kept', example: 'storage:\n  url: s3://my-bucket/kafka-backups' },
};

/**
 * Checks that a command's sections are in the config and returns it typed with them present.
 * `requireSections(config, ['source', 'storage', 'backup_id'], 'backup')`
 */
export function requireSections<K extends OptionalKey>(
  config: Config,
  keys: readonly K[],
  command: string,
): ConfigWith<K> {
  const missing = keys.filter((k) => config[k] === undefined);
  if (missing.length === 0) return config as ConfigWith<K>;
  const problems = missing.map((k) => {
    const help = SECTION_HELP[k];
    return `${k}: missing${help ? ` (${help.why})` : ''}`;
  });
  const examples = missing.map((k) => SECTION_HELP[k]?.example ?? `${k}: ...`).join('\n');
  throw new ConfigError(`the ${command} command needs ${missing.join(', ')} in the config file`, problems, {
    hint: `add to the config file, for example:\n${examples.replace(/^/gm, '    ')}`,
    code: 'CONFIG_MISSING_SECTION',
  });
}
