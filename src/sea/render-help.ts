/**
 * Makes the help table (src/sea/help.ts) by running the real program once per form in this
 * process: `node src/sea/render-help.ts > help.json`, run by scripts/package.ts with stdout a
 * pipe, as the loader's table is for output that is not a terminal (or one at least as wide).
 *
 * An answer may depend on the environment (`operator --job-image` defaults to
 * $KAFKA_BACKUP_IMAGE): every variable the program reads while answering is tried with a probe
 * value, and those that change the answer are listed with it, rendered with them unset.
 */
import { SUMMARY_ENV } from '../cli/summary.ts';
import type { HelpAnswer, HelpTable } from './help.ts';
import { formKey, helpForms } from './help.ts';

if (process.stdout.isTTY) throw new Error('render-help: stdout must not be a terminal (pipe it to a file)');

const realEnv = process.env;
const read = new Set<string>();
let overrides: Record<string, string | undefined> = {};
process.env = new Proxy(realEnv, {
  get(target, name) {
    if (typeof name !== 'string') return Reflect.get(target, name);
    read.add(name);
    return Object.hasOwn(overrides, name) ? overrides[name] : target[name];
  },
  has(target, name) {
    if (typeof name === 'string') read.add(name);
    return typeof name === 'string' && Object.hasOwn(overrides, name) ? overrides[name] !== undefined : name in target;
  },
});

const { buildProgram, main, HELP_WIDTH } = await import('../cli/program.ts');
// (variables read while importing the program are not probed: the import runs once)

const writeOut = process.stdout.write.bind(process.stdout);
const writeErr = process.stderr.write.bind(process.stderr);

/** What the program prints for `args` with these variables overridden, and which it read. */
async function answer(args: string[], env: Record<string, string | undefined>): Promise<[HelpAnswer, string[]]> {
  const printed = { stdout: '', stderr: '' };
  // never a summary file: the loader leaves the answer to the program when one is asked for
  overrides = { ...env, [SUMMARY_ENV]: undefined };
  read.clear();
  process.stdout.write = ((s: string | Uint8Array) => {
    printed.stdout += String(s);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => {
    printed.stderr += String(s);
    return true;
  }) as typeof process.stderr.write;
  const before = process.exitCode;
  let code: number;
  try {
    code = await main(['node', 'kafka-backup', ...args]);
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
    process.exitCode = before;
    overrides = {};
  }
  return [{ ...printed, code }, [...read]];
}

const PROBE = '\u0001render-help-probe';
const same = (a: HelpAnswer, b: HelpAnswer) => a.stdout === b.stdout && a.stderr === b.stderr && a.code === b.code;
const table: HelpTable = { width: HELP_WIDTH, env: [SUMMARY_ENV], forms: {}, answers: [] };
for (const args of helpForms(buildProgram())) {
  // first with every variable it reads unset, then each of them alone set to the probe
  const [, names] = await answer(args, {});
  const candidates = names.filter((n) => n !== SUMMARY_ENV);
  const unset = Object.fromEntries(candidates.map((n) => [n, undefined]));
  const [base] = await answer(args, unset);
  const env: string[] = [];
  for (const name of candidates) {
    const [probed] = await answer(args, { ...unset, [name]: PROBE });
    if (!same(probed, base)) env.push(name);
  }
  let index = table.answers.findIndex((a) => same(a, base));
  if (index < 0) index = table.answers.push(base) - 1;
  table.forms[formKey(args)] = { answer: index, env: env.sort() };
}
writeOut(`${JSON.stringify(table)}\n`);
