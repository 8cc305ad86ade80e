/**
 * The kafka-backup program: global flags, one file per command, and the one place where errors
 * become messages and exit codes (src/errors.ts holds the mapping). Importing it runs nothing;
 * main.ts is the entry point that runs it.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, ExitCode, exitCodeOf, KafkaBackupError } from '../errors.ts';
import { VERSION } from '../version.ts';
import { registerCommands } from './commands.ts';
import { applyLogFlags } from './common.ts';
import { writeErrorSummary } from './summary.ts';

/**
 * Help is wrapped to the terminal's width up to this many columns (commander's default for
 * output that is not a terminal), so it reads the same everywhere and the executable can answer
 * --help from text rendered at build time (src/sea/help.ts) on any terminal at least this wide.
 */
export const HELP_WIDTH = 80;
const helpWidth = (stream: NodeJS.WriteStream) =>
  stream.isTTY && stream.columns ? Math.min(stream.columns, HELP_WIDTH) : HELP_WIDTH;

export function buildProgram(): Command {
  const program = new Command('kafka-backup')
    .description(
      'Backup and restore for Apache Kafka: every record, any point in time, consumer offsets moved exactly.',
    )
    .version(VERSION, '-V, --version')
    .option('--debug', 'show stack traces on errors')
    .addOption(
      new Option('--log-level <level>', 'log verbosity').choices(['error', 'warn', 'info', 'debug']).default('info'),
    )
    .option('-q, --quiet', 'no progress output')
    .configureOutput({
      getOutHelpWidth: () => helpWidth(process.stdout),
      getErrHelpWidth: () => helpWidth(process.stderr),
    })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    // Every command honours --log-level, also those that take --path and no config file; a
    // config's logging section, loaded later by the command, applies unless the flag was given.
    .hook('preAction', (_program, command) => applyLogFlags(command));
  registerCommands(program);
  return program;
}

export function reportError(error: unknown, debug: boolean): number {
  if (error instanceof CommanderError) {
    // commander already printed its message; --help and --version exit 0
    return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
  const lines: string[] = [];
  if (error instanceof KafkaBackupError) {
    lines.push(`error: ${error.message}`);
    if (error instanceof ConfigError) for (const p of error.problems) lines.push(`  - ${p}`);
    if (error.hint) lines.push(`  fix: ${error.hint}`);
  } else {
    lines.push(`error: ${error instanceof Error ? error.message : String(error)}`);
    lines.push('  this is unexpected; rerun with --debug and report it with the output');
  }
  if (debug && error instanceof Error && error.stack) lines.push(error.stack);
  process.stderr.write(lines.join('\n') + '\n');
  return exitCodeOf(error);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (error) {
    writeErrorSummary(error);
    return reportError(error, argv.includes('--debug'));
  }
}
