/** Registers every subcommand; each lives in its own file under src/cli/. */
import type { Command } from 'commander';
import { registerConfigCommand } from './config.ts';

export function registerCommands(_program: Command): void {
  registerConfigCommand(_program);
}
