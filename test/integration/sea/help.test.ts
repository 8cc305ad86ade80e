/**
 * The executable answers help from a table rendered at build time (src/sea/help.ts, issue 17
 * item 4). These tests hold it to the program: for every form in the table the executable
 * prints what `node src/cli/main.ts` prints, with the same exit code; where the answer depends
 * on the environment or on a narrow terminal the executable leaves it to the program; and the
 * table's answers cost what the start-up targets allow (peak RSS under 60 MiB).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import type { HelpTable } from '../../../src/sea/help.ts';
import { tempDir } from '../../helpers/cli.ts';
import { run } from './run.ts';
import { EXECUTABLE } from './start.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const table = JSON.parse(readFileSync(join(ROOT, 'dist', 'sea', 'help.json'), 'utf8')) as HelpTable;
const forms = Object.keys(table.forms).map((k) => (k === '' ? [] : k.split('\0')));
// what the loader's answers must not depend on: none of the variables any answer reads
const ENV_VARS = [...new Set([...table.env, ...Object.values(table.forms).flatMap((f) => f.env)])];
const baseEnv = () => {
  const env = { ...process.env };
  for (const name of ENV_VARS) delete env[name];
  return env;
};

const exe = (args: string[], env = baseEnv()) => run(EXECUTABLE, args, ROOT, env);
const program = (args: string[], env = baseEnv()) => run(process.execPath, [MAIN, ...args], ROOT, env);

/** Runs `command` on a pseudo-terminal this many columns wide (util-linux script); output as the terminal shows it. */
function onTerminal(columns: number, command: string[]): string {
  const quoted = command.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const r = spawnSync('script', ['-qec', `stty cols ${columns}; exec ${quoted}`, '/dev/null'], {
    cwd: ROOT,
    env: baseEnv(),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.replaceAll('\r\n', '\n');
}

describe('help answered by the executable from its build-time table', { timeout: 600_000 }, () => {
  test('the table covers the program, every command and subcommand', () => {
    for (const path of [[], ['config', 'validate'], ['offsets', 'apply'], ['key', 'rotate'], ['operator']])
      assert.ok(
        forms.some((f) => f.join(' ') === [...path, '--help'].join(' ')),
        `${path.join(' ')} --help`,
      );
    assert.ok(forms.length > 40, `${forms.length} forms`);
  });

  test('every form prints what the program prints, with its exit code', async () => {
    // two at a time: each program run compiles the CLI's sources
    const queue = [...forms];
    const worker = async () => {
      for (let args = queue.shift(); args; args = queue.shift()) {
        const [got, want] = await Promise.all([exe(args), program(args)]);
        assert.deepEqual(got, want, `kafka-backup ${args.join(' ')}`);
      }
    };
    await Promise.all([worker(), worker()]);
  });

  test('an answer that depends on the environment comes from the program', async () => {
    const env = { ...baseEnv(), KAFKA_BACKUP_IMAGE: 'registry.example/kafka-backup:9.9.9' };
    const got = await exe(['operator', '--help'], env);
    assert.match(got.stdout, /registry\.example\/kafka-backup:9\.9\.9/);
    assert.deepEqual(got, await program(['operator', '--help'], env));
  });

  test('with a run summary asked for, the program answers (it writes one even for --help)', async () => {
    const dir = tempDir('sea-help');
    const summary = (name: string) => ({ ...baseEnv(), KAFKA_BACKUP_SUMMARY_FILE: join(dir, name) });
    const got = await exe(['--help'], summary('exe.json'));
    const want = await program(['--help'], summary('program.json'));
    assert.deepEqual(got, want);
    assert.ok(existsSync(join(dir, 'program.json')), 'the program wrote a summary');
    assert.equal(readFileSync(join(dir, 'exe.json'), 'utf8'), readFileSync(join(dir, 'program.json'), 'utf8'));
  });

  test('on a terminal: wrapped at 80 columns when wider, to its width (by the program) when narrower', () => {
    const plain = table.answers[table.forms['restore\0--help']!.answer]!.stdout;
    assert.equal(onTerminal(200, [EXECUTABLE, 'restore', '--help']), plain);
    assert.equal(onTerminal(200, [process.execPath, MAIN, 'restore', '--help']), plain);
    const narrow = onTerminal(50, [EXECUTABLE, 'restore', '--help']);
    // commander wraps descriptions to the width (not when their column would be under 40)
    assert.notEqual(narrow, plain);
    assert.match(narrow, /^restore a backup snapshot into a Kafka cluster\n\(exactly once, resumable\)$/m);
    assert.equal(narrow, onTerminal(50, [process.execPath, MAIN, 'restore', '--help']));
  });

  test('--version and help stay under the start-up target of 60 MiB peak RSS; the program path does not', {
    skip: !existsSync('/usr/bin/time') && 'no /usr/bin/time',
  }, () => {
    const peakMiB = (args: string[]) => {
      const r = spawnSync('/usr/bin/time', ['-f', '%M', EXECUTABLE, ...args], { env: baseEnv(), encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return Number(r.stderr.trim().split('\n').at(-1)) / 1024;
    };
    for (const args of [['--version'], ['--help'], ['restore', '--help'], ['help', 'offsets']])
      assert.ok(peakMiB(args) < 60, `${args.join(' ')}: ${peakMiB(args).toFixed(1)} MiB`);
    // the same help through the program (not in the table): the measurement can tell them apart
    assert.ok(peakMiB(['--debug', '--help']) > 60);
  });
});
