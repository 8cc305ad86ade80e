/**
 * `npm run package`: builds dist/kafka-backup, a Node.js single executable application (SEA) for
 * the machine it runs on (linux-x64 here; linux-arm64 and macOS the same way, docs/packaging.md).
 * Node 24's own tooling, in three steps (the main script is a small loader, src/sea/main.cjs, and
 * the bundle one of its assets, with its code cache and the help table: see the steps below):
 *
 *  1. esbuild bundles src/cli/main.ts and everything it imports, dynamic import()s included, into
 *     one CommonJS script: Node 24's SEA runs its main script as CommonJS, whose require() can
 *     load only built-in modules, so nothing may be left to load from node_modules. The version
 *     is embedded (src/version.ts reads package.json); the CRC-32C addon is swapped for src/sea/crc32.ts, which
 *     loads the addon from an asset; the Kafka client's WebAssembly helpers use their variant
 *     with the .wasm inlined (the plain one reads it from disk next to itself).
 *  2. `node --experimental-sea-config` turns the script, its V8 code cache and the addon into a
 *     preparation blob. It must be the same Node binary that the blob is injected into: the
 *     pinned one (node_modules/node, the `node` devDependency).
 *  3. postject copies that binary and injects the blob (on macOS the signature is removed first
 *     and an ad-hoc one added after); dist/kafka-backup is a copy of the result (scripts/sea.ts).
 *
 * The result is then run (`--version`, `--help` and the program's own help, with an empty PATH)
 * so a broken package fails here.
 * Intermediate files stay in dist/sea/ for inspection.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { CRC32_ASSET } from '../src/sea/crc32.ts';
import { HELP_ASSET } from '../src/sea/help.ts';
import { PROGRAM_ASSET, PROGRAM_CACHE_ASSET, wrapProgram } from '../src/sea/program.ts';
import { buildSea } from './sea.ts';

const t0 = performance.now();
const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  devDependencies: Record<string, string>;
};
const work = join(root, 'dist', 'sea');
const exe = join(root, 'dist', process.platform === 'win32' ? 'kafka-backup.exe' : 'kafka-backup');
const bundle = join(work, 'kafka-backup.cjs');

function step(msg: string): void {
  process.stdout.write(`== package: ${msg} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
}

// The runtime to embed: the pinned Node, not whichever node runs this script.
const nodeBin = join(root, 'node_modules', 'node', 'bin', process.platform === 'win32' ? 'node.exe' : 'node');
const nodeVersion = execFileSync(nodeBin, ['--version'], { encoding: 'utf8' }).trim();
if (nodeVersion !== `v${pkg.devDependencies['node']}`)
  throw new Error(`${nodeBin} is ${nodeVersion}, not the pinned v${pkg.devDependencies['node']}: run npm ci`);

// The addon for this platform, as npm installed it (only the host's variant is installed).
function addonFile(): string {
  const suffix = process.platform === 'linux' ? '-gnu' : '';
  const name = `@node-rs/crc32-${process.platform}-${process.arch}${suffix}`;
  const manifest = require.resolve(`${name}/package.json`);
  const main = (JSON.parse(readFileSync(manifest, 'utf8')) as { main: string }).main;
  return join(dirname(manifest), main);
}

// src/version.ts reads package.json next to the code at run time; the executable has none, so
// the bundle gets the version as a constant instead.
const embedVersion: Plugin = {
  name: 'embed-version',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]version\.ts$/ }, () => ({
      contents: `export const VERSION = ${JSON.stringify(pkg.version)};`,
      loader: 'ts',
    }));
  },
};

// The Kafka client calls createRequire(import.meta.url) to load optional packages at run time
// (the CRC-32C addon, protobufjs). In the bundle import.meta.url is empty and createRequire
// throws at load; a file-based require made from any other path would look for node_modules
// around the executable and find whatever is there. So the client gets a createRequire whose
// require loads built-in modules only, like the SEA's own: the addon is then not found and the
// client uses its WebAssembly CRC-32C, as it does wherever the addon is missing.
const builtinOnlyRequire: Plugin = {
  name: 'builtin-only-create-require',
  setup(b) {
    b.onResolve({ filter: /^(node:)?module$/ }, (args) =>
      /[\\/]node_modules[\\/]@platformatic[\\/]/.test(args.importer)
        ? { path: 'module', namespace: 'builtin-only-create-require' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'builtin-only-create-require' }, () => ({
      contents: [
        "export * from 'node:module';",
        'export function createRequire() {',
        '  return (id) => {',
        '    const m = process.getBuiltinModule(id);',
        '    if (m) return m;',
        '    const e = new Error("Cannot find module \'" + id + "\' (not in the executable)");',
        "    throw Object.assign(e, { code: 'MODULE_NOT_FOUND' });",
        '  };',
        '}',
      ].join('\n'),
      loader: 'js',
      resolveDir: root,
    }));
  },
};

mkdirSync(work, { recursive: true });
step(`bundling src/cli/main.ts with esbuild`);
const result = await build({
  absWorkingDir: root,
  entryPoints: ['src/cli/main.ts'],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: `node${process.versions.node.split('.')[0]}`,
  alias: {
    '@node-rs/crc32': './src/sea/crc32.ts',
    '@platformatic/wasm-utils': '@platformatic/wasm-utils/bundled',
  },
  plugins: [embedVersion, builtinOnlyRequire],
  // Start-up parses the whole bundle: minified it is 4.1 MiB instead of 5.8, which saves some
  // 6 MiB of peak RSS and time on --version. keepNames keeps functions' and classes' names
  // (error names, stack traces) as they are in the source.
  minify: true,
  keepNames: true,
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
});
// A module left outside the bundle would fail at run time in the executable: fail here instead.
// Except ws's optional native speed-ups (ws comes with @kubernetes/client-node, for the operator):
// ws requires them inside try/catch and uses its own JavaScript when they are missing.
const OPTIONAL = new Set(['bufferutil', 'utf-8-validate']);
const external = new Set<string>();
for (const input of Object.values(result.metafile.inputs))
  for (const imp of input.imports)
    if (imp.external && !isBuiltin(imp.path) && imp.path !== '<runtime>' && !OPTIONAL.has(imp.path))
      external.add(imp.path);
if (external.size > 0) throw new Error(`not bundled (would fail in the executable): ${[...external].join(', ')}`);
writeFileSync(join(work, 'meta.json'), JSON.stringify(result.metafile));
// V8 keeps a script's source as one byte per character only if all of it is Latin-1; a single
// other character (esbuild leaves them in regular expressions and licence comments) makes it two
// bytes per character: 12 MiB instead of 6 for this bundle, held for the whole run. \uXXXX means
// the same in a regular expression, an identifier or a comment (esbuild escapes strings itself).
const code = readFileSync(bundle, 'utf8');
writeFileSync(
  bundle,
  code.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
);

// The executable's main script is a small loader (src/sea/main.cjs): `--version` is answered
// there, and only other commands compile the program, an asset, with V8's code cache for it made
// here. Why: V8 holds the whole main script and its code cache from the start, so with the
// program as main script `--version` alone peaked at 73 MiB against 42 for an empty executable.
step('code cache for the program (node:vm)');
const program = join(work, 'program.cjs');
const programCache = join(work, 'program.cache');
writeFileSync(program, wrapProgram(readFileSync(bundle, 'utf8')));
// made by the binary that runs it (V8 rejects a cache made by another version or with other flags)
execFileSync(
  nodeBin,
  [
    '-e',
    `const fs = require('node:fs'), vm = require('node:vm');
     const s = new vm.Script(fs.readFileSync(process.argv[1], 'latin1'), { filename: 'kafka-backup.cjs' });
     fs.writeFileSync(process.argv[2], s.createCachedData());`,
    program,
    programCache,
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
const loader = join(work, 'main.cjs');
writeFileSync(
  loader,
  readFileSync(join(root, 'src', 'sea', 'main.cjs'), 'utf8').replace("'__VERSION__'", JSON.stringify(pkg.version)),
);

// Help is answered by the loader too, from what the program printed for each form here
// (src/sea/help.ts): by the sources the bundle was made from, with stdout a pipe.
step('rendering help (src/sea/render-help.ts)');
const helpTable = join(work, 'help.json');
writeFileSync(
  helpTable,
  execFileSync(nodeBin, [join(root, 'src', 'sea', 'render-help.ts')], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }),
);

step(`preparation blob, injected into a copy of ${relative(root, nodeBin)} (${nodeVersion}) with postject`);
const blob = buildSea({
  nodeBin,
  work,
  exe,
  main: loader,
  assets: {
    [CRC32_ASSET]: addonFile(),
    [PROGRAM_ASSET]: program,
    [PROGRAM_CACHE_ASSET]: programCache,
    [HELP_ASSET]: helpTable,
  },
});

// Smoke check with no Node on PATH: the executable must not need one.
const printed = execFileSync(exe, ['--version'], { encoding: 'utf8', env: { PATH: '' } }).trim();
if (printed !== pkg.version) throw new Error(`${exe} --version printed '${printed}', expected '${pkg.version}'`);
// `--debug --help` is not in the help table, so the program runs from its asset: it must load,
// with the code cache V8 accepts, and print the help the loader answers `--help` with.
const env = { PATH: '', KB_SEA_CHECK_CACHE: '1' };
const help = spawnSync(exe, ['--debug', '--help'], { encoding: 'utf8', env });
if (help.status !== 0 || !help.stdout.includes('Usage:') || help.stderr.includes('code cache rejected'))
  throw new Error(`${exe} --debug --help failed (exit ${help.status}): ${help.stderr.trim()}`);
if (execFileSync(exe, ['--help'], { encoding: 'utf8', env }) !== help.stdout)
  throw new Error(`${exe} --help (the loader's table) differs from the program's help`);
const mib = (file: string) => `${(statSync(file).size / 2 ** 20).toFixed(1)} MiB`;
step(`built ${relative(root, exe)}: ${mib(exe)} (bundle ${mib(bundle)}, blob ${mib(blob)}), --version ${printed}`);
