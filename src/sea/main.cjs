// The executable's main script (scripts/package.ts puts the version in): `--version` is answered
// here, and so is help, from the table the build rendered by running the program (help.json,
// src/sea/help.ts); anything else compiles the program from its asset with the code cache made
// at build time. V8 holds a main script and its code cache from the start, so the program is not
// the main script: `--version` and `--help` then cost what an empty executable costs, not the
// 8 MiB program's source and cache.
'use strict';
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${'__VERSION__'}\n`);
} else if (!answerHelp()) {
  const { getAsset } = require('node:sea');
  const vm = require('node:vm');
  const script = new vm.Script(getAsset('program.cjs', 'latin1'), {
    filename: 'kafka-backup.cjs',
    cachedData: Buffer.from(getAsset('program.cache')),
    // the program imports a few built-in modules with import()
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (script.cachedDataRejected && process.env.KB_SEA_CHECK_CACHE) process.stderr.write('code cache rejected\n');
  script.runInThisContext()(module.exports, require, module, __filename, __dirname);
}

/** Prints the program's answer to these arguments if the table has it and it holds here. */
function answerHelp() {
  const last = args[args.length - 1];
  if (args.length > 0 && args[0] !== 'help' && last !== '--help' && last !== '-h') return false;
  const table = JSON.parse(require('node:sea').getAsset('help.json', 'utf8'));
  const form = Object.hasOwn(table.forms, args.join('\0')) ? table.forms[args.join('\0')] : undefined;
  if (!form || table.env.concat(form.env).some((name) => process.env[name] !== undefined)) return false;
  const answer = table.answers[form.answer];
  // the program wraps help to a terminal's width up to table.width (src/cli/program.ts)
  const narrow = (stream, text) => text !== '' && stream.isTTY && stream.columns && stream.columns < table.width;
  if (narrow(process.stdout, answer.stdout) || narrow(process.stderr, answer.stderr)) return false;
  if (answer.stdout) process.stdout.write(answer.stdout);
  if (answer.stderr) process.stderr.write(answer.stderr);
  process.exitCode = answer.code;
  return true;
}
