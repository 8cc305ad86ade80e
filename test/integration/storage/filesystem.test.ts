import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FilesystemBackend } from '../../../src/storage/filesystem.ts';
import { assertStorageError, runBackendSuite } from './backend-suite.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'kb-fs-'));
  dirs.push(d);
  return d;
}

runBackendSuite('filesystem', async () => new FilesystemBackend({ path: await tempDir() }));

describe('filesystem specifics', () => {
  test('no temp files remain after put, commit and abort', async () => {
    const root = await tempDir();
    const b = new FilesystemBackend({ path: root });
    await b.put('d/a', Buffer.from('a'));
    await b.put('d/a', Buffer.from('b'), { ifAbsent: true }).catch(() => {});
    const w = await b.openWriter('d/b');
    await w.write(Buffer.from('x'));
    await w.commit();
    const w2 = await b.openWriter('d/c');
    await w2.write(Buffer.from('x'));
    assert.equal((await readdir(join(root, 'd'))).length, 3); // a, b, temp of c
    await w2.abort();
    assert.deepEqual((await readdir(join(root, 'd'))).sort(), ['a', 'b']);
  });

  test('permission denied is permanent and names the path', { skip: process.getuid?.() === 0 }, async () => {
    const root = await tempDir();
    await chmod(root, 0o500);
    const b = new FilesystemBackend({ path: root });
    await assertStorageError(b.put('x', Buffer.from('x')), 'permanent', /permission/);
    await chmod(root, 0o700);
  });
});
