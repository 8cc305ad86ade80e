/**
 * Runs one benchmark step as a child process and measures it from outside: wall time, CPU
 * seconds (user + sys) and peak RSS of the child, read from `/usr/bin/time` (GNU time, which
 * takes them from wait4's rusage), plus the broker's CPU seconds over the same interval (from
 * /proc/<broker pid>/stat), since the broker shares the machine's cores with the client.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export interface ProcResult {
  command: string;
  code: number;
  stdout: string;
  stderr: string;
  wallS: number;
  /** null when /usr/bin/time is not available. */
  userS: number | null;
  sysS: number | null;
  maxRssMiB: number | null;
  brokerCpuS: number | null;
  /** CPU seconds the whole machine spent outside the child and the broker meanwhile (other work: noise). */
  otherCpuS: number | null;
  /** 1-minute load average at the end of the step. */
  loadAvg: number | null;
}

const TIME = '/usr/bin/time';
const HAVE_TIME = existsSync(TIME);
const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux

let brokerPid: number | null | undefined;

/** The broker started by scripts/services.sh (its pid file), or null. */
export function findBrokerPid(root: string): number | null {
  if (brokerPid !== undefined) return brokerPid;
  try {
    const pid = Number(
      readFileSync(join(process.env['KB_STATE_DIR'] ?? join(root, '.services'), 'kafka', 'pid'), 'utf8').trim(),
    );
    brokerPid = Number.isInteger(pid) && existsSync(`/proc/${pid}/stat`) ? pid : null;
  } catch {
    brokerPid = null;
  }
  return brokerPid;
}

/** user + sys CPU seconds of a process so far, or null. */
export function cpuSecondsOf(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Busy CPU seconds of the whole machine so far (all cores; /proc/stat), or null. */
export function machineBusySeconds(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
    return busy / CLK_TCK;
  } catch {
    return null;
  }
}

function loadAvg(): number | null {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return null;
  }
}

let seq = 0;

export async function runMeasured(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; brokerPid?: number | null; echo?: boolean },
): Promise<ProcResult> {
  const timeFile = join(tmpdir(), `kb-bench-time-${process.pid}-${++seq}.txt`);
  const argv = HAVE_TIME ? ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args] : args;
  const exe = HAVE_TIME ? TIME : cmd;
  const broker0 = cpuSecondsOf(opts.brokerPid ?? null);
  const busy0 = machineBusySeconds();
  const t0 = performance.now();
  const child = spawn(exe, argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => {
    err.push(d);
    if (opts.echo) process.stderr.write(d);
  });
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  const wallS = (performance.now() - t0) / 1000;
  const broker1 = cpuSecondsOf(opts.brokerPid ?? null);
  const busy1 = machineBusySeconds();
  let userS: number | null = null;
  let sysS: number | null = null;
  let maxRssMiB: number | null = null;
  if (HAVE_TIME && existsSync(timeFile)) {
    const lines = readFileSync(timeFile, 'utf8').trim().split('\n');
    const last = lines[lines.length - 1]?.trim().split(/\s+/) ?? [];
    if (last.length === 4) {
      userS = Number(last[1]);
      sysS = Number(last[2]);
      maxRssMiB = Number(last[3]) / 1024;
    }
    rmSync(timeFile, { force: true });
  }
  const brokerCpuS = broker0 !== null && broker1 !== null ? broker1 - broker0 : null;
  const otherCpuS =
    busy0 !== null && busy1 !== null && userS !== null && sysS !== null
      ? Math.max(0, busy1 - busy0 - userS - sysS - (brokerCpuS ?? 0))
      : null;
  return {
    command: [cmd, ...args].join(' '),
    code,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
    wallS,
    userS,
    sysS,
    maxRssMiB,
    brokerCpuS,
    otherCpuS,
    loadAvg: loadAvg(),
  };
}

export class StepFailed extends Error {}

/** Throws StepFailed with the tail of stderr when the step exited non-zero. */
export function expectOk(what: string, r: ProcResult): ProcResult {
  if (r.code !== 0) {
    const tail = (r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n');
    throw new StepFailed(`${what} failed (exit ${r.code}): ${r.command}\n${tail}`);
  }
  return r;
}

/** The last JSON document a command printed on stdout (our CLI with --format json). */
export function parseJsonOutput<T>(what: string, r: ProcResult): T {
  const text = r.stdout.trim();
  const start = text.indexOf('{');
  if (start < 0) throw new StepFailed(`${what}: no JSON on stdout:\n${text.slice(-2000)}`);
  try {
    return JSON.parse(text.slice(start)) as T;
  } catch (e) {
    throw new StepFailed(`${what}: cannot parse its JSON output (${(e as Error).message}):\n${text.slice(-2000)}`);
  }
}
