/**
 * Points the CLI helper (test/helpers/cli.ts) at the single executable, dist/kafka-backup, so a
 * suite written for `node src/cli/main.ts` runs the executable instead: a module, a file or an
 * addon missing from the bundle fails those tests. Imported first by the wrappers in this
 * folder, which then import the suite.
 *
 * The test command builds the executable (npm run package) before the tests. Run alone, these
 * tests need it built and no older than the sources: they stop with that message rather than
 * build it themselves, since two test files running at once would build over each other.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../../..');
export const EXECUTABLE = join(root, 'dist', 'kafka-backup');

function newest(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(s.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

const built = (() => {
  try {
    return statSync(EXECUTABLE).mtimeMs;
  } catch {
    return undefined;
  }
})();
const sources = Math.max(
  ...['src', 'package-lock.json', 'scripts/package.ts', 'scripts/sea.ts'].map((p) => newest(join(root, p))),
);
if (built === undefined || built < sources)
  throw new Error(`${EXECUTABLE} is ${built === undefined ? 'missing' : 'older than src/'}: run 'npm run package'`);

process.env['KB_CLI'] = EXECUTABLE;
