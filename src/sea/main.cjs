// The executable's main script (scripts/package.ts puts the version in): `--version` is answered
// here; anything else compiles the program from its asset with the code cache made at build time.
// V8 holds a main script and its code cache from the start, so the program is not the main script:
// `--version` then costs what an empty executable costs, not the 8 MiB program's source and cache.
'use strict';
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${'__VERSION__'}\n`);
} else {
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
