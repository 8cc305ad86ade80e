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

  test('a write that never completed is listed as incomplete under its key, and abortIncomplete removes it', async () => {
    const root = await tempDir();
    const b = new FilesystemBackend({ path: root });
    await b.put('line/data/a.kbs', Buffer.from('a'));
    const done = await b.openWriter('line/data/b.kbs');
    await done.write(Buffer.from('b'));
    await done.commit();
    const killed = await b.openWriter('line/data/c.kbs'); // neither committed nor aborted: a kill
    await killed.write(Buffer.from('xyz'));
    await b.put('other/d', Buffer.from('d'));
    const other = await b.openWriter('other/e');
    await other.write(Buffer.from('e'));
    const found = [];
    for await (const w of b.listIncomplete('line/')) found.push(w);
    assert.deepEqual(
      found.map((w) => [w.key, w.size]),
      [['line/data/c.kbs', 3]],
    );
    assert.match(found[0]!.id, /^line\/data\/\.c\.kbs\.kb-tmp-[0-9a-f]+$/);
    assert.ok(found[0]!.startedAt instanceof Date);
    const listed = [];
    for await (const o of b.list('line/')) listed.push(o.key);
    assert.deepEqual(listed, ['line/data/a.kbs', 'line/data/b.kbs'], 'objects are listed, the temp file is not');
    await b.abortIncomplete(found[0]!);
    await b.abortIncomplete(found[0]!); // already gone: not an error
    assert.deepEqual((await readdir(join(root, 'line', 'data'))).sort(), ['a.kbs', 'b.kbs']);
    await assert.rejects(
      b.abortIncomplete({ key: 'line/data/a.kbs', id: 'line/data/a.kbs', size: 1 }),
      /not a temporary file/,
    );
    assert.equal((await readdir(join(root, 'other'))).length, 2, 'writes outside the prefix are not touched');
    await other.abort();
    await killed.abort();
  });

  test('permission denied is permanent and names the path', { skip: process.getuid?.() === 0 }, async () => {
    const root = await tempDir();
    await chmod(root, 0o500);
    const b = new FilesystemBackend({ path: root });
    await assertStorageError(b.put('x', Buffer.from('x')), 'permanent', /permission/);
    await chmod(root, 0o700);
  });
});
