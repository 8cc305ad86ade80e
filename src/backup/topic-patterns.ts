/**
 * Topic selection: globs (`*`, `?`), or regular expressions when prefixed by `~`.
 * Include then exclude; internal topics (`__consumer_offsets`, `__transaction_state`, any name
 * starting with `__`) only when asked for.
 */
import { ConfigError } from '../errors.ts';

export interface TopicSelection {
  include?: string[];
  exclude?: string[];
  include_internal?: boolean;
}

export function compilePattern(pattern: string): RegExp {
  if (pattern.startsWith('~')) {
    try {
      return new RegExp(pattern.slice(1));
    } catch (e) {
      throw new ConfigError(`topic pattern ${pattern} is not a valid regular expression: ${(e as Error).message}`, [], {
        hint: 'regex patterns start with ~ and use JavaScript syntax, e.g. "~^orders\\..*"',
      });
    }
  }
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`);
}

export function isInternalTopic(name: string): boolean {
  return name.startsWith('__');
}

export function selectTopics(all: Iterable<string>, sel: TopicSelection): string[] {
  const inc = (sel.include ?? ['*']).map(compilePattern);
  const exc = (sel.exclude ?? []).map(compilePattern);
  const out: string[] = [];
  for (const name of all) {
    if (isInternalTopic(name) && !sel.include_internal) continue;
    if (!inc.some((r) => r.test(name))) continue;
    if (exc.some((r) => r.test(name))) continue;
    out.push(name);
  }
  return out.sort();
}
