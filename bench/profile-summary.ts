/**
 * Summarises V8 .cpuprofile files (node --cpu-prof): self time per function and per source
 * file, highest first. Used by `npm run bench -- --profile`; also runs on its own:
 *
 *   node bench/profile-summary.ts FILE_OR_DIR... [--top N]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  selfMs: number;
  share: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  functions: ProfileRow[];
  files: ProfileRow[];
}

function shortUrl(url: string): string {
  if (!url) return '';
  const path = url.startsWith('file://') ? url.slice('file://'.length) : url;
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) return path.slice(nm + 'node_modules/'.length);
  return path.startsWith('/') ? relative(process.cwd(), path) : path;
}

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    total += dt;
    const id = p.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  const fn = new Map<string, number>();
  const files = new Map<string, number>();
  for (const [id, ms] of self) {
    const cf = byId.get(id)?.callFrame;
    if (!cf) continue;
    const url = shortUrl(cf.url);
    const name = `${cf.functionName || '(anonymous)'}${url ? ` ${url}:${cf.lineNumber + 1}` : ''}`;
    fn.set(name, (fn.get(name) ?? 0) + ms);
    const fileKey = url || cf.functionName || '(native)';
    files.set(fileKey, (files.get(fileKey) ?? 0) + ms);
  }
  const rows = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, selfMs]) => ({ name, selfMs, share: total > 0 ? selfMs / total : 0 }));
  return { file, totalMs: total, functions: rows(fn), files: rows(files) };
}

export function renderSummary(s: ProfileSummary): string {
  const line = (r: ProfileRow) =>
    `  ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.selfMs.toFixed(0).padStart(7)} ms  ${r.name}`;
  return [
    `${s.file} (${(s.totalMs / 1000).toFixed(2)} s sampled on the main thread)`,
    ' top functions by self time:',
    ...s.functions.map(line),
    ' top source files by self time:',
    ...s.files.map(line),
  ].join('\n');
}

function expand(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(path, f));
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const ti = args.indexOf('--top');
  const top = ti >= 0 ? Number(args[ti + 1]) : 15;
  const paths = args.filter((_, i) => ti < 0 || (i !== ti && i !== ti + 1));
  for (const p of paths.flatMap(expand)) process.stdout.write(`${renderSummary(summarizeProfile(p, top))}\n\n`);
}
