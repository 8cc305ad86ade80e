/**
 * Progress and logs as an operator sees them: a live line on a TTY, one plain line per interval
 * without one, nothing with --quiet; JSON log lines with level, time, component and backup_id.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { cli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, produceWithPerf, REPO_ROOT, uniqueTopic } from '../../helpers/kafka.ts';

describe('progress and logs', { timeout: 300_000 }, () => {
  let dir: string;
  let topic: string;
  let n = 0;
  const config = () =>
    writeConfig(dir, `b${++n}.yaml`, {
      backup_id: `progress-${n}`,
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      storage: { backend: 'filesystem', path: join(dir, 'backups') },
      backup: { max_bytes_per_sec: 3_000_000 },
    });
  const env = { KAFKA_BACKUP_PROGRESS_INTERVAL_MS: '300' };

  before(async () => {
    topic = await createTopic(uniqueTopic('progress'), { partitions: 2 });
    await produceWithPerf(topic, 20_000, 300);
    dir = tempDir('progress');
  });

  test('without a TTY: plain progress lines at the interval, JSON logs with context fields', async () => {
    const r = await cli(['backup', '-c', config()], env);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.split('\n').filter(Boolean);
    const progress = lines.filter((l) => /^backup progress-\d+: \d+ records, .* partitions done/.test(l));
    assert.ok(progress.length >= 2, `progress lines: ${progress.length}`);
    const logs = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(logs.length > 0);
    for (const l of logs) {
      assert.ok(typeof l['level'] === 'string' && typeof l['time'] === 'string' && typeof l['component'] === 'string');
      assert.equal(l['backup_id'], `progress-${n}`);
    }
  });

  test('--quiet: no progress lines', async () => {
    const r = await cli(['--quiet', 'backup', '-c', config()], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.split('\n').filter((l) => /partitions done/.test(l)).length, 0);
  });

  test('on a TTY: one live line, redrawn in place', { skip: !existsSync('/usr/bin/script') && 'no script(1)' }, () => {
    const cmd = `${process.execPath} src/cli/main.ts backup -c ${config()} 2>&1`;
    const r = spawnSync('script', ['-qefc', cmd, '/dev/null'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stdout);
    assert.ok(r.stdout.includes('\r\x1b[2K'), 'the line is redrawn with carriage return and clear-line');
    assert.ok((r.stdout.match(/partitions done/g) ?? []).length >= 2, 'updated several times');
  });
});
