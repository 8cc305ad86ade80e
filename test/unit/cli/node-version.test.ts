/**
 * The entry point under an unsupported Node.js prints one line naming the Node it needs and
 * exits 1, never a stack trace (issue 17 item 3). The spawned cases need an old Node on the
 * machine (the system one, outside node_modules); without one they skip and say so.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { SUPPORTED_NODE, satisfies, unsupportedNodeMessage } from '../../../src/cli/node-support.ts';
import { tempDir } from '../../helpers/cli.ts';

const ROOT = resolve(import.meta.dirname, '../../..');

test('SUPPORTED_NODE is package.json engines.node', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  assert.equal(SUPPORTED_NODE, pkg.engines.node);
});

test('satisfies: >= and ^ alternatives', () => {
  for (const v of ['22.22.0', 'v22.22.1', '23.0.0', '24.6.0', '24.21.0', '25.1.0', '24.0.0-nightly2025']) {
    assert.ok(satisfies(v, SUPPORTED_NODE), v);
  }
  for (const v of ['20.20.2', 'v22.21.9', '22.9.0', '18.0.0']) assert.ok(!satisfies(v, SUPPORTED_NODE), v);
  assert.ok(satisfies('22.23.0', '^22.22.0 || >= 24.6.0'));
  assert.ok(!satisfies('23.1.0', '^22.22.0 || >= 24.6.0'));
  assert.ok(!satisfies('24.5.0', '^22.22.0 || >= 24.6.0'));
  assert.throws(() => satisfies('24.0.0', '22.x'), /unsupported engines range form/);
});

test('the message is one line naming the range, the binary and its version', () => {
  assert.equal(unsupportedNodeMessage('24.21.0'), undefined);
  const m = unsupportedNodeMessage('20.20.2', '/usr/bin/node');
  assert.equal(m, `kafka-backup needs Node.js ${SUPPORTED_NODE}, but /usr/bin/node is v20.20.2`);
});

/** The first `node` outside node_modules (/usr/bin/node, then PATH) that cannot run kafka-backup. */
function findOldNode(): { path?: string; reason: string } {
  const candidates = ['/usr/bin/node', ...(process.env['PATH'] ?? '').split(delimiter).map((d) => join(d, 'node'))];
  const seen: string[] = [];
  for (const c of candidates) {
    if (c.includes('node_modules') || !existsSync(c)) continue;
    const r = spawnSync(c, ['--version'], { encoding: 'utf8' });
    const version = r.stdout?.trim();
    if (r.status !== 0 || !version) continue;
    if (!satisfies(version, SUPPORTED_NODE)) return { path: c, reason: `${c} is ${version}` };
    seen.push(`${c} ${version}`);
  }
  return { reason: `no unsupported Node.js outside node_modules (found: ${seen.join(', ') || 'none'})` };
}
const old = findOldNode();

function assertOneLine(r: ReturnType<typeof spawnSync>): void {
  const stderr = String(r.stderr);
  assert.equal(r.status, 1, stderr);
  assert.equal(String(r.stdout), '');
  assert.doesNotMatch(stderr, /^\s*at /m, 'no stack trace');
  const lines = stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, /^kafka-backup needs Node\.js >= 22\.22\.0 \|\| >= 24\.6\.0, but .+ is v\d+\.\d+\.\d+$/);
}

// bin/kafka-backup.js with main.ts and node-support.ts compiled as tsc does, beside a program.js
// that fails to load the way the real one does on Node 20: the check must come first. Needs no build.
test('bin/kafka-backup.js under an old Node: one line, exit 1 (entry compiled here)', {
  skip: !old.path && old.reason,
}, (t) => {
  const tmp = tempDir('node-version');
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  mkdirSync(join(tmp, 'bin'));
  mkdirSync(join(tmp, 'dist/cli'), { recursive: true });
  writeFileSync(join(tmp, 'package.json'), '{"type":"module"}');
  writeFileSync(join(tmp, 'bin/kafka-backup.js'), readFileSync(join(ROOT, 'bin/kafka-backup.js')));
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.ESNext, // NodeNext would need the package.json beside the file to pick ESM
    target: ts.ScriptTarget.ES2023,
    rewriteRelativeImportExtensions: true,
  };
  for (const f of ['main', 'node-support']) {
    const src = readFileSync(join(ROOT, `src/cli/${f}.ts`), 'utf8');
    const js = ts.transpileModule(src, { compilerOptions: options, fileName: `${f}.ts` }).outputText;
    writeFileSync(join(tmp, `dist/cli/${f}.js`), js);
  }
  writeFileSync(join(tmp, 'dist/cli/program.js'), "throw new TypeError('program.js loaded');\n");
  assertOneLine(spawnSync(old.path!, [join(tmp, 'bin/kafka-backup.js'), '--version'], { encoding: 'utf8' }));
  // The same copy on this Node gets past the check to program.js, so the stub is what stops it
  // (--help: a bare --version is answered without loading the program).
  const ok = spawnSync(process.execPath, [join(tmp, 'bin/kafka-backup.js'), '--help'], { encoding: 'utf8' });
  assert.match(ok.stderr, /program\.js loaded/);
});

const built = existsSync(join(ROOT, 'dist/cli/main.js')) && existsSync(join(ROOT, 'dist/cli/node-support.js'));
test('bin/kafka-backup.js under an old Node: one line, exit 1 (the build in dist/)', {
  skip: (!old.path && old.reason) || (!built && 'dist/ has no build of the current entry: run npm run build'),
}, () => {
  for (const args of [['--version'], ['backup', '-c', 'none.yaml']]) {
    assertOneLine(spawnSync(old.path!, [join(ROOT, 'bin/kafka-backup.js'), ...args], { encoding: 'utf8' }));
  }
});
