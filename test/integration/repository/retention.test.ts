/**
 * Retention end to end, with the CLI against the real broker, records compared with Kafka's own
 * Java consumer: forget (keep-last, keep-within, keep-tag) and prune on a line of incremental
 * snapshots, on the filesystem and on S3, Azure and GCS; the maintenance lease; and
 * backup.retention.max_age plus forget and prune running beside a live continuous backup.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import { cli, jsonOut, startCli, tempDir, writeConfig } from '../../helpers/cli.ts';
import { createTopic, KAFKA_BOOTSTRAP, sleep, uniqueTopic } from '../../helpers/kafka.ts';
import { dumpTopic } from '../../helpers/peers.ts';
import {
  backends,
  type ForgetOut,
  incrementalLine,
  type Line,
  listSnapshots,
  ok,
  type PruneOut,
  produce,
  restoreEquals,
  stalledAt,
  validateDeep,
} from '../../helpers/retention-line.ts';

describe('retention: forget and prune', { timeout: 900_000 }, () => {
  for (const b of backends) {
    test(`forget (keep-last, keep-within, keep-tag) + prune round trip on ${b.name}`, async () => {
      const { topic, line, snaps } = await incrementalLine(b, 5, 3000);
      const listed = await listSnapshots(line);
      assert.equal(listed.length, 5);
      // keep-within: just over the time from s4 to s5 keeps those two, not s3
      const t = (id: string) => Date.parse(listed.find((s) => s.id === id)!.created);
      const within = Math.ceil((t(snaps[4]!.id) - t(snaps[3]!.id) + 1) / 1000);
      assert.ok(t(snaps[4]!.id) - t(snaps[2]!.id) > within * 1000, 'snapshots are spread enough for keep-within');
      const args = ['--path', line.url, '--backup-id', line.id, '--keep-last', '1', '--keep-within', `${within}s`];
      args.push('--keep-tag', 'release', '--format', 'json');

      const plan = jsonOut<ForgetOut>(ok(await cli(['forget', ...args, '--dry-run'], b.env), 'forget --dry-run'));
      const decision = Object.fromEntries(plan.snapshots.map((s) => [s.id, s]));
      assert.deepEqual(decision[snaps[4]!.id]!.reasons.sort(), ['last snapshot', `within ${within}s`]);
      assert.deepEqual(decision[snaps[3]!.id]!.reasons, [`within ${within}s`]);
      assert.deepEqual(decision[snaps[1]!.id]!.reasons, ['tag release']);
      assert.equal(decision[snaps[0]!.id]!.keep, false);
      assert.equal(decision[snaps[2]!.id]!.keep, false);
      assert.equal((await listSnapshots(line)).length, 5, 'a dry run changes nothing');

      const done = jsonOut<ForgetOut>(ok(await cli(['forget', ...args], b.env), 'forget'));
      assert.deepEqual(done.forgotten.sort(), [snaps[0]!.id, snaps[2]!.id].sort());
      const kept = [snaps[1]!, snaps[3]!, snaps[4]!];
      assert.deepEqual(
        (await listSnapshots(line)).map((s) => s.id).sort(),
        kept.map((s) => s.id).sort(),
        'forgotten snapshots are gone from list',
      );

      const dry = jsonOut<PruneOut>(
        ok(
          await cli(
            ['prune', '--path', line.url, '--backup-id', line.id, '--grace', '0', '--dry-run', '--format', 'json'],
            b.env,
          ),
          'prune --dry-run',
        ),
      );
      // per partition: files of s1+s2 and of s3+s4 merge (no kept snapshot ends between them)
      assert.equal(dry.repack.length, 4, JSON.stringify(dry.repack));
      const pruned = jsonOut<PruneOut>(
        ok(
          await cli(['prune', '--path', line.url, '--backup-id', line.id, '--grace', '0', '--format', 'json'], b.env),
          'prune',
        ),
      );
      assert.equal(pruned.repacked_files, 8);
      assert.ok(pruned.deleted.some((d) => d.why === 'unreferenced data file'));
      assert.ok(pruned.deleted.some((d) => d.why === 'capture of a forgotten snapshot'));
      const v = await validateDeep(line, 'after prune');
      assert.deepEqual(v.unlisted_files, [], 'no data file is left that the state does not list');
      const again = jsonOut<PruneOut>(
        ok(
          await cli(
            ['prune', '--path', line.url, '--backup-id', line.id, '--grace', '0', '--dry-run', '--format', 'json'],
            b.env,
          ),
          'prune again',
        ),
      );
      assert.deepEqual([again.deleted_objects, again.repack.length], [0, 0], JSON.stringify(again.deleted));
      for (const s of kept) await restoreEquals(line, topic, s.id, s.expected, `${b.name} snapshot ${s.id}`);

      // status and describe show the last prune
      const st = jsonOut<{ retention?: { last_prune?: { deleted_objects: number } } }>(
        ok(await cli(['status', '--path', line.url, '--backup-id', line.id, '--format', 'json'], b.env), 'status'),
      );
      assert.equal(st.retention?.last_prune?.deleted_objects, pruned.deleted_objects);
    });
  }

  test('a second prune is refused while one holds the lease', async () => {
    const { line } = await incrementalLine(backends[0]!, 2, 0);
    const args = ['prune', '--path', line.url, '--backup-id', line.id, '--grace', '0'];
    const { child, done } = await stalledAt(args, 'started');
    const second = await cli(args);
    child.kill('SIGKILL');
    await done;
    assert.equal(second.code, 2, second.stderr);
    assert.match(second.stderr, /holds the maintenance lease/);
  });

  // every backend: the lease and the writer's fencing are the storage's conditional writes
  for (const b of backends)
    test(`continuous line on ${b.name}: max_age drops old data as a retention-policy gap; forget and prune beside the live backup lose nothing`, async () => {
      const topic = await createTopic(uniqueTopic('ret-cont'), { partitions: 2 });
      const dir = tempDir(`ret-cont-${b.name}`);
      const storage = await b.storage();
      const line: Line = { dir, storage, url: b.url(storage), env: b.env, id: 'cont' };
      const day = 86_400_000;
      // records of 40 days ago (explicit CreateTime), then of today
      await produce(topic, 100, 2, Date.now() - 40 * day);
      const cfg = writeConfig(dir, 'backup.yaml', {
        backup_id: line.id,
        source: { bootstrap_servers: [KAFKA_BOOTSTRAP], topics: { include: [topic] } },
        storage,
        backup: {
          mode: 'continuous',
          segment_max_interval_secs: 1,
          checkpoint_interval_secs: 1,
          poll_interval_ms: 100,
          retention: { max_age: '30d', apply: 'end' },
        },
      });
      const backup = startCli(['backup', '-c', cfg], b.env);
      // the live snapshot is in progress: status counts what its files hold
      const described = async () =>
        jsonOut<{ topics: { records: number }[] }>(
          ok(await cli(['status', '--path', line.url, '--backup-id', line.id, '--format', 'json'], b.env), 'status'),
        ).topics.reduce((n, t) => n + t.records, 0);
      const waitFor = async (n: number) => {
        const deadline = Date.now() + 90_000;
        while (Date.now() < deadline) {
          if ((await described().catch(() => 0)) >= n) return;
          await sleep(300);
        }
        assert.fail(`the line did not reach ${n} records`);
      };
      await waitFor(100);
      await produce(topic, 100, 2);
      await waitFor(200);

      // forget --max-age while the backup runs: the backup takes the commit in and goes on
      const f = jsonOut<{ drops: { below: number; files: number }[]; seq: number }>(
        ok(
          await cli(
            ['forget', '--path', line.url, '--backup-id', line.id, '--max-age', '30d', '--format', 'json'],
            b.env,
          ),
          'forget --max-age',
        ),
      );
      assert.equal(f.drops.length, 2);
      assert.deepEqual(
        f.drops.map((d) => d.below),
        [50, 50],
      );
      // status (from the index summaries, no file lists): what the drop released, not yet pruned
      const retention = async () =>
        jsonOut<{
          retention: {
            topics: { dropped_offsets: number; oldest_restorable: string | null }[];
            reclaimable_files: number;
            reclaimable_bytes: number;
          };
        }>(ok(await cli(['status', '--path', line.url, '--backup-id', line.id, '--format', 'json'], b.env), 'status'))
          .retention;
      const beforePrune = await retention();
      assert.equal(beforePrune.topics[0]!.dropped_offsets, 100, 'both partitions dropped below 50');
      assert.ok(Date.parse(beforePrune.topics[0]!.oldest_restorable!) > Date.now() - day, 'the oldest is young');
      assert.equal(
        beforePrune.reclaimable_files,
        f.drops.reduce((n, d) => n + d.files, 0),
        'reclaimable: every file the drop released',
      );
      assert.ok(beforePrune.reclaimable_bytes > 0);
      // more records, and prunes (repack of the many 1-second files) beside the live writer
      const prunes: PruneOut[] = [];
      for (let i = 0; i < 3; i++) {
        await produce(topic, 100, 2);
        await sleep(1500);
        const args = ['prune', '--path', line.url, '--backup-id', line.id, '--grace', '5s', '--format', 'json'];
        prunes.push(jsonOut<PruneOut>(ok(await cli(args, b.env), 'prune beside the backup')));
      }
      await waitFor(400);
      assert.equal(backup.child.exitCode, null, 'the backup is still running');
      backup.child.kill('SIGTERM');
      const br = await backup.done;
      assert.equal(br.code, 0, br.stderr.slice(-3000));
      assert.doesNotMatch(br.stderr, /another writer committed/);

      const d = jsonOut<{
        totals: { records: number };
        topics: {
          name: string;
          oldest_restorable?: string;
          partitions: { gaps?: { cause: string; start: number; end: number }[] }[];
        }[];
      }>(
        ok(await cli(['describe', '--path', line.url, '--backup-id', line.id, '--format', 'json'], b.env), 'describe'),
      );
      assert.equal(d.totals.records, 400, 'the old records are dropped, every new one is in the line');
      for (const p of d.topics[0]!.partitions)
        assert.deepEqual(p.gaps?.[0], { start: 0, end: 50, cause: 'retention-policy' });
      assert.ok(Date.parse(d.topics[0]!.oldest_restorable!) > Date.now() - day, 'oldest restorable is a young record');
      const all = await dumpTopic(topic);
      const young = all.filter((r) => r.offset >= 50);
      assert.equal(young.length, 400);
      await validateDeep(line, 'after the live run');
      const snaps = await listSnapshots(line);
      await restoreEquals(line, topic, snaps.at(-1)!.id, young, 'continuous snapshot after retention');
      const pruned = jsonOut<PruneOut>(
        ok(
          await cli(['prune', '--path', line.url, '--backup-id', line.id, '--grace', '0', '--format', 'json'], b.env),
          'final prune',
        ),
      );
      // the dropped files go with the prunes beside the backup or with this one (which one depends
      // on how old they are by then): none starts below the drop any more
      assert.ok(
        [...prunes, pruned].some((p) => p.deleted.some((x) => x.why === 'unreferenced data file')),
        'the dropped files are deleted',
      );
      // on disk, also by looking: no data file left starts below the drop (elsewhere validate's
      // empty unlisted_files below says no released file is left)
      if (b.name === 'filesystem') {
        const firstOffsets = readdirSync(join(String(storage['path']), line.id, 'data'), {
          recursive: true,
          encoding: 'utf8',
        })
          .filter((f) => f.endsWith('.kbs'))
          .map((f) => Number(basename(f).slice(0, 20)));
        assert.ok(firstOffsets.length > 0 && firstOffsets.every((o) => o >= 50), `data files left: ${firstOffsets}`);
      }
      const v = await validateDeep(line, 'after the final prune');
      assert.deepEqual(v.unlisted_files, []);
      const afterPrune = await retention();
      assert.deepEqual([afterPrune.reclaimable_files, afterPrune.reclaimable_bytes], [0, 0], 'the prune freed it');
      assert.equal(afterPrune.topics[0]!.dropped_offsets, 100);
      await restoreEquals(line, topic, snaps.at(-1)!.id, young, 'continuous snapshot after prune');
    });
});
