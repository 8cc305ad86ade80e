/**
 * The last steps of building a single executable application, shared by scripts/package.ts
 * (dist/kafka-backup) and bench/empty-sea.ts (the floor under its start-up), so the benchmark's
 * empty executable is made exactly as the shipped one: the SEA config turned into a preparation
 * blob by the pinned Node binary, postject injecting it into a copy of that binary, and the
 * executable a copy of postject's output.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
// the sentinel Node's SEA support looks for (documented, the same in every Node with SEA)
const SENTINEL_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export interface SeaBuild {
  /** The Node binary to embed; it also makes the blob (it must be the same one). */
  nodeBin: string;
  /** Folder for the config, the blob and postject's output. */
  work: string;
  /** The executable to write. */
  exe: string;
  /** The main script (CommonJS). */
  main: string;
  /** Asset name to file. */
  assets?: Record<string, string>;
}

/** Builds `exe` from `main` and `assets`; returns the blob's path. */
export function buildSea({ nodeBin, work, exe, main, assets = {} }: SeaBuild): string {
  const blob = join(work, 'sea-prep.blob');
  const seaConfig = join(work, 'sea-config.json');
  writeFileSync(
    seaConfig,
    JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, assets }, null, 2),
  );
  execFileSync(nodeBin, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'inherit'] });

  // postject writes the whole file with one write(); Linux then keeps it in the page cache as
  // large folios, and each page fault maps a whole folio: an executable run from that file
  // peaked 20 MiB higher (an empty one 62 MiB, its copy 42) until the page cache is evicted. So
  // it injects into `work` and the executable is a copy of the result, as `cp` or `install`
  // would make it.
  const injectedFile = join(work, 'injected');
  copyFileSync(nodeBin, injectedFile);
  if (process.platform === 'darwin')
    execFileSync('codesign', ['--remove-signature', injectedFile], { stdio: 'inherit' });
  const injected = spawnSync(
    nodeBin,
    [
      require.resolve('postject/dist/cli.js'),
      injectedFile,
      'NODE_SEA_BLOB',
      blob,
      '--sentinel-fuse',
      SENTINEL_FUSE,
      ...(process.platform === 'darwin' ? ['--macho-segment-name', 'NODE_SEA'] : []),
    ],
    { encoding: 'utf8' },
  );
  // postject's ELF library warns about Node's '.note.100' sections on every Linux build;
  // harmless (nodejs/postject#83, the executable runs), so those lines are dropped and anything
  // else shown.
  const noise = /^warning: Can't find string offset for section name '\.note(\.100)?'$/;
  const shown = `${injected.stdout}${injected.stderr}`.split('\n').filter((l) => l.trim() && !noise.test(l));
  if (shown.length > 0) process.stdout.write(`${shown.join('\n')}\n`);
  if (injected.status !== 0) throw new Error(`postject failed (exit ${injected.status})`);
  rmSync(exe, { force: true });
  copyFileSync(injectedFile, exe);
  rmSync(injectedFile);
  chmodSync(exe, 0o755);
  if (process.platform === 'darwin') execFileSync('codesign', ['--sign', '-', exe], { stdio: 'inherit' });
  return blob;
}
