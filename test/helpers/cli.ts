/**
 * Runs the real CLI as a child process (as a user would), with a temp folder for configs and
 * backups. `startCli` returns the child so a test can kill it mid-run.
 *
 * By default that is `node src/cli/main.ts`; KB_CLI=/path/to/executable runs that file instead
 * (test/integration/sea/ sets it to the single executable, dist/kafka-backup), and a KB_CLI
 * ending in .js runs under this Node (the test command sets bin/kafka-backup.js, the compiled
 * CLI it has just built: it starts in half the time of the TypeScript sources). Read at each
 * call, so a suite's wrapper can set it before or after importing this module.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { REPO_ROOT } from './kafka.ts';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The command that runs the CLI, before its arguments (see the top of this file). */
export function cliCommand(): string[] {
  const exe = process.env['KB_CLI'];
  if (!exe) return [process.execPath, join(REPO_ROOT, 'src/cli/main.ts')];
  return exe.endsWith('.js') ? [process.execPath, exe] : [exe];
}

export function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { child: ChildProcess; done: Promise<CliResult> } {
  const [file, ...pre] = cliCommand();
  const child = spawn(file!, [...pre, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/**
 * Resolves once the child's stderr (from its start) matches `pattern`, e.g. the 'backup started'
 * log line, so a test acts on what the run has done rather than after a fixed sleep, which the
 * CLI's start-up can outlast on a loaded machine. Rejects if the child exits or `timeoutMs` passes first.
 */
export function stderrMatches(child: ChildProcess, pattern: RegExp, timeoutMs = 120_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const finish = (err?: Error) => {
      clearTimeout(timer);
      child.stderr!.off('data', onData);
      child.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onData = (d: Buffer | string) => {
      seen += d;
      if (pattern.test(seen)) finish();
    };
    const onClose = (code: number | null) =>
      finish(new Error(`the CLI exited (${code}) before its stderr matched ${pattern}: ${seen.slice(-2000)}`));
    const timer = setTimeout(
      () => finish(new Error(`stderr did not match ${pattern} within ${timeoutMs} ms: ${seen.slice(-2000)}`)),
      timeoutMs,
    );
    child.stderr!.on('data', onData);
    child.on('close', onClose);
  });
}

export function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return startCli(args, env).done;
}

const tempDirs: string[] = [];
process.on('exit', () => {
  if (process.env['KB_KEEP_TMP'] === '1') return;
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * A fresh directory under the OS temp dir, removed when the test process exits (each test file
 * runs in its own process), so a full test run leaves nothing behind. `KB_KEEP_TMP=1` keeps them
 * for looking at a failure.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `kb-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

/** Writes a YAML config into dir and returns its path. */
export function writeConfig(dir: string, name: string, config: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, stringify(config));
  return path;
}

/** The JSON document a command printed with --format json (the last JSON object on stdout). */
export function jsonOut<T = Record<string, unknown>>(r: CliResult): T {
  const start = r.stdout.indexOf('{');
  if (start < 0) throw new Error(`no JSON on stdout (exit ${r.code}); stderr:\n${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.slice(start)) as T;
}
