import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { encodeManifest, keys } from '../../../src/format/manifest.ts';
import { checkCoverage } from '../../../src/inspect/coverage.ts';
import { validateLine } from '../../../src/inspect/validate.ts';
import { verifyFile } from '../../../src/inspect/verify.ts';
import { BACKUP, batch, buildLine, positions, recs, T0, TOPIC, TOPIC_ID, writeFile } from './fixtures.ts';

const ctx = { backup_id: BACKUP, topic: TOPIC, topic_id: TOPIC_ID, partition: 0 };

describe('validateLine on a sound line', () => {
  it('passes shallow and deep', async () => {
    const f = await buildLine();
    const shallow = await validateLine(f.storage, BACKUP);
    assert.deepEqual(shallow.problems, []);
    assert.equal(shallow.ok, true);
    assert.equal(shallow.generation, 2);
    assert.equal(shallow.generations_checked, 1);
    assert.equal(shallow.files_listed, 4);
    assert.equal(shallow.files_read, 0);
    const deep = await validateLine(f.storage, BACKUP, { deep: true, concurrency: 2 });
    assert.deepEqual(deep.problems, []);
    assert.equal(deep.generations_checked, 2);
    assert.equal(deep.files_read, 4);
  });

  it('reports unlisted data files without failing', async () => {
    const f = await buildLine();
    await f.storage.put(`${BACKUP}/data/${TOPIC}/0/orphan.kbs`, Buffer.from('x'));
    const r = await validateLine(f.storage, BACKUP, { deep: true });
    assert.equal(r.ok, true);
    assert.deepEqual(r.unlisted_files, [`${BACKUP}/data/${TOPIC}/0/orphan.kbs`]);
  });

  it('refuses an unknown backup id, listing the ones that exist', async () => {
    const f = await buildLine();
    await assert.rejects(validateLine(f.storage, 'nope'), (e: Error & { exitCode?: number; hint?: string }) => {
      assert.equal(e.exitCode, 2);
      assert.match(e.hint ?? '', /line1/);
      return true;
    });
  });
});

describe('validateLine finds corruption', () => {
  const cases = [
    { name: 'a flipped byte in a block payload', file: 'p0a', at: (b: Buffer) => positions(b).blocks[1]!.payload + 3 },
    { name: 'a flipped byte in a block header', file: 'p0b', at: (b: Buffer) => positions(b).blocks[0]!.header + 20 },
    { name: 'a flipped byte in the footer', file: 'p0c', at: (b: Buffer) => positions(b).footer + 12 },
    { name: 'a flipped byte in the preamble', file: 'p1a', at: () => 14 },
    { name: 'a flipped byte in the trailer', file: 'p0a', at: (b: Buffer) => b.length - 12 },
  ] as const;
  for (const c of cases) {
    it(`${c.name}: deep names exactly that file`, async () => {
      const f = await buildLine();
      const key = f.files[c.file].key;
      f.storage.flip(key, c.at(f.storage.objects.get(key)!));
      const shallow = await validateLine(f.storage, BACKUP);
      assert.equal(shallow.ok, true, 'a flipped byte keeps the size: shallow cannot see it');
      const r = await validateLine(f.storage, BACKUP, { deep: true });
      assert.equal(r.ok, false);
      assert.deepEqual(r.bad_files, [key]);
    });
  }

  it('names every bad file, not just the first', async () => {
    const f = await buildLine();
    for (const name of ['p0a', 'p0c', 'p1a'] as const) {
      const key = f.files[name].key;
      f.storage.flip(key, positions(f.storage.objects.get(key)!).blocks[0]!.payload);
    }
    const r = await validateLine(f.storage, BACKUP, { deep: true, concurrency: 4 });
    assert.deepEqual(r.bad_files, [f.files.p0a.key, f.files.p0c.key, f.files.p1a.key]);
    for (const p of r.problems) assert.match(p.problem, /payload checksum mismatch/);
  });

  it('a flipped byte in an old manifest generation: deep names it, shallow does not read it', async () => {
    const f = await buildLine();
    const key = keys.manifest(BACKUP, 1);
    f.storage.flip(key, 40);
    assert.equal((await validateLine(f.storage, BACKUP)).ok, true);
    const r = await validateLine(f.storage, BACKUP, { deep: true });
    assert.deepEqual(r.bad_files, [key]);
    assert.match(r.problems[0]!.problem, /digest/);
    assert.equal(r.files_read, 4, 'the files of the newest generation are still checked');
  });

  it('a flipped byte in the newest manifest: named, and the previous generation is checked instead', async () => {
    const f = await buildLine();
    const key = keys.manifest(BACKUP, 2);
    f.storage.flip(key, 100);
    for (const deep of [false, true]) {
      const r = await validateLine(f.storage, BACKUP, { deep });
      assert.deepEqual(r.bad_files, [key]);
      assert.equal(r.generation, 1);
    }
  });

  it('a missing file and a file of the wrong size', async () => {
    const f = await buildLine();
    await f.storage.delete(f.files.p0b.key);
    await f.storage.put(f.files.p1a.key, Buffer.concat([f.storage.objects.get(f.files.p1a.key)!, Buffer.from([0])]));
    const r = await validateLine(f.storage, BACKUP);
    assert.deepEqual(r.bad_files, [f.files.p0b.key, f.files.p1a.key]);
    assert.match(r.problems[0]!.problem, /missing/);
    assert.match(r.problems[1]!.problem, /size/);
  });

  it('a hole in the coverage of a partition names the manifest', async () => {
    const f = await buildLine();
    const m = structuredClone(f.gen2);
    m.generation = 3;
    m.topics[TOPIC]!.partitions['0']!.gaps.shift();
    await f.storage.put(keys.manifest(BACKUP, 3), encodeManifest(m));
    const r = await validateLine(f.storage, BACKUP);
    assert.deepEqual(r.bad_files, [keys.manifest(BACKUP, 3)]);
    assert.match(r.problems[0]!.problem, /orders-0: offsets 10\.\.14 are in no file and no gap/);
  });

  it('a manifest entry whose CRC-32C differs (file replaced)', async () => {
    const f = await buildLine();
    const m = structuredClone(f.gen2);
    m.generation = 3;
    const entry = m.topics[TOPIC]!.partitions['1']!.files[0]!;
    assert.match(entry.crc32c ?? '', /^[0-9a-f]{8}$/);
    entry.crc32c = entry.crc32c === '00000000' ? '00000001' : '00000000';
    await f.storage.put(keys.manifest(BACKUP, 3), encodeManifest(m));
    const r = await validateLine(f.storage, BACKUP, { deep: true });
    assert.deepEqual(r.bad_files, [f.files.p1a.key]);
    assert.match(r.problems[0]!.problem, /CRC-32C of the file differs/);
  });

  it('a manifest entry that records SHA-256 is checked with SHA-256', async () => {
    const f = await buildLine();
    const m = structuredClone(f.gen2);
    m.generation = 3;
    const entry = m.topics[TOPIC]!.partitions['1']!.files[0]!;
    const bytes = await f.storage.get(entry.key);
    delete entry.crc32c;
    entry.sha256 = createHash('sha256').update(bytes).digest('hex');
    await f.storage.put(keys.manifest(BACKUP, 3), encodeManifest(m));
    assert.equal((await validateLine(f.storage, BACKUP, { deep: true })).ok, true);
    entry.sha256 = '0'.repeat(64);
    m.generation = 4;
    await f.storage.put(keys.manifest(BACKUP, 4), encodeManifest(m));
    const r = await validateLine(f.storage, BACKUP, { deep: true });
    assert.deepEqual(r.bad_files, [f.files.p1a.key]);
    assert.match(r.problems[0]!.problem, /SHA-256 of the file differs/);
  });

  it('a manifest entry without any file checksum', async () => {
    const f = await buildLine();
    const m = structuredClone(f.gen2);
    m.generation = 3;
    delete m.topics[TOPIC]!.partitions['1']!.files[0]!.crc32c;
    await f.storage.put(keys.manifest(BACKUP, 3), encodeManifest(m));
    const r = await validateLine(f.storage, BACKUP, { deep: true });
    assert.deepEqual(r.bad_files, [f.files.p1a.key]);
    assert.match(r.problems[0]!.problem, /records no checksum/);
  });
});

describe('verifyFile content checks', () => {
  it('a block whose header claims the wrong record count', async () => {
    const f = await buildLine();
    const e = await writeFile(
      f.storage,
      0,
      [{ batches: [batch(0, recs(5, T0))], first: 0, last: 4, records: 4, minTs: T0, maxTs: T0 + 4 }],
      { seq: 9, skipped: { compaction: 1 } },
    );
    const problems = await verifyFile(e, ctx, await f.storage.load(e.key));
    assert.deepEqual(problems, ['block 0 [0..4]: holds 5 records in its range, its header says 4']);
  });

  it('a Kafka batch whose own CRC fails (damaged before the block was written)', async () => {
    const f = await buildLine();
    const b = batch(0, recs(3, T0));
    b[b.length - 2] = b[b.length - 2]! ^ 0xff;
    const e = await writeFile(
      f.storage,
      0,
      [{ batches: [b], first: 0, last: 2, records: 3, minTs: T0, maxTs: T0 + 2 }],
      {
        seq: 9,
      },
    );
    const problems = await verifyFile(e, ctx, await f.storage.load(e.key));
    assert.equal(problems.length, 2);
    assert.match(problems[0]!, /fails its CRC-32C/);
  });

  it('blocks out of order or outside the file range', async () => {
    const f = await buildLine();
    const e = await writeFile(
      f.storage,
      0,
      [
        { batches: [batch(5, recs(2, T0))], first: 5, last: 6, records: 2, minTs: T0, maxTs: T0 + 1 },
        { batches: [batch(3, recs(2, T0))], first: 3, last: 4, records: 2, minTs: T0, maxTs: T0 + 1 },
      ],
      { seq: 9, first: 5, last: 6 },
    );
    const problems = await verifyFile(e, ctx, await f.storage.load(e.key));
    assert.ok(problems.some((p) => /block 1 \[3\.\.4\]: overlaps the previous block/.test(p)));
    assert.ok(problems.some((p) => /block 1 \[3\.\.4\]: outside the file's range/.test(p)));
  });

  it('records outside a block range are not counted (batch read from its middle)', async () => {
    const f = await buildLine();
    const problems = await verifyFile(f.files.p0c, ctx, await f.storage.load(f.files.p0c.key));
    assert.deepEqual(problems, []);
  });

  it('a header naming another partition', async () => {
    const f = await buildLine();
    const problems = await verifyFile(f.files.p1a, ctx, await f.storage.load(f.files.p1a.key));
    assert.deepEqual(problems, ['header names orders-1, expected orders-0']);
  });
});

describe('checkCoverage', () => {
  const file = (a: number, b: number) => ({ first_offset: a, last_offset: b, key: `f${a}` }) as never;
  it('accepts files and gaps that tile the range', () => {
    assert.deepEqual(
      checkCoverage({
        start_offset: 5,
        next_offset: 20,
        files: [file(10, 19), file(5, 7)],
        gaps: [{ start: 8, end: 10, cause: 'retention' }],
      }),
      [],
    );
    assert.deepEqual(checkCoverage({ start_offset: 5, next_offset: 5, files: [], gaps: [] }), []);
  });
  it('reports holes, overlaps and overruns', () => {
    assert.deepEqual(checkCoverage({ start_offset: 0, next_offset: 12, files: [file(0, 4), file(3, 9)], gaps: [] }), [
      'file f3 overlaps offsets below 5 already covered',
      'offsets 10..11 are in no file and no gap',
    ]);
    assert.deepEqual(checkCoverage({ start_offset: 0, next_offset: 5, files: [file(0, 9)], gaps: [] }), [
      'files or gaps reach 10, beyond next_offset 5',
    ]);
  });
});
