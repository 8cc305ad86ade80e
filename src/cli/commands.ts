/** Registers every subcommand; each lives in its own file under src/cli/. */
import type { Command } from 'commander';
import { registerBackupCommand } from './backup.ts';
import { registerConfigCommand } from './config.ts';
import { registerDescribeCommand } from './describe.ts';
import { registerForgetCommand } from './forget.ts';
import { registerKeyCommand } from './key.ts';
import { registerListCommand } from './list.ts';
import { registerMigrateCommand } from './migrate.ts';
import { registerOffsetsCommand } from './offsets.ts';
import { registerOperatorCommand } from './operator.ts';
import { registerPruneCommand } from './prune.ts';
import { registerRestoreCommand } from './restore.ts';
import { registerStatusCommand } from './status.ts';
import { registerValidateCommand } from './validate.ts';

export function registerCommands(_program: Command): void {
  registerBackupCommand(_program);
  registerConfigCommand(_program);
  registerRestoreCommand(_program);
  registerListCommand(_program);
  registerDescribeCommand(_program);
  registerValidateCommand(_program);
  registerKeyCommand(_program);
  registerOffsetsCommand(_program);
  registerStatusCommand(_program);
  registerMigrateCommand(_program);
  registerForgetCommand(_program);
  registerPruneCommand(_program);
  registerOperatorCommand(_program);
}
