/**
 * Preload for `node --import`: records the URL of every module the process loads (ESM and
 * require alike, through module.registerHooks) and writes them, one a line, to the file named
 * by KB_RECORD_LOADS when the process exits. Used to check what a command loads at start-up.
 */
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const file = process.env['KB_RECORD_LOADS'];
if (!file) throw new Error('record-loads: set KB_RECORD_LOADS to the output file');
const loaded: string[] = [];
registerHooks({
  load(url, context, nextLoad) {
    loaded.push(url);
    return nextLoad(url, context);
  },
});
process.on('exit', () => writeFileSync(file, `${loaded.join('\n')}\n`));
