import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/errors.ts';

/** Runs `fn`, asserts it throws a ConfigError, and returns it. */
export function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ConfigError, nothing was thrown');
}

/** The one problem line that starts with `path:` (or `path ` for env problems). */
export function problemAt(error: ConfigError, path: string): string {
  const found = error.problems.filter((p) => p.startsWith(`${path}:`) || p.startsWith(`${path} `));
  assert.equal(found.length, 1, `one problem for ${path} expected, got:\n${error.problems.join('\n')}`);
  return found[0]!;
}

/** Everything a user would see for this error. */
export function allText(error: ConfigError): string {
  return [error.message, ...error.problems, error.hint ?? ''].join('\n');
}
