/**
 * The ceiling for `validate --deep`: the irreducible work of checking a backup's data files,
 * done as fast as a Node program can do it, on the same files:
 *
 *   - read every data file (*.kbs) under DIR,
 *   - the whole file's digest, of the kind the manifest records (CRC-32C by default, SHA-256
 *     when the backup was made with `file_checksum: sha256`),
 *   - decompress every block payload with node:zlib (zstd/gzip; none: nothing to do).
 *
 * Files are processed CONCURRENCY at a time (validate's default --concurrency is 4) and the
 * decompression runs on libuv's thread pool, so the ceiling uses both cores like validate can.
 * Not included (validate's own design): CRC-32C of block payloads and of every Kafka batch,
 * record walks, manifest decoding. `zstd -t` cannot be used: our files are a container of
 * independently compressed blocks, not one zstd frame.
 *
 *   node bench/validate-ceiling.ts DIR [CONCURRENCY] [crc32c|sha256]   -> prints one JSON line
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { crc32c } from '@node-rs/crc32';

const zstdDecompress = promisify(zlib.zstdDecompress);
const gunzip = promisify(zlib.gunzip);

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.kbs')).map((e) => join(e.parentPath, e.name));
}

interface Totals {
  files: number;
  bytes: number;
  rawBytes: number;
  blocks: number;
  digest: number;
}

async function checkFile(path: string, t: Totals, kind: string): Promise<void> {
  const buf = await readFile(path);
  t.digest ^= kind === 'sha256' ? createHash('sha256').update(buf).digest()[0]! : crc32c(buf) & 0xff;
  t.files++;
  t.bytes += buf.length;
  // preamble: magic(8) | u32 headerLen | header | u32 crc
  let pos = 12 + buf.readUInt32BE(8) + 4;
  while (pos + 64 <= buf.length && buf.toString('latin1', pos, pos + 4) === 'KBBK') {
    const codec = buf.readUInt8(pos + 4);
    const stored = buf.readUInt32BE(pos + 8);
    const raw = buf.readUInt32BE(pos + 12);
    const payload = buf.subarray(pos + 64, pos + 64 + stored);
    let out: Buffer = payload;
    if (codec === 4) out = await zstdDecompress(payload, { maxOutputLength: Math.max(raw, 1) });
    else if (codec === 1) out = await gunzip(payload, { maxOutputLength: Math.max(raw, 1) });
    else if (codec !== 0) throw new Error(`${path}: codec ${codec} not handled by the ceiling`);
    if (out.length !== raw) throw new Error(`${path}: block at ${pos} decompressed to ${out.length}, expected ${raw}`);
    t.rawBytes += out.length;
    t.blocks++;
    pos += 64 + stored;
  }
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  const concurrency = Number(process.argv[3] ?? 4);
  const kind = process.argv[4] ?? 'crc32c';
  if (!dir) throw new Error('usage: node bench/validate-ceiling.ts DIR [CONCURRENCY]');
  const t0 = performance.now();
  const files = await listFiles(dir);
  const totals: Totals = { files: 0, bytes: 0, rawBytes: 0, blocks: 0, digest: 0 };
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, files.length) }, async () => {
      while (next < files.length) await checkFile(files[next++]!, totals, kind);
    }),
  );
  const elapsedMs = performance.now() - t0;
  process.stdout.write(
    `${JSON.stringify({ files: totals.files, bytes: totals.bytes, raw_bytes: totals.rawBytes, blocks: totals.blocks, elapsed_ms: elapsedMs })}\n`,
  );
}

await main();
