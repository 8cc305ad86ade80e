/**
 * Environment variable substitution in the string values of a parsed config (never in keys):
 *   ${VAR}            the variable's value; an error when it is not set
 *   ${VAR:-default}   the value, or `default` when the variable is unset or empty
 *   $${               a literal `${`
 * Every problem is collected, so one run names every missing variable.
 */
import { formatPath } from './problems.ts';
import { isSecretPath } from './secrets.ts';

export type Env = Record<string, string | undefined>;
export type KeyPath = (string | number)[];

export interface SubstitutionResult {
  /** The config with substitutions applied (values with problems are left as written). */
  value: unknown;
  /** One line per problem, each naming the key path and the variable. */
  problems: string[];
  /** Paths of values that could not be substituted; schema errors under them are noise. */
  failedPaths: KeyPath[];
  /** Paths of values that were changed by substitution (candidates for number/boolean coercion). */
  substitutedPaths: KeyPath[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface StringResult {
  value: string;
  changed: boolean;
  /** Variables referenced without a default and not set. */
  missing: string[];
  /** Text of a malformed `${...}`. */
  malformed: string[];
}

/** Substitutes one string. */
export function substituteString(text: string, env: Env): StringResult {
  const result: StringResult = { value: '', changed: false, missing: [], malformed: [] };
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    if (text.startsWith('$${', dollar)) {
      out += '${';
      result.changed = true;
      i = dollar + 3;
      continue;
    }
    if (!text.startsWith('${', dollar)) {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    if (close < 0) {
      result.malformed.push(text.slice(dollar));
      out += text.slice(dollar);
      break;
    }
    const body = text.slice(dollar + 2, close);
    const sep = body.indexOf(':-');
    const name = sep < 0 ? body : body.slice(0, sep);
    const fallback = sep < 0 ? undefined : body.slice(sep + 2);
    result.changed = true;
    i = close + 1;
    if (!NAME.test(name)) {
      result.malformed.push(text.slice(dollar, close + 1));
      continue;
    }
    const value = env[name];
    if (fallback !== undefined) out += value === undefined || value === '' ? fallback : value;
    else if (value === undefined) result.missing.push(name);
    else out += value;
  }
  result.value = out;
  return result;
}

/** Substitutes every string value below `root`, collecting every problem with its key path. */
export function substituteEnv(root: unknown, env: Env): SubstitutionResult {
  const result: SubstitutionResult = { value: undefined, problems: [], failedPaths: [], substitutedPaths: [] };
  const walk = (v: unknown, path: KeyPath): unknown => {
    if (typeof v === 'string') {
      if (!v.includes('$')) return v;
      const r = substituteString(v, env);
      const where = formatPath(path);
      for (const name of r.missing)
        result.problems.push(`${where} uses \${${name}}, which is not set; export it or write \${${name}:-default}`);
      for (const bad of r.malformed)
        result.problems.push(
          `${where} has a malformed substitution${isSecretPath(path) ? '' : ` ${JSON.stringify(bad)}`}; write \${NAME} or \${NAME:-default}, or $\${ for a literal \${`,
        );
      if (r.missing.length || r.malformed.length) {
        result.failedPaths.push(path);
        return v;
      }
      if (r.changed) result.substitutedPaths.push(path);
      return r.value;
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(item, [...path, i]));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, child] of Object.entries(v)) out[k] = walk(child, [...path, k]);
      return out;
    }
    return v;
  };
  result.value = walk(root, []);
  return result;
}
