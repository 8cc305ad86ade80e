/**
 * The documented exit codes (README "Exit codes"), each from a real command:
 *   0 success; 1 environment (unreachable broker: the message names the brokers and what to
 *   check, no stack trace); 2 usage/config (bad config, unknown backup_id); 3 integrity
 *   (validate on a corrupted data file and on a corrupted manifest); 4 partial (a topic deleted
 *   while it is backed up); 130 interrupted (SIGTERM during a snapshot backup).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cli, jsonOut, startCli, stderrMatches, tempDir, writeConfig } from '../../helpers/cli.ts';
import {
  createTopic,
  deleteTopic,
  deleteTopics,
  KAFKA_BOOTSTRAP,
  produceWithPerf,
  uniqueTopic,
} from '../../helpers/kafka.ts';

const noStack = (text: string) => assert.doesNotMatch(text, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');

function files(dir: string, suffix: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p, suffix));
    else if (p.endsWith(suffix)) out.push(p);
  }
  return out.sort();
}

describe('exit codes', { timeout: 300_000 }, () => {
  let topic: string;
  let dir: string;
  let store: string;
  const throttled = {
    max_bytes_per_sec: 1_000_000,
    max_batch_bytes: 131_072,
    fetch_max_bytes: 524_288,
    segment_max_bytes: 1_048_576,
  };

  before(async () => {
    topic = await createTopic(uniqueTopic('exit'), { partitions: 2 });
    await produceWithPerf(topic, 20_000, 300);
    dir = tempDir('exit');
    store = join(dir, 'backups');
  });
  after(() => deleteTopics([topic]));

  test('0: a successful backup', async () => {
    const config = writeConfig(dir, 'ok.yaml', {
      backup_id: 'ok',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: store },
    });
    const r = await cli(['backup', '-c', config, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(jsonOut<{ state: string }>(r).state, 'complete');
  });

  test('1: unreachable broker names the brokers and what to check, without a stack trace', async () => {
    const config = writeConfig(dir, 'unreachable.yaml', {
      backup_id: 'down',
      source: { bootstrap_servers: ['127.0.0.1:1'], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: store },
    });
    const r = await cli(['backup', '-c', config]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error: .*127\.0\.0\.1:1/m, 'names the brokers');
    assert.match(r.stderr, /^ {2}fix: check that the brokers at 127\.0\.0\.1:1 are running and reachable/m);
    noStack(r.stderr);
  });

  test('2: bad config, unknown backup_id', async () => {
    const bad = writeConfig(dir, 'bad.yaml', {
      backup_id: 'x',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: store },
      backup: { compresion: 'zstd' },
    });
    const r = await cli(['backup', '-c', bad]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /backup\.compresion/);
    noStack(r.stderr);
    const unknown = await cli(['describe', '--path', store, '--backup-id', 'nope']);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.match(unknown.stderr, /no backup 'nope'/);
    const unknownStatus = await cli(['status', '--path', store, '--backup-id', 'nope']);
    assert.equal(unknownStatus.code, 2);
  });

  test('3: validate finds a corrupted data file, and a corrupted manifest', async () => {
    const ok = await cli(['validate', '--path', store, '--backup-id', 'ok', '--deep']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const data = files(join(store, 'ok', 'data'), '.kbs');
    assert.ok(data.length > 0);
    const f = data[0]!;
    const bytes = readFileSync(f);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(f, bytes);
    const deep = await cli(['validate', '--path', store, '--backup-id', 'ok', '--deep']);
    assert.equal(deep.code, 3, deep.stdout + deep.stderr);
    noStack(deep.stderr);
    // the checkpoint every reader opens the line from
    const checkpoints = files(join(store, 'ok', 'checkpoints'), '.json.zst');
    const m = checkpoints[checkpoints.length - 1]!;
    const cp = readFileSync(m);
    cp[Math.floor(cp.length / 2)]! ^= 0x01;
    writeFileSync(m, cp);
    const shallow = await cli(['validate', '--path', store, '--backup-id', 'ok']);
    assert.equal(shallow.code, 3, shallow.stdout + shallow.stderr);
    assert.match(shallow.stdout + shallow.stderr, /manifest|digest/i);
  });

  // A topic deleted mid-backup is marked failed; the other topics complete (exit 4).
  test('4: a topic deleted during the backup fails, the others complete (partial)', async () => {
    const doomed = await createTopic(uniqueTopic('exit-doomed'), { partitions: 2 });
    await produceWithPerf(doomed, 20_000, 300);
    const config = writeConfig(dir, 'partial.yaml', {
      backup_id: 'partial',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic, doomed] } },
      storage: { backend: 'filesystem', path: store },
      backup: { ...throttled, max_concurrent_partitions: 4 },
    });
    const { child, done } = startCli(['backup', '-c', config, '--format', 'json'], { KAFKA_BACKUP_LOG_LEVEL: 'info' });
    // delete once the snapshot's end offsets include the doomed topic, not before the run has listed it
    await stderrMatches(child, /backup started/);
    await deleteTopic(doomed);
    const guard = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const r = await done;
    clearTimeout(guard);
    assert.equal(r.code, 4, r.stderr.slice(-2000));
    assert.match(r.stderr, /^error: backup partial: 1 topic\(s\) failed, the rest completed/m);
    const doc = jsonOut<{ state: string; failures: { topic: string }[] }>(r);
    assert.deepEqual(
      doc.failures.map((x) => x.topic),
      [doomed],
    );
  });

  test('130: SIGTERM during a snapshot backup', async () => {
    const config = writeConfig(dir, 'term.yaml', {
      backup_id: 'term',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: store },
      backup: throttled,
    });
    const { child, done } = startCli(['backup', '-c', config], { KAFKA_BACKUP_LOG_LEVEL: 'info' });
    await stderrMatches(child, /backup started/);
    child.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 130, r.stderr.slice(-2000));
    assert.match(r.stderr, /interrupted before reaching its snapshot's end offsets/);
    assert.match(r.stderr, /fix: run the same command again/);
    noStack(r.stderr);
  });
});
