/**
 * Repository benchmark: a simulated long continuous backup driven through the real repository
 * layer (BackupLine: commits, consolidation, opening), with synthetic file entries and no Kafka.
 *
 *   node bench/repository.ts [--partitions 1000] [--days 30] [--roll-secs 300] [--checkpoint-secs 60]
 *                            [--measure-days 1,30] [--smoke]
 *
 * Every partition of one topic rolls a data file every --roll-secs (phases spread evenly), and
 * the writer commits every --checkpoint-secs of simulated time, as the backup engine does. The
 * store is a scratch directory (no fsync: this measures the repository, not the disk). At the
 * end of each measured day a child process opens the line three ways and reports time, objects
 * read and peak RSS: as the backup writer does at start-up (offsets only), as a restore of one
 * partition does, as `list` and `status` do (from the index summaries, no file lists), and (day 1
 * only) every file list (what list and status read before the summaries). For contrast, the version 1 manifest of
 * the same state is encoded and decoded at day 1 (and its size extrapolated: it grows linearly).
 *
 * Prints a table and writes bench/results/repository-<time>.json.
 */
import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { StorageError } from '../src/errors.ts';
import {
  decodeManifest,
  encodeManifest,
  type FileEntry,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type Manifest,
} from '../src/format/manifest.ts';
import { BackupLine } from '../src/repository/line.ts';
import type { ObjectInfo, ObjectWriter, PutOptions, StorageBackend } from '../src/storage/backend.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ID = 'sim';
const TOPIC = 'events';
const TOPIC_ID = 'Sim0TopicId0000000000A';

/** A store on a scratch directory without fsync, counting what is written and read. */
class ScratchStorage implements StorageBackend {
  readonly location: string;
  readonly root: string;
  writes = 0;
  bytesWritten = 0;
  reads = 0;
  constructor(root: string) {
    this.root = root;
    this.location = `scratch://${root}`;
  }
  private path(key: string) {
    return join(this.root, key);
  }
  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<void> {
    const p = this.path(key);
    mkdirSync(dirname(p), { recursive: true });
    try {
      writeFileSync(p, body, { flag: options.ifAbsent ? 'wx' : 'w' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new StorageError(`${key} exists`, 'already-exists');
      throw e;
    }
    this.writes++;
    this.bytesWritten += body.length;
  }
  async get(key: string): Promise<Buffer> {
    this.reads++;
    try {
      return readFileSync(this.path(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new StorageError(`${key} not found`, 'not-found');
      throw e;
    }
  }
  async stat(key: string): Promise<ObjectInfo> {
    try {
      return { key, size: statSync(this.path(key)).size };
    } catch {
      throw new StorageError(`${key} not found`, 'not-found');
    }
  }
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const base = this.path(prefix.endsWith('/') ? prefix : dirname(prefix));
    let names: string[] = [];
    try {
      names = readdirSync(base, { recursive: true, encoding: 'utf8' });
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const key = join(prefix.endsWith('/') ? prefix : `${dirname(prefix)}/`, n);
      if (!key.startsWith(prefix)) continue;
      const st = statSync(this.path(key));
      if (st.isFile()) yield { key, size: st.size };
    }
  }
  async load(key: string): Promise<Readable> {
    return Readable.from([await this.get(key)]);
  }
  async openWriter(_key: string): Promise<ObjectWriter> {
    throw new Error('not used by the repository layer');
  }
  async delete(key: string): Promise<void> {
    try {
      unlinkSync(this.path(key));
    } catch {}
  }
  async close(): Promise<void> {}
}

interface Args {
  partitions: number;
  days: number;
  rollSecs: number;
  checkpointSecs: number;
  measureDays: number[];
  smoke: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { partitions: 1000, days: 30, rollSecs: 300, checkpointSecs: 60, measureDays: [1, 30], smoke: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const v = () => inline ?? argv[++i]!;
    if (flag === '--partitions') a.partitions = Number(v());
    else if (flag === '--days') a.days = Number(v());
    else if (flag === '--roll-secs') a.rollSecs = Number(v());
    else if (flag === '--checkpoint-secs') a.checkpointSecs = Number(v());
    else if (flag === '--measure-days') a.measureDays = v().split(',').map(Number);
    else if (flag === '--smoke') a.smoke = true;
    else throw new Error(`unknown argument ${flag}`);
  }
  if (a.smoke) Object.assign(a, { partitions: 50, days: 2, measureDays: [1, 2] });
  return a;
}

const RECORDS_PER_FILE = 30_000;
const DAY = 86_400;

/** Deterministic noise, so entries compress like real ones (digests and sizes are not regular). */
let seed = 0x9e3779b9;
function noise(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
}

function entry(p: number, first: number, t: number, seq: number): FileEntry {
  return {
    key: `${ID}/data/${TOPIC}/${p}/${String(first).padStart(20, '0')}-mx585szye07326-${seq}.kbs`,
    size: 1_300_000 + Math.floor(noise() * 200_000),
    crc32c: Math.floor(noise() * 2 ** 32)
      .toString(16)
      .padStart(8, '0'),
    run_id: 'mx585szye07326',
    first_offset: first,
    last_offset: first + RECORDS_PER_FILE - 1,
    records: RECORDS_PER_FILE,
    batches: 470 + Math.floor(noise() * 20),
    blocks: 3,
    raw_bytes: 2_900_000 + Math.floor(noise() * 200_000),
    max_batch_bytes: 6_000 + Math.floor(noise() * 800),
    min_timestamp: 1_767_225_600_000 + t * 1000 - 300_000 + Math.floor(noise() * 1000),
    max_timestamp: 1_767_225_600_000 + t * 1000 - Math.floor(noise() * 1000),
    skipped: {},
    created_at: new Date(1_767_225_600_000 + t * 1000 + Math.floor(noise() * 1000)).toISOString(),
  };
}

interface DayFigures {
  day: number;
  commits: number;
  commit_bytes_avg: number;
  commit_bytes_max: number;
  consolidations: number;
  consolidation_bytes_avg: number;
  metadata_bytes_per_simulated_hour: number;
  file_entries_total: number;
  partition0_files: number;
  writer_rss_mib: number;
  heap_used_after_gc_mib: number;
  opens?: Record<string, OpenFigures>;
}

interface OpenFigures {
  ms: number;
  objects_read: number;
  bytes_read: number;
  peak_rss_mib: number;
  files_loaded: number;
}

/** Child mode: open the line one way and print figures. */
async function openChild(spec: string): Promise<void> {
  const [root, how] = spec.split('::') as [string, string];
  const storage = new ScratchStorage(root);
  let bytesRead = 0;
  const get = storage.get.bind(storage);
  storage.get = async (k) => {
    const b = await get(k);
    bytesRead += b.length;
    return b;
  };
  const line = new BackupLine(storage, ID);
  // loaded before the clock starts: module loading is not what is measured
  const { lineSummaryOf, newestReadable } = await import('../src/cli/list.ts');
  const { backupStatus } = await import('../src/cli/status.ts');
  const t0 = performance.now();
  let files = 0;
  if (how === 'writer') {
    await line.openForWrite({ run_id: 'bench', host: 'bench', pid: process.pid, tool_version: 'bench' });
  } else if (how === 'list') {
    // what `kafka-backup list` does for one line: its state and figures, then the summary
    const r = await newestReadable(line);
    if (!r.manifest || r.figures?.source !== 'summaries')
      throw new Error(`list read the line from ${r.figures?.source}`);
    lineSummaryOf(r.manifest, r.figures, await line.readLease());
  } else if (how === 'status') {
    await backupStatus(storage, ID);
  } else {
    const scope =
      how === 'one-partition'
        ? { topics: (t: string) => t === TOPIC, partitions: (_t: string, p: number) => p === 0 }
        : {};
    const opened = await line.open(scope);
    for (const t of Object.values(opened!.view.topics))
      for (const ps of Object.values(t.partitions)) files += ps.files.length;
  }
  const ms = performance.now() - t0;
  const rss = Number(readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\s+(\d+)/)![1]) / 1024;
  process.stdout.write(
    `${JSON.stringify({ ms: Math.round(ms), objects_read: storage.reads, bytes_read: bytesRead, peak_rss_mib: Math.round(rss), files_loaded: files })}\n`,
  );
}

function measureOpen(root: string, how: string): OpenFigures {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--open', `${root}::${how}`], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out.trim().split('\n').at(-1)!) as OpenFigures;
}

/** The version 1 manifest of the same state: one generation, as every v1 checkpoint wrote it. */
function v1Figures(partitions: number, entriesPerPartition: number): Record<string, number> {
  const m: Manifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    backup_id: ID,
    generation: 1,
    created_at: new Date().toISOString(),
    writer: { run_id: 'r', host: 'h', pid: 1, tool_version: 'v1' },
    source: { cluster_id: 'c', bootstrap_servers: ['k:9092'] },
    topics: {
      [TOPIC]: {
        topic_id: TOPIC_ID,
        partition_count: partitions,
        replication_factor: 3,
        configs: {},
        timestamp_type: 'CreateTime',
        partitions: Object.fromEntries(
          Array.from({ length: partitions }, (_, p) => [
            String(p),
            {
              start_offset: 0,
              next_offset: entriesPerPartition * RECORDS_PER_FILE,
              files: Array.from({ length: entriesPerPartition }, (_, i) => entry(p, i * RECORDS_PER_FILE, i * 300, i)),
              gaps: [],
            },
          ]),
        ),
      },
    },
    snapshots: [],
    retired_topics: [],
  };
  const t0 = performance.now();
  const bytes = encodeManifest(m);
  const encodeMs = performance.now() - t0;
  const t1 = performance.now();
  decodeManifest('v1', bytes);
  const decodeMs = performance.now() - t1;
  return { bytes: bytes.length, encode_ms: Math.round(encodeMs), decode_ms: Math.round(decodeMs) };
}

export async function runRepositoryBench(a: Args): Promise<Record<string, unknown>> {
  const root = mkdtempSync(join(tmpdir(), 'kb-repo-bench-'));
  const storage = new ScratchStorage(root);
  const line = new BackupLine(storage, ID);
  const writer = { run_id: 'mx585szye07326', host: 'bench', pid: process.pid, tool_version: 'bench' };
  await line.openForWrite(writer);
  const view: Manifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    backup_id: ID,
    generation: 0,
    created_at: new Date().toISOString(),
    writer,
    source: { cluster_id: 'c', bootstrap_servers: ['k:9092'] },
    topics: {
      [TOPIC]: {
        topic_id: TOPIC_ID,
        partition_count: a.partitions,
        replication_factor: 3,
        configs: { 'retention.ms': '604800000' },
        timestamp_type: 'CreateTime',
        partitions: Object.fromEntries(
          Array.from({ length: a.partitions }, (_, p) => [
            String(p),
            { start_offset: 0, next_offset: 0, files: [], gaps: [] },
          ]),
        ),
      },
    },
    snapshots: [
      {
        id: 'sim-continuous',
        run_id: writer.run_id,
        mode: 'continuous',
        state: 'in-progress',
        started_at: new Date().toISOString(),
        end_offsets: { [TOPIC]: {} },
      },
    ],
    retired_topics: [],
  };
  await line.commit(view);
  const ps = view.topics[TOPIC]!.partitions;
  const ends = view.snapshots[0]!.end_offsets[TOPIC]!;
  const seqs = new Array<number>(a.partitions).fill(0);
  const days: DayFigures[] = [];
  let entries = 0;
  let peakRss = 0;
  const started = performance.now();
  for (let day = 1; day <= a.days; day++) {
    const before = { ...line.written };
    let maxCommit = 0;
    for (let t = (day - 1) * DAY + a.checkpointSecs; t <= day * DAY; t += a.checkpointSecs) {
      const files = new Map<number, { files: FileEntry[]; gaps: [] }>();
      for (let p = 0; p < a.partitions; p++) {
        const phase = (p * a.rollSecs) / a.partitions;
        // rolls of this partition in (t - checkpoint, t]
        const rolls = Math.floor((t - phase) / a.rollSecs) - Math.floor((t - a.checkpointSecs - phase) / a.rollSecs);
        if (rolls <= 0) continue;
        const list: FileEntry[] = [];
        for (let r = 0; r < rolls; r++) {
          const part = ps[String(p)]!;
          list.push(entry(p, part.next_offset, t, seqs[p]!++));
          part.next_offset += RECORDS_PER_FILE;
          ends[String(p)] = part.next_offset;
          entries++;
        }
        files.set(p, { files: list, gaps: [] });
      }
      if (files.size === 0) continue;
      await line.commit(view, new Map([[TOPIC, files]]));
      maxCommit = Math.max(maxCommit, line.written.lastCommitBytes);
    }
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    // with --expose-gc: what the writer really holds, apart from garbage V8 has not collected yet
    (globalThis as { gc?: () => void }).gc?.();
    const heapUsed = process.memoryUsage().heapUsed;
    const commits = line.written.commits - before.commits;
    const consolidations = line.written.consolidations - before.consolidations;
    const consolidationBytes = line.written.consolidationBytes - before.consolidationBytes;
    const commitBytes = line.written.commitBytes - before.commitBytes;
    const fig: DayFigures = {
      day,
      commits,
      commit_bytes_avg: Math.round(commitBytes / Math.max(1, commits)),
      commit_bytes_max: maxCommit,
      consolidations,
      consolidation_bytes_avg: Math.round(consolidationBytes / Math.max(1, consolidations)),
      metadata_bytes_per_simulated_hour: Math.round((commitBytes + consolidationBytes) / 24),
      file_entries_total: entries,
      partition0_files: ps['0']!.next_offset / RECORDS_PER_FILE,
      writer_rss_mib: Math.round(process.memoryUsage().rss / 1048576),
      heap_used_after_gc_mib: Math.round(heapUsed / 1048576),
    };
    if (a.measureDays.includes(day)) {
      fig.opens = {
        writer: measureOpen(root, 'writer'),
        'one-partition': measureOpen(root, 'one-partition'),
        list: measureOpen(root, 'list'),
        status: measureOpen(root, 'status'),
      };
      if (day === a.measureDays[0]) fig.opens['everything'] = measureOpen(root, 'everything');
    }
    days.push(fig);
    process.stderr.write(
      `day ${day}: ${commits} commits avg ${fig.commit_bytes_avg} B, ${consolidations} consolidations avg ${fig.consolidation_bytes_avg} B, ${entries} entries, rss ${fig.writer_rss_mib} MiB, heap ${fig.heap_used_after_gc_mib} MiB, ${Math.round((performance.now() - started) / 1000)} s${fig.opens ? ` open ${JSON.stringify(fig.opens)}` : ''}\n`,
    );
  }
  const perPartitionDay1 = Math.round(DAY / a.rollSecs);
  const v1 = v1Figures(a.partitions, perPartitionDay1);
  const result = {
    params: a,
    simulated_file_entries: entries,
    wall_secs: Math.round((performance.now() - started) / 1000),
    writer_peak_rss_mib: Math.round(peakRss / 1048576),
    store_bytes_written: storage.bytesWritten,
    store_objects_written: storage.writes,
    days,
    v1_contrast: {
      day1_manifest: v1,
      note: `v1 wrote the whole manifest at every checkpoint; it grows linearly: day ${a.days} ≈ ${a.days} × day 1 = ${Math.round((v1.bytes! * a.days) / 1048576)} MiB per checkpoint, parsed by every open`,
      [`day${a.days}_manifest_bytes_estimate`]: v1.bytes! * a.days,
    },
  };
  rmSync(root, { recursive: true, force: true });
  return result;
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv[2] === '--open') await openChild(process.argv[3]!);
else if (import.meta.url === `file://${process.argv[1]}`) {
  const a = parseArgs(process.argv.slice(2));
  const r = await runRepositoryBench(a);
  const out = join(
    ROOT,
    'bench/results',
    `${a.smoke ? 'smoke-' : ''}repository-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
  );
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(r, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify({ ...r, days: undefined }, null, 2)}\n`);
  const first = r['days'] as DayFigures[];
  const d1 = first[0]!;
  const dn = first.at(-1)!;
  process.stdout.write(
    `\nbytes per commit: day 1 ${d1.commit_bytes_avg} B, day ${dn.day} ${dn.commit_bytes_avg} B; consolidation: day 1 ${d1.consolidation_bytes_avg} B, day ${dn.day} ${dn.consolidation_bytes_avg} B\n` +
      `metadata per simulated hour: day 1 ${d1.metadata_bytes_per_simulated_hour} B, day ${dn.day} ${dn.metadata_bytes_per_simulated_hour} B\n` +
      `results: ${out}\n`,
  );
  // The pipeline must work; speed is never judged here.
  const broken = first.some((d) => d.opens && d.opens['one-partition']!.files_loaded !== d.partition0_files);
  if (broken) {
    process.stderr.write("error: a one-partition open did not load exactly that partition's files\n");
    process.exit(1);
  }
}
