/**
 * Help rendered at build time (issue 17 item 4): the executable's loader (src/sea/main.cjs)
 * answers `--help`, `-h`, `help [command]` and `<command...> --help` from this table instead of
 * compiling the 8.5 MiB program, so they cost what `--version` costs. The table is made by
 * running the real program (src/cli/program.ts) once per form and keeping what it printed and
 * its exit code; test/integration/sea/help.test.ts checks it against the program again.
 */
import type { Command } from 'commander';

/** The asset holding the table (JSON, see HelpTable). */
export const HELP_ASSET = 'help.json';

/** One printed answer: what the program wrote to stdout and stderr, and its exit code. */
export interface HelpAnswer {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * The loader's table. `forms` maps an argument list (joined with NUL, the one character no
 * argument holds) to an index in `answers` and the environment variables that answer depends
 * on (an option's default taken from one). When any of those or of the table's `env` (the run
 * summary file, which the program writes even for --help) is set, the loader runs the program;
 * likewise when the output is a terminal narrower than `width`, the program's widest help.
 */
export interface HelpTable {
  width: number;
  env: string[];
  forms: Record<string, { answer: number; env: string[] }>;
  answers: HelpAnswer[];
}

/** The key of an argument list in HelpTable.forms (main.cjs joins process.argv the same way). */
export const formKey = (args: readonly string[]): string => args.join('\0');

/**
 * Every argument list the table answers: no arguments, `help`, and for the program and each
 * command at any depth `--help` and `-h`, plus `help <command>` for the top-level commands.
 */
export function helpForms(program: Command): string[][] {
  const forms: string[][] = [[], ['help']];
  const walk = (cmd: Command, path: string[]) => {
    forms.push([...path, '--help'], [...path, '-h']);
    for (const sub of cmd.commands) walk(sub, [...path, sub.name()]);
  };
  walk(program, []);
  for (const sub of program.commands) forms.push(['help', sub.name()]);
  return forms;
}
