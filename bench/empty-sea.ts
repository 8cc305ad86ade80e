/**
 * The floor under the executable's start-up (issue 17 item 4): a single executable application
 * built exactly like dist/kafka-backup (scripts/sea.ts: the same pinned Node binary and SEA
 * settings, and the executable a copy of postject's output, as shipped) around a main script
 * that only prints a version string. Whatever it costs, no change to our code can go below it.
 *
 *   node bench/empty-sea.ts [--runs 10] [--with-cli]
 *
 * Builds dist/sea-empty/empty-sea, runs it and `node -e 0` (and with --with-cli dist/kafka-backup
 * --version, --help, `restore --help` and `--debug --help`, which the loader leaves to the
 * program) `--runs` times each under /usr/bin/time, and prints median wall ms and peak RSS MiB
 * with the load average. Not part of the test command.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildSea } from '../scripts/sea.ts';
import { runMeasured } from './proc.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: { runs: { type: 'string', default: '10' }, 'with-cli': { type: 'boolean', default: false } },
});
const runs = Number(values.runs);
const work = join(root, 'dist', 'sea-empty');
const nodeBin = join(root, 'node_modules', 'node', 'bin', 'node');
const exe = join(work, 'empty-sea');
mkdirSync(work, { recursive: true });
writeFileSync(join(work, 'main.cjs'), "process.stdout.write('0.0.0\\n');\n");
buildSea({ nodeBin, work, exe, main: join(work, 'main.cjs') });

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`load average before: ${loadavg()}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [name, cmd, args] of [
  ['empty SEA', exe, []],
  ['node -e 0', nodeBin, ['-e', '0']],
  ...(values['with-cli']
    ? [
        ['dist/kafka-backup --version', join(root, 'dist', 'kafka-backup'), ['--version']],
        ['dist/kafka-backup --help', join(root, 'dist', 'kafka-backup'), ['--help']],
        ['dist/kafka-backup restore --help', join(root, 'dist', 'kafka-backup'), ['restore', '--help']],
        ['dist/kafka-backup --debug --help', join(root, 'dist', 'kafka-backup'), ['--debug', '--help']],
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
    `${name.padEnd(34)} median ${median(walls).toFixed(0)} ms, peak RSS ${rss.toFixed(1)} MiB (${runs} runs)`,
  );
}
console.log(`load average after: ${loadavg()}`);
