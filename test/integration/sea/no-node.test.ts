/**
 * The first "done when": the single executable runs the demo's backup, validate --deep
 * and restore against the local broker with PATH holding no Node at all (PATH is one empty
 * folder, the environment has nothing else, and the executable is called by its absolute path).
 * The restored topic is compared with the source by Kafka's Java consumer. Producer compression
 * lz4 and snappy makes validate --deep decompress Kafka batches with the client's bundled
 * WebAssembly codecs; the CRC-32C checks run on the embedded native addon, on the JavaScript
 * fallback (KB_CRC32C=js), and on the fallback chosen because the addon cannot be written out.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CliResult, jsonOut, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, deleteTopics, KAFKA_BOOTSTRAP, produceWithPerf, uniqueTopic } from '../../helpers/kafka.ts';
import { type DumpedRecord, dumpTopic } from '../../helpers/peers.ts';
import { run } from './run.ts';
import { EXECUTABLE } from './start.ts';

const strip = (r: DumpedRecord) => ({
  key: r.key,
  value: r.value,
  headers: r.headers,
  timestamp: r.timestamp,
  partition: r.partition,
});

describe('single executable with no Node on PATH', { timeout: 300_000 }, () => {
  let topic: string;
  let dir: string;
  let emptyPath: string;
  let backups: string;

  /** The executable with exactly this environment: PATH = an empty folder, plus `env`. */
  function exe(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
    return run(EXECUTABLE, args, dir, { PATH: emptyPath, ...env });
  }

  before(async () => {
    dir = tempDir('sea-no-node');
    emptyPath = join(dir, 'empty-bin');
    mkdirSync(emptyPath);
    backups = join(dir, 'backups');
    topic = await createTopic(uniqueTopic('sea'), { partitions: 3 });
    await produceWithPerf(topic, 3000, 200, { producerProps: { 'compression.type': 'lz4' } });
    await produceWithPerf(topic, 3000, 200, { producerProps: { 'compression.type': 'snappy' } });
    writeConfig(dir, 'backup.yaml', {
      backup_id: 'demo',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: backups },
      backup: { mode: 'snapshot', compression: 'zstd' },
    });
    writeConfig(dir, 'restore.yaml', {
      backup_id: 'demo',
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage: { backend: 'filesystem', path: backups },
      restore: { topics: { include: [topic] }, topic_mapping: { [topic]: `${topic}-restored` } },
    });
  });
  after(() => deleteTopics([topic, `${topic}-restored`]));

  test('no node is found on that PATH', () => {
    const r = spawnSync('node', ['--version'], { env: { PATH: emptyPath } });
    assert.equal((r.error as NodeJS.ErrnoException | undefined)?.code, 'ENOENT');
  });

  test('--version and --help', async () => {
    const v = await exe(['--version']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout.trim(), /^\d+\.\d+\.\d+/);
    const h = await exe(['--help']);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /Usage: kafka-backup/);
  });

  test('backup, then validate --deep (native CRC-32C, the JS fallback, and the fallback on a failed load)', async () => {
    const b = await exe(['backup', '-c', join(dir, 'backup.yaml'), '--format', 'json']);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(jsonOut<{ state: string }>(b).state, 'complete');

    const validate = ['validate', '--path', backups, '--backup-id', 'demo', '--deep'];
    // validate takes no config, so its log level comes from the environment
    const v = await exe(validate, { KAFKA_BACKUP_LOG_LEVEL: 'debug' });
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stderr, /native CRC-32C loaded from the executable/);

    const js = await exe(validate, { KB_CRC32C: 'js' });
    assert.equal(js.code, 0, js.stdout + js.stderr);
    assert.doesNotMatch(js.stderr, /native CRC-32C/);

    // TMPDIR that does not exist: the addon cannot be written out, so the fallback runs, with a warning
    const failed = await exe(validate, { TMPDIR: join(dir, 'no-such-dir') });
    assert.equal(failed.code, 0, failed.stdout + failed.stderr);
    assert.match(failed.stderr, /cannot load the native CRC-32C/);
  });

  test('restore reproduces every record, as Kafka’s consumer reads it', async () => {
    const r = await exe(['restore', '-c', join(dir, 'restore.yaml'), '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const src = await dumpTopic(topic);
    const dst = await dumpTopic(`${topic}-restored`);
    assert.equal(src.length, 6000);
    assert.equal(dst.length, src.length);
    const order = (a: DumpedRecord, b: DumpedRecord) => a.partition - b.partition || a.offset - b.offset;
    assert.deepEqual(dst.sort(order).map(strip), src.sort(order).map(strip));
  });
});
