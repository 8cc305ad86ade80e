#!/usr/bin/env node
/**
 * kafka-backup CLI entry point (bin/kafka-backup.js runs its compiled form). It checks the Node.js
 * version first and only then loads the program: static imports are all loaded before any code
 * runs, so anything that fails on an old Node must come in through the dynamic import below.
 * The program itself (flags, commands, errors to exit codes) is in program.ts.
 */
import { unsupportedNodeMessage } from './node-support.ts';

const unsupported = unsupportedNodeMessage();
const [, , ...args] = process.argv;
if (unsupported) {
  process.stderr.write(`${unsupported}\n`);
  process.exitCode = 1;
} else if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // The same answer the program gives, without loading it (commander, every command, the
  // config schema): start-up is measured by --version (issue 17).
  import('../version.ts').then(({ VERSION }) => process.stdout.write(`${VERSION}\n`));
} else {
  import('./program.ts').then(({ main, reportError }) =>
    main(process.argv).then(
      (code) => {
        process.exitCode = code;
      },
      (error) => {
        process.exitCode = reportError(error, process.argv.includes('--debug'));
      },
    ),
  );
}
