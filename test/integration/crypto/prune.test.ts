/**
 * prune repacks an encrypted line: a continuous backup rolling a data file every second leaves many
 * small sealed files; prune merges them into files sealed under keys of their own (a fresh salt per
 * file, the line's active master key), commits, and deletes the old ones. Then validate --deep, a
 * restore compared record by record with what Kafka's own Java consumer reads, and a raw search of
 * every stored object for the records' keys, values and header values.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cli, jsonOut, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, sleep, uniqueTopic } from '../../helpers/kafka.ts';
import { type DumpedRecord, dumpTopic, produceSpec } from '../../helpers/peers.ts';
import { ok, type PruneOut } from '../../helpers/retention-line.ts';

function storedFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

/** The encryption step of a data file's header (in clear, before the first block). */
function encryptionStep(file: string): { key_id: string; salt: string } {
  const b = readFileSync(file);
  const header = JSON.parse(b.subarray(12, 12 + b.readUInt32BE(8)).toString('utf8')) as {
    codec_chain: { type: string; key_id: string; salt: string }[];
  };
  const step = header.codec_chain.find((s) => s.type === 'encryption');
  assert.ok(step, `${file} has an encryption step`);
  return step;
}

const strip = (r: DumpedRecord) => [r.partition, r.key, r.value, r.headers, r.timestamp];

describe('prune on an encrypted line', { timeout: 900_000 }, () => {
  test('repacks the small files of a continuous backup under fresh keys; the line stays exact and sealed', async () => {
    const dir = tempDir('crypto-prune');
    const backups = join(dir, 'backups');
    const keyFile = join(dir, 'line.key');
    writeFileSync(keyFile, randomBytes(32));
    const env = { KB_ENCRYPTION_KEY_FILE: keyFile };
    const topic = await createTopic(uniqueTopic('crypto-prune'), { partitions: 2 });
    const needles: Buffer[] = [];
    let produced = 0;
    const produce = async (n: number) => {
      const recs = Array.from({ length: n }, (_, j) => {
        const i = produced + j;
        return {
          partition: i % 2,
          key: `acct-key-${i}-private`,
          value: `iban-DE${1000 + i}-secret-value`,
          headers: [['trace', `hdr-secret-${i}`]] as [string, string][],
        };
      });
      produced += n;
      for (const r of recs) needles.push(Buffer.from(r.key), Buffer.from(r.value), Buffer.from(r.headers[0]![1]));
      await produceSpec(topic, recs);
    };
    const storage = { backend: 'filesystem', path: backups };
    const cfg = writeConfig(dir, 'backup.yaml', {
      backup_id: 'enc',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage,
      backup: {
        mode: 'continuous',
        compression: 'none',
        segment_max_interval_secs: 1,
        checkpoint_interval_secs: 1,
        poll_interval_ms: 100,
        encryption: { enabled: true, provider: 'raw', key_file: keyFile },
      },
    });
    const records = async () =>
      jsonOut<{ topics: { records: number }[] }>(
        ok(await cli(['status', '--path', backups, '--backup-id', 'enc', '--format', 'json'], env), 'status'),
      ).topics.reduce((n, t) => n + t.records, 0);
    const waitFor = async (n: number) => {
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        if ((await records().catch(() => 0)) >= n) return;
        await sleep(300);
      }
      assert.fail(`the line did not reach ${n} records`);
    };
    const backup = startCli(['backup', '-c', cfg]);
    for (let round = 1; round <= 5; round++) {
      await produce(40);
      await waitFor(40 * round);
      await sleep(1200); // the next roll closes this round's files
    }
    backup.child.kill('SIGTERM');
    const br = await backup.done;
    assert.equal(br.code, 0, br.stderr.slice(-3000));

    const dataFiles = () => storedFiles(join(backups, 'enc', 'data')).filter((f) => f.endsWith('.kbs'));
    const before = dataFiles();
    assert.ok(before.length >= 6, `${before.length} small data files`);
    const oldSalts = new Set(before.map((f) => encryptionStep(f).salt));
    const keyIds = new Set(before.map((f) => encryptionStep(f).key_id));
    assert.equal(oldSalts.size, before.length, 'every file has a key of its own');

    const dry = jsonOut<PruneOut>(
      ok(
        await cli(
          ['prune', '--path', backups, '--backup-id', 'enc', '--grace', '0', '--dry-run', '--format', 'json'],
          env,
        ),
        'prune --dry-run',
      ),
    );
    assert.ok(dry.repack.length > 0, JSON.stringify(dry.repack));
    const pruned = jsonOut<PruneOut & { problems: string[] }>(
      ok(
        await cli(['prune', '--path', backups, '--backup-id', 'enc', '--grace', '0', '--format', 'json'], env),
        'prune',
      ),
    );
    assert.deepEqual(pruned.problems, []);
    assert.ok(pruned.repacked_files >= 4, `repacked ${pruned.repacked_files} files`);
    const into = pruned.repack.map((r) => r.into).filter((k): k is string => k !== null);
    assert.equal(into.length, dry.repack.length, 'every planned group was repacked');
    assert.ok(pruned.deleted.filter((d) => d.why === 'unreferenced data file').length >= pruned.repacked_files);

    const after = dataFiles();
    assert.ok(after.length < before.length, `${before.length} files became ${after.length}`);
    for (const k of into) {
      const step = encryptionStep(join(backups, k));
      assert.ok(!oldSalts.has(step.salt), `${k} is sealed under a key of its own, not one of a source file`);
      assert.ok(keyIds.has(step.key_id), `${k} names the line's master key`);
    }
    const newSalts = after.map((f) => encryptionStep(f).salt);
    assert.equal(new Set(newSalts).size, newSalts.length, 'no two files share a key');

    const v = await cli(['validate', '--path', backups, '--backup-id', 'enc', '--deep', '--format', 'json'], env);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.deepEqual(jsonOut<{ unlisted_files: string[] }>(v).unlisted_files, []);
    const locked = await cli(['validate', '--path', backups, '--backup-id', 'enc', '--deep']);
    assert.equal(locked.code, 5, 'the repacked line still needs its key');

    const target = `${topic}-restored`;
    const rc = writeConfig(dir, 'restore.yaml', {
      backup_id: 'enc',
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage,
      backup: { encryption: { provider: 'raw', key_file: keyFile } },
      restore: { topic_mapping: { [topic]: target } },
    });
    ok(await cli(['restore', '-c', rc, '--format', 'json']), 'restore');
    const src = await dumpTopic(topic);
    assert.equal(src.length, 200);
    assert.deepEqual((await dumpTopic(target)).map(strip), src.map(strip));

    const holders = storedFiles(backups).filter((f) => {
      const b = readFileSync(f);
      return needles.some((n) => b.includes(n));
    });
    assert.deepEqual(holders, [], 'no stored object holds a record key, value or header value');
  });
});
