/**
 * `kafka-backup config validate -c FILE [--format text|json|yaml] [--for backup|restore]`:
 * checks a config file and prints the effective configuration (defaults filled in, environment
 * substituted, secrets redacted) and the memory estimate. Exit 0 when valid, 2 when not.
 */
import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { type Config, loadConfig, requireSections } from '../config/load.ts';
import { describeTerm, estimateMemory, formatBytes, type MemoryEstimate } from '../config/memory.ts';
import { redactConfig } from '../config/secrets.ts';
import { UsageError } from '../errors.ts';
import { emit, parseFormat } from './output.ts';

/** The sections each command reads; `config validate --for <command>` checks them. */
export const COMMAND_SECTIONS = {
  backup: ['backup_id', 'source', 'storage'],
  restore: ['backup_id', 'target', 'storage'],
} as const satisfies Record<string, readonly (keyof Config)[]>;

interface ValidateOptions {
  config: string;
  format: string;
  for?: string;
}

function memoryDoc(e: MemoryEstimate) {
  return {
    operation: e.operation,
    total_bytes: e.totalBytes,
    limit_bytes: e.limitBytes,
    fits: e.fits,
    terms: e.terms.map((t) => ({ formula: t.formula, values: t.values, bytes: t.bytes })),
  };
}

function renderText(file: string, config: unknown, estimates: MemoryEstimate[]): string {
  const lines = [`config ${file} is valid`, '', 'effective configuration (secrets redacted):'];
  lines.push(
    toYaml(config)
      .trimEnd()
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n'),
  );
  lines.push('', `memory estimate (max_memory_bytes = ${formatBytes(estimates[0]?.limitBytes ?? 0)}):`);
  for (const e of estimates) {
    lines.push(`  ${e.operation}: ${formatBytes(e.totalBytes)}${e.fits ? '' : ' (over budget)'}`);
    for (const t of e.terms) lines.push(`    ${describeTerm(t)}`);
  }
  return lines.join('\n');
}

export function registerConfigCommand(program: Command): void {
  const config = program.command('config').description('check and show configuration files');
  config
    .command('validate')
    .description('validate a config file and print the effective configuration with secrets redacted')
    .requiredOption('-c, --config <file>', 'the YAML config file')
    .option('--format <format>', 'text|json|yaml', 'text')
    .option('--for <command>', `also check the sections a command needs: ${Object.keys(COMMAND_SECTIONS).join('|')}`)
    .action((options: ValidateOptions) => {
      const format = parseFormat(options.format);
      let required: readonly (keyof Config)[] | undefined;
      if (options.for !== undefined) {
        required = COMMAND_SECTIONS[options.for as keyof typeof COMMAND_SECTIONS];
        if (!required)
          throw new UsageError(`--for ${options.for} is not a command that reads a config file`, {
            hint: `use one of: ${Object.keys(COMMAND_SECTIONS).join(', ')}`,
          });
      }
      const loaded = loadConfig(options.config);
      if (required && options.for) requireSections(loaded, required as ('backup_id' | 'source')[], options.for);
      const estimates = [estimateMemory(loaded, 'backup'), estimateMemory(loaded, 'restore')];
      const shown = redactConfig(loaded);
      emit(format, { file: options.config, valid: true, config: shown, memory: estimates.map(memoryDoc) }, () =>
        renderText(options.config, shown, estimates),
      );
    });
}
