// Fails fast when npm scripts do not run on the pinned Node.js (the `node` devDependency).
// Its binary is fetched by an install script; if install scripts were skipped, say how to fix it.
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const pinned = pkg.devDependencies.node;
if (process.version !== `v${pinned}`) {
  console.error(
    `kafka-backup: this project runs on Node.js ${pinned}, but npm scripts run on ${process.version}.\n` +
      `  The pinned Node comes from the 'node' devDependency, whose install script fetches the binary.\n` +
      `  Fix: run 'npm ci' (install scripts allowed; package.json allowScripts approves 'node') and use 'npm run ...'.`,
  );
  process.exit(1);
}
