/**
 * --log-level: a value outside error|warn|info|debug is a usage error (exit 2) naming the
 * choices, and a command that takes --path instead of a config applies the flag too.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { buildProgram, main } from '../../../src/cli/program.ts';
import { configureLogging, logger } from '../../../src/util/log.ts';

function captureLogs(): string[] {
  const lines: string[] = [];
  configureLogging({ write: (line) => lines.push(line), level: 'info', json: true });
  return lines;
}

test('an unknown --log-level is a usage error that lists the choices', async () => {
  const stderr: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => {
    stderr.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'kafka-backup', '--log-level', 'verbose', 'list', '--path', '/nonexistent']);
    assert.equal(code, 2);
  } finally {
    process.stderr.write = write;
  }
  assert.match(stderr.join(''), /Allowed choices are error, warn, info, debug/);
});

test('--log-level reaches a command that has no config file', async () => {
  const lines = captureLogs();
  const program = buildProgram();
  // a stand-in for a --path command: it logs and loads no config
  program.addCommand(
    new Command('probe').action(() => {
      logger('probe').debug('debug line');
      logger('probe').info('info line');
    }),
  );
  await program.parseAsync(['node', 'kafka-backup', '--log-level', 'debug', 'probe']);
  assert.deepEqual(
    lines.map((l) => JSON.parse(l).msg),
    ['debug line', 'info line'],
  );
  lines.length = 0;
  await buildProgram()
    .addCommand(new Command('probe').action(() => logger('probe').info('info line')))
    .parseAsync(['node', 'kafka-backup', '--log-level', 'error', 'probe']);
  assert.deepEqual(lines, []);
});

test('without the flag the level set before (KAFKA_BACKUP_LOG_LEVEL) stays', async () => {
  const lines = captureLogs();
  configureLogging({ level: 'warn' });
  await buildProgram()
    .addCommand(
      new Command('probe').action(() => {
        logger('probe').info('hidden');
        logger('probe').warn('shown');
      }),
    )
    .parseAsync(['node', 'kafka-backup', 'probe']);
  assert.deepEqual(
    lines.map((l) => JSON.parse(l).msg),
    ['shown'],
  );
});
