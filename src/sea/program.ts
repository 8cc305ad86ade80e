/**
 * The program inside the executable (scripts/package.ts, docs/packaging.md): the bundle is an
 * asset, compiled by the loader (src/sea/main.cjs) only for commands other than `--version`.
 * Shared by the build and the loader's tests, so both wrap it the same way.
 */

/** The asset holding the wrapped bundle (ASCII only: the build escapes every other character). */
export const PROGRAM_ASSET = 'program.cjs';
/** V8's code cache for it, made at build time by the same Node binary. */
export const PROGRAM_CACHE_ASSET = 'program.cache';

/**
 * The bundle as one function expression taking CommonJS's module arguments: evaluating the
 * script gives the function, the loader calls it with its own require (built-in modules only).
 */
export function wrapProgram(bundle: string): string {
  const body = bundle.startsWith('#!') ? bundle.slice(bundle.indexOf('\n') + 1) : bundle;
  return `(function (exports, require, module, __filename, __dirname) {${body}\n})`;
}
