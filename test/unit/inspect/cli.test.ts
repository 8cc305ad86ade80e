/** `list`, `describe` and `validate` as a user runs them, on a fixture line in a temp directory. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { keys } from '../../../src/format/manifest.ts';
import { FilesystemBackend } from '../../../src/storage/filesystem.ts';
import { cli as run, tempDir } from '../../helpers/cli.ts';
import { BACKUP, buildLine, type Fixture, MemoryStorage, positions } from './fixtures.ts';

async function fixtureDir(): Promise<{ dir: string; f: Fixture }> {
  const dir = tempDir('inspect-cli');
  const f = await buildLine(new MemoryStorage());
  const fs = new FilesystemBackend({ path: dir });
  for (const [k, v] of f.storage.objects) await fs.put(k, v);
  return { dir, f };
}

function flip(path: string, at: number): void {
  const b = readFileSync(path);
  b[at] = b[at]! ^ 0x01;
  writeFileSync(path, b);
}

describe('inspect CLI', () => {
  it('list: lines and snapshots as json, and as text', async () => {
    const { dir } = await fixtureDir();
    const r = await run(['list', '--path', dir, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.backups.length, 1);
    assert.equal(doc.backups[0].backup_id, BACKUP);
    assert.deepEqual(
      doc.backups[0].snapshots.map((s: { id: string; records: number; state: string }) => [s.id, s.state, s.records]),
      [
        ['s1', 'complete', 13],
        ['s2', 'complete', 24],
      ],
    );
    const t = await run(['list', '--path', dir]);
    assert.equal(t.code, 0);
    assert.match(t.stdout, /^backup line1/m);
    assert.match(t.stdout, /s2 .* complete +24 /);
  });

  it('list: a damaged newest manifest shows the previous generation and exits 3', async () => {
    const { dir } = await fixtureDir();
    const m2 = keys.manifest(BACKUP, 2);
    flip(join(dir, m2), 50);
    const r = await run(['list', '--path', dir, '--format', 'json']);
    assert.equal(r.code, 3, r.stderr);
    const line = JSON.parse(r.stdout).backups[0];
    assert.equal(line.generation, 1);
    assert.match(line.manifest_error, /digest/);
    assert.ok(r.stderr.includes(m2));
    const d = await run(['describe', '--path', dir, '--backup-id', BACKUP]);
    assert.equal(d.code, 3);
    assert.ok(d.stderr.includes(m2));
  });

  it('list on an empty location', async () => {
    const r = await run(['list', '--path', tempDir('empty'), '--format', 'yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /backups: \[\]/);
  });

  it('describe: default snapshot, named snapshot, unknown snapshot', async () => {
    const { dir } = await fixtureDir();
    const r = await run(['describe', '--path', dir, '--backup-id', BACKUP, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout);
    assert.equal(d.snapshot.id, 's2');
    assert.equal(d.topics[0].partitions[0].records, 21);
    const s1 = JSON.parse(
      (await run(['describe', '--path', dir, '--backup-id', BACKUP, '--snapshot', 's1', '--format', 'json'])).stdout,
    );
    assert.equal(s1.totals.records, 13);
    const text = await run(['describe', '--path', dir, '--backup-id', BACKUP]);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /topic orders +id AAAAAAAAAAAAAAAAAAAAAA +partitions 2/);
    assert.match(text.stdout, /\[10, 15\) retention/);
    const bad = await run(['describe', '--path', dir, '--backup-id', BACKUP, '--snapshot', 'nope']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /no snapshot 'nope'/);
    assert.match(bad.stderr, /s1 \(complete\), s2 \(complete\)/);
    const unknown = await run(['describe', '--path', dir, '--backup-id', 'other']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /backups there: line1/);
  });

  it('validate: exit 0 when sound, 3 naming every bad file', async () => {
    const { dir, f } = await fixtureDir();
    const ok = await run(['validate', '--path', dir, '--backup-id', BACKUP, '--deep', '--format', 'json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).ok, true);

    const a = f.files.p0a.key;
    const c = f.files.p1a.key;
    flip(join(dir, a), positions(f.storage.objects.get(a)!).blocks[0]!.payload + 1);
    flip(join(dir, c), positions(f.storage.objects.get(c)!).footer + 9);
    const m1 = keys.manifest(BACKUP, 1);
    flip(join(dir, m1), 10);
    const r = await run(['validate', '--path', dir, '--backup-id', BACKUP, '--deep', '--format', 'json']);
    assert.equal(r.code, 3, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepEqual([...report.bad_files].sort(), [a, c, m1].sort());
    for (const k of [a, c, m1]) assert.ok(r.stderr.includes(k), `stderr names ${k}`);
    const shallow = await run(['validate', '--path', dir, '--backup-id', BACKUP]);
    assert.equal(shallow.code, 0, 'shallow checks sizes and the newest manifest only');
    const text = await run(['validate', '--path', dir, '--backup-id', BACKUP, '--deep']);
    assert.equal(text.code, 3);
    assert.match(text.stdout, new RegExp(`^BAD ${a}$\\n +block 0: payload checksum mismatch`, 'm'));
  });
});
