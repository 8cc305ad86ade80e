/** Registers every subcommand; each lives in its own file under src/cli/. */
import type { Command } from 'commander';

export function registerCommands(_program: Command): void {}
