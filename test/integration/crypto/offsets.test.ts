/**
 * Consumer-group offsets of an encrypted line: captured (sealed: the group name is nowhere in
 * clear), restored, and planned by `offsets plan` with the key; without it, exit 5.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cli, jsonOut, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, uniqueTopic } from '../../helpers/kafka.ts';
import { consumeAsGroup, groupOffsets, produceSpec } from '../../helpers/peers.ts';

describe('consumer-group offsets of an encrypted line', { timeout: 600_000 }, () => {
  test('captured sealed, planned with the key, refused without it', async () => {
    const dir = tempDir('crypto-offsets');
    const backups = join(dir, 'backups');
    const keyFile = join(dir, 'line.key');
    writeFileSync(keyFile, randomBytes(32));
    const topic = await createTopic(uniqueTopic('crypto-offsets'), { partitions: 2 });
    const group = `payments-reconciler-${Date.now().toString(36)}`;
    await produceSpec(
      topic,
      Array.from({ length: 100 }, (_, i) => ({ partition: i % 2, key: `k${i}`, value: `v${i}` })),
    );
    await consumeAsGroup(group, topic, 40);
    const target = `${topic}-restored`;
    const cfg = writeConfig(dir, 'config.yaml', {
      backup_id: 'enc',
      source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
      target: { bootstrap_servers: [KAFKA_BOOTSTRAP] },
      storage: { backend: 'filesystem', path: backups },
      backup: { encryption: { enabled: true, provider: 'raw', key_file: keyFile } },
      restore: { topic_mapping: { [topic]: target } },
    });
    const b = await cli(['backup', '-c', cfg]);
    assert.equal(b.code, 0, b.stderr);
    const stored = readdirSync(backups, { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
    for (const f of stored)
      assert.equal(
        readFileSync(join(f.parentPath, f.name)).includes(Buffer.from(group)),
        false,
        `${f.name} names the group`,
      );
    const r = await cli(['restore', '-c', cfg]);
    assert.equal(r.code, 0, r.stderr);

    const args = [
      'offsets',
      'plan',
      '--path',
      backups,
      '--backup-id',
      'enc',
      '--bootstrap',
      KAFKA_BOOTSTRAP,
      '--groups',
      group,
      '--format',
      'json',
    ];
    const locked = await cli(args);
    assert.equal(locked.code, 5, locked.stdout + locked.stderr);
    const plan = await cli(args, { KB_ENCRYPTION_KEY_FILE: keyFile });
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);
    const planned = JSON.stringify(jsonOut(plan));
    assert.ok(planned.includes(target), planned);
    assert.ok((await groupOffsets(group)).some((c) => c.topic === topic));
  });
});
