/**
 * The floor under the executable's start-up (issue 17 item 4): a single executable application
 * built exactly like dist/kafka-backup (same pinned Node binary, same SEA settings, code cache
 * on) around a main script that only prints a version string. Whatever it costs, no change to
 * our code can go below it.
 *
 *   node bench/empty-sea.ts [--runs 10] [--with-cli]
 *
 * Builds dist/sea-empty/empty-sea, runs it and `node -e 0` (and with --with-cli dist/kafka-backup
 * --version and --help) `--runs` times each under
 * /usr/bin/time, and prints median wall ms and peak RSS MiB. Not part of the test command.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runMeasured } from './proc.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const { values } = parseArgs({
  options: { runs: { type: 'string', default: '10' }, 'with-cli': { type: 'boolean', default: false } },
});
const runs = Number(values.runs);
const work = join(root, 'dist', 'sea-empty');
const nodeBin = join(root, 'node_modules', 'node', 'bin', 'node');
const exe = join(work, 'empty-sea');
mkdirSync(work, { recursive: true });
writeFileSync(join(work, 'main.cjs'), "process.stdout.write('0.0.0\\n');\n");
writeFileSync(
  join(work, 'sea-config.json'),
  JSON.stringify({
    main: join(work, 'main.cjs'),
    output: join(work, 'blob'),
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
  }),
);
execFileSync(nodeBin, ['--experimental-sea-config', join(work, 'sea-config.json')], { stdio: 'ignore' });
copyFileSync(nodeBin, exe);
chmodSync(exe, 0o755);
const injected = spawnSync(nodeBin, [
  require.resolve('postject/dist/cli.js'),
  exe,
  'NODE_SEA_BLOB',
  join(work, 'blob'),
  '--sentinel-fuse',
  'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
]);
if (injected.status !== 0) throw new Error(`postject failed: ${injected.stderr}`);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [name, cmd, args] of [
  ['empty SEA', exe, []],
  ['node -e 0', nodeBin, ['-e', '0']],
  ...(values['with-cli']
    ? [
        ['dist/kafka-backup --version', join(root, 'dist', 'kafka-backup'), ['--version']],
        ['dist/kafka-backup --help', join(root, 'dist', 'kafka-backup'), ['--help']],
      ]
    : []),
] as [string, string, string[]][]) {
  const walls: number[] = [];
  let rss = 0;
  for (let i = 0; i < runs; i++) {
    const r = await runMeasured(cmd, args, { cwd: root, env: { PATH: '' } });
    if (r.code !== 0) throw new Error(`${name} exited ${r.code}: ${r.stderr}`);
    walls.push(r.wallS * 1000);
    rss = Math.max(rss, r.maxRssMiB ?? 0);
  }
  console.log(
    `${name.padEnd(28)} median ${median(walls).toFixed(0)} ms, peak RSS ${rss.toFixed(1)} MiB (${runs} runs)`,
  );
}
