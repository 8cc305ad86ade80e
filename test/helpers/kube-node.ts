/**
 * A stand-in for the kubelet (and the scheduler) of the test bed: there is no container runtime
 * here, so this node runs each Pod's container command as a local child process and reports it
 * through the Pod status API exactly as a kubelet does, so the real Job and CronJob controllers
 * count successes and failures, retry per backoffLimit, and the operator sees real Pod states.
 * docs/testing.md ("The node stand-in") lists what it does and the one place it differs.
 *
 *   const node = await startNode(admin, { namespaces: [ns] });   ...   await node.stop();
 *
 * What a kubelet does that this does too: registers a Node (Ready), binds the Pods no scheduler
 * bound, resolves env (value, $(VAR) expansion, valueFrom secretKeyRef / configMapKeyRef /
 * fieldRef, envFrom with prefix), materializes Secret, ConfigMap, projected, downwardAPI,
 * emptyDir and hostPath volumes, runs init containers in order, then the containers, reports
 * phase Pending -> Running -> Succeeded/Failed with containerStatuses (waiting / running /
 * terminated with exitCode, reason and the terminationMessagePath file as `message`, or the log
 * tail for FallbackToLogsOnError), restarts per restartPolicy (OnFailure / Always, with backoff),
 * ends a deleted Pod's process (SIGTERM, SIGKILL after the grace period) and confirms the deletion,
 * and serves container logs to the API server (`GET .../pods/<name>/log` works).
 *
 * The one difference: the child runs on this machine's filesystem, not in an image, so each Pod
 * gets a directory and every mountPath (and terminationMessagePath, workingDir) is rewritten to
 * its place there, consistently, in the command, args, env values and the text of the files
 * materialized from ConfigMaps and Secrets. A program that builds a mounted path by itself (not
 * from its config, args or env) would not find it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cliCommand } from './cli.ts';
import { sleep } from './kafka.ts';
import { KUBE_DIR, KubeApiError, type KubeClient, type KubeObject } from './kube.ts';

/** The parts of a Pod the stand-in reads (core/v1 field names). */
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    fieldRef?: { fieldPath: string };
  };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  envFrom?: {
    prefix?: string;
    secretRef?: { name: string; optional?: boolean };
    configMapRef?: { name: string; optional?: boolean };
  }[];
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  terminationMessagePath?: string;
  terminationMessagePolicy?: string;
}
interface KeyItems {
  items?: { key: string; path: string; mode?: number }[];
  defaultMode?: number;
  optional?: boolean;
}
interface DownwardItem {
  path: string;
  fieldRef?: { fieldPath: string };
}
interface Volume {
  name: string;
  secret?: KeyItems & { secretName: string };
  configMap?: KeyItems & { name: string };
  emptyDir?: object;
  hostPath?: { path: string; type?: string };
  downwardAPI?: { items?: DownwardItem[] };
  projected?: {
    sources: {
      secret?: KeyItems & { name: string };
      configMap?: KeyItems & { name: string };
      downwardAPI?: { items?: DownwardItem[] };
      serviceAccountToken?: { path: string; expirationSeconds?: number; audience?: string };
    }[];
  };
}
export interface Pod extends KubeObject {
  spec: {
    nodeName?: string;
    restartPolicy?: 'Always' | 'OnFailure' | 'Never';
    serviceAccountName?: string;
    terminationGracePeriodSeconds?: number;
    initContainers?: Container[];
    containers: Container[];
    volumes?: Volume[];
  };
  status?: { phase?: string; [k: string]: unknown };
}

export interface NodeOptions {
  /** Namespaces whose Pods this node runs (Pods elsewhere are left alone). */
  namespaces: string[];
  /** Only Pods matching this label selector (the API server's syntax). */
  labelSelector?: string;
  /** Node name; default kb-node-<random>. */
  name?: string;
  /** Bind Pods that have no node yet (no scheduler runs in the test bed); default true. */
  bind?: boolean;
  /**
   * Images this node can run, by name without registry or tag: the entrypoint (the image's
   * ENTRYPOINT, used when a container has no command) and the programs on its PATH, each mapped
   * to a local command. Default: `kafka-backup`, whose entrypoint and program `kafka-backup`
   * (also as /usr/local/bin/kafka-backup) run KB_CLI or `node src/cli/main.ts`.
   */
  images?: Record<string, { entrypoint: string[]; programs: Record<string, string[]> }>;
  /** Where Pod directories go; default a new temp dir (removed by stop()). */
  dir?: string;
  /** Environment every container gets before its own (an image's ENV); default PATH only. */
  imageEnv?: Record<string, string>;
  /** Called for every failure to reach the API server or start a process (default: ignored). */
  onError?: (err: unknown) => void;
}

export interface NodeStandIn {
  name: string;
  /** Pod directories (volumes, logs, termination messages) live under here. */
  dir: string;
  /** Ends every process (SIGKILL), stops watching and deletes the Node object. */
  stop(): Promise<void>;
}

/** The local command the kafka-backup image's program runs: the tests' CLI (test/helpers/cli.ts). */
export function localCli(): string[] {
  return cliCommand();
}

/** The images a node runs by default: the Dockerfile's (ENTRYPOINT /usr/local/bin/kafka-backup). */
export function defaultImages(): NonNullable<NodeOptions['images']> {
  const cli = localCli();
  return {
    'kafka-backup': {
      entrypoint: ['/usr/local/bin/kafka-backup'],
      programs: { 'kafka-backup': cli, '/usr/local/bin/kafka-backup': cli },
    },
  };
}

/** `ghcr.io/org/kafka-backup:0.1.0@sha256:...` -> `kafka-backup`. */
export function imageName(image: string): string {
  const noDigest = image.split('@')[0] ?? image;
  const last = noDigest.split('/').pop() ?? noDigest;
  return last.split(':')[0] ?? last;
}

/** Kubernetes' $(VAR) expansion: defined names are replaced, $$ is a literal $, others stay. */
export function expandVars(s: string, vars: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) =>
    m === '$$' ? '$' : name !== undefined && name in vars ? (vars[name] ?? '') : m,
  );
}

/**
 * Rewrites every occurrence of a container path (a mount point) in s to its local place, longest
 * first, only at path boundaries (`/etc/x` is rewritten in `--config=/etc/x/c.yaml`, not in
 * `/etc/xy`).
 */
export function rewritePaths(s: string, mounts: [containerPath: string, localPath: string][]): string {
  let out = s;
  const sorted = [...mounts].sort((a, b) => b[0].length - a[0].length);
  const marks = sorted.map((_, i) => `\u0000${i}\u0000`);
  sorted.forEach(([from], i) => {
    const esc = from.replace(/\/+$/, '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    out = out.replace(new RegExp(`(?<![\\w.-])${esc}(?=$|[/\\s"',:;=)\\]}])`, 'g'), marks[i] ?? '');
  });
  sorted.forEach(([, to], i) => {
    out = out.split(marks[i] ?? '').join(to);
  });
  return out;
}

const KILLED_SIGNAL_CODES: Record<string, number> = { SIGKILL: 137, SIGTERM: 143, SIGINT: 130 };

interface ContainerRun {
  spec: Container;
  restartCount: number;
  child?: ChildProcess;
  state: Record<string, unknown>;
  lastState: Record<string, unknown>;
  logFile?: string;
  done?: Promise<void>;
}

interface PodRun {
  uid: string;
  pod: Pod;
  dir: string;
  mounts: Map<string, [string, string][]>;
  containers: Map<string, ContainerRun>;
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  startTime: string;
  terminating: boolean;
  finished: boolean;
  conditions: Record<string, string>;
  /** serializes the status writes of one Pod */
  statusChain: Promise<void>;
}

/** Starts a node stand-in; see the module comment. */
export async function startNode(admin: KubeClient, options: NodeOptions): Promise<NodeStandIn> {
  const name = options.name ?? `kb-node-${randomBytes(3).toString('hex')}`;
  const ownDir = !options.dir;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), `kb-node-`));
  const images = options.images ?? defaultImages();
  const onError = options.onError ?? (() => {});
  const pods = new Map<string, PodRun>();
  const logs = await startLogServer(pods);
  const logPort = (logs.address() as { port: number }).port;
  let stopping = false;

  await registerNode(admin, name, logPort);

  const podsPath = (ns: string) => `/api/v1/namespaces/${ns}/pods`;
  const statusPath = (p: Pod) => `${podsPath(p.metadata?.namespace ?? '')}/${p.metadata?.name}/status`;

  const writeStatus = (run: PodRun) => {
    run.statusChain = run.statusChain.then(async () => {
      if (stopping) return;
      try {
        await admin.patch(statusPath(run.pod), { status: podStatus(run) }, 'strategic');
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 404)) onError(err);
      }
    });
    return run.statusChain;
  };

  const handle = (type: string, pod: Pod) => {
    if (stopping) return;
    const uid = pod.metadata?.uid ?? '';
    const run = pods.get(uid);
    if (type === 'DELETED') {
      if (run) void terminate(run, 0);
      return;
    }
    if (run) run.pod = pod;
    if (!pod.spec.nodeName) {
      if (options.bind !== false) void bind(pod);
      return;
    }
    if (pod.spec.nodeName !== name) return;
    if (pod.metadata?.deletionTimestamp) {
      if (run) void terminate(run, (pod.metadata['deletionGracePeriodSeconds'] as number | undefined) ?? 30);
      else void confirmDeletion(pod);
      return;
    }
    if (!run && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed') void startPod(pod);
  };

  const bind = async (pod: Pod) => {
    try {
      await admin.post(`${podsPath(pod.metadata?.namespace ?? '')}/${pod.metadata?.name}/binding`, {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name: pod.metadata?.name, namespace: pod.metadata?.namespace },
        target: { apiVersion: 'v1', kind: 'Node', name },
      });
    } catch (err) {
      // 409: bound already (a relist saw it before the bind's own event)
      if (!(err instanceof KubeApiError && (err.status === 409 || err.status === 404))) onError(err);
    }
  };

  const confirmDeletion = async (pod: Pod) => {
    await admin
      .remove(`${podsPath(pod.metadata?.namespace ?? '')}/${pod.metadata?.name}`, {
        gracePeriodSeconds: 0,
      })
      .catch(onError);
  };

  const startPod = async (pod: Pod) => {
    const uid = pod.metadata?.uid ?? '';
    const podDir = join(dir, `${pod.metadata?.namespace}_${pod.metadata?.name}_${uid.slice(0, 8)}`);
    const run: PodRun = {
      uid,
      pod,
      dir: podDir,
      mounts: new Map(),
      containers: new Map(),
      phase: 'Pending',
      startTime: new Date().toISOString(),
      terminating: false,
      finished: false,
      conditions: {
        PodScheduled: 'True',
        PodReadyToStartContainers: 'False',
        Initialized: 'False',
        ContainersReady: 'False',
        Ready: 'False',
      },
      statusChain: Promise.resolve(),
    };
    pods.set(uid, run);
    for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
      run.containers.set(c.name, {
        spec: c,
        restartCount: 0,
        state: { waiting: { reason: 'ContainerCreating' } },
        lastState: {},
      });
    }
    await writeStatus(run);
    try {
      await materializeVolumes(admin, run, name);
    } catch (err) {
      // a kubelet keeps the Pod Pending and retries the mount; the stand-in retries on the next event
      for (const c of run.containers.values()) {
        c.state = { waiting: { reason: 'CreateContainerConfigError', message: String((err as Error).message ?? err) } };
      }
      pods.delete(uid);
      await writeStatus(run);
      setTimeout(() => {
        if (!stopping)
          void admin
            .find<Pod>(`${podsPath(pod.metadata?.namespace ?? '')}/${pod.metadata?.name}`)
            .then((p) => p && handle('MODIFIED', p));
      }, 2000);
      return;
    }
    run.conditions['PodReadyToStartContainers'] = 'True';
    for (const init of pod.spec.initContainers ?? []) {
      const c = run.containers.get(init.name);
      if (!c) continue;
      for (;;) {
        const code = await runContainer(run, c);
        if (run.terminating) return;
        if (code === 0) break;
        if ((pod.spec.restartPolicy ?? 'Always') === 'Never') {
          run.phase = 'Failed';
          run.finished = true;
          await writeStatus(run);
          return;
        }
        await restartDelay(c);
      }
    }
    run.conditions['Initialized'] = 'True';
    run.phase = 'Running';
    await Promise.all(
      pod.spec.containers.map(async (spec) => {
        const c = run.containers.get(spec.name);
        if (!c) return;
        for (;;) {
          const code = await runContainer(run, c);
          if (run.terminating) return;
          const policy = pod.spec.restartPolicy ?? 'Always';
          if (policy === 'Never' || (policy === 'OnFailure' && code === 0)) return;
          await restartDelay(c);
          if (run.terminating) return;
        }
      }),
    );
    if (run.terminating) return;
    const failed = [...run.containers.values()].some(
      (c) =>
        pod.spec.containers.some((s) => s.name === c.spec.name) &&
        (c.state['terminated'] as { exitCode: number }).exitCode !== 0,
    );
    run.phase = failed ? 'Failed' : 'Succeeded';
    run.finished = true;
    run.conditions['Ready'] = 'False';
    run.conditions['ContainersReady'] = 'False';
    await writeStatus(run);
  };

  /** Runs one container to its end; answers its exit code. */
  const runContainer = async (run: PodRun, c: ContainerRun): Promise<number> => {
    const pod = run.pod;
    const mounts = run.mounts.get(c.spec.name) ?? mountsFor(run, c.spec);
    run.mounts.set(c.spec.name, mounts);
    const cdir = join(run.dir, 'containers', c.spec.name);
    mkdirSync(cdir, { recursive: true });
    const messageFile = join(cdir, 'termination-log');
    writeFileSync(messageFile, '');
    const allMounts: [string, string][] = [
      ...mounts,
      [c.spec.terminationMessagePath ?? '/dev/termination-log', messageFile],
    ];
    let argv: string[];
    let env: Record<string, string>;
    try {
      env = await containerEnv(admin, pod, c.spec, options.imageEnv, name);
      for (const k of Object.keys(env)) env[k] = rewritePaths(env[k] ?? '', allMounts);
      argv = commandOf(c.spec, images, env).map((a) => rewritePaths(a, allMounts));
    } catch (err) {
      c.state = { waiting: { reason: 'CreateContainerConfigError', message: (err as Error).message } };
      await writeStatus(run);
      await sleep(2000);
      return run.terminating ? 137 : runContainer(run, c);
    }
    // the image's root: the working directory (workingDir under it unless it is a mount) and HOME
    const rootfs = join(run.dir, 'rootfs');
    const home = join(rootfs, 'home');
    const mounted = c.spec.workingDir ? rewritePaths(c.spec.workingDir, allMounts) : undefined;
    const workdir = !c.spec.workingDir
      ? rootfs
      : mounted !== c.spec.workingDir
        ? (mounted ?? rootfs)
        : join(rootfs, c.spec.workingDir);
    mkdirSync(home, { recursive: true });
    mkdirSync(workdir, { recursive: true });
    c.logFile = join(cdir, `${c.restartCount}.log`);
    const logFd = openSync(c.logFile, 'a');
    const startedAt = new Date().toISOString();
    const containerID = `kb-node://${run.uid.slice(0, 8)}-${c.spec.name}-${c.restartCount}`;
    let child: ChildProcess;
    try {
      child = spawn(argv[0] ?? '', argv.slice(1), {
        cwd: workdir,
        env: { HOSTNAME: pod.metadata?.name ?? '', HOME: home, ...env },
        stdio: ['ignore', logFd, logFd],
        detached: true, // its own process group: a kill reaches everything it started, as in a container
      });
    } finally {
      closeSync(logFd);
    }
    c.child = child;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((r) => {
      child.on('error', (error) => r({ code: 128, signal: null, error }));
      child.on('exit', (code, signal) => r({ code, signal }));
    });
    c.state = { running: { startedAt } };
    if (run.pod.spec.containers.includes(c.spec)) {
      const allRunning = run.pod.spec.containers.every((s) => run.containers.get(s.name)?.state['running']);
      run.conditions['ContainersReady'] = allRunning ? 'True' : 'False';
      run.conditions['Ready'] = allRunning ? 'True' : 'False';
    }
    await writeStatus(run);
    const result = await exited;
    c.child = undefined;
    const exitCode = result.code ?? KILLED_SIGNAL_CODES[result.signal ?? ''] ?? 137;
    let message = readFileSync(messageFile, 'utf8').slice(0, 4096);
    if (!message && exitCode !== 0 && c.spec.terminationMessagePolicy === 'FallbackToLogsOnError') {
      message = tail(readFileSync(c.logFile, 'utf8'), 80, 2048);
    }
    if (result.error) message = `failed to start ${argv[0]}: ${result.error.message}`;
    const terminated: Record<string, unknown> = {
      exitCode,
      reason: result.error ? 'StartError' : exitCode === 0 ? 'Completed' : 'Error',
      startedAt,
      finishedAt: new Date().toISOString(),
      containerID,
    };
    if (message) terminated['message'] = message;
    if (result.signal) terminated['signal'] = osSignal(result.signal);
    c.state = { terminated };
    run.conditions['ContainersReady'] = 'False';
    run.conditions['Ready'] = 'False';
    await writeStatus(run);
    return exitCode;
  };

  const restartDelay = async (c: ContainerRun) => {
    // the kubelet's crash-loop back-off: 10 s, doubling, at most 5 min
    const delay = Math.min(10_000 * 2 ** c.restartCount, 300_000);
    c.lastState = c.state;
    c.restartCount += 1;
    c.state = {
      waiting: { reason: 'CrashLoopBackOff', message: `back-off ${delay / 1000}s restarting failed container` },
    };
    await sleep(delay);
  };

  /** Ends a Pod's processes (SIGTERM, then SIGKILL after the grace period), then confirms its deletion. */
  const terminate = async (run: PodRun, graceSeconds: number) => {
    if (run.terminating) return;
    run.terminating = true;
    const living = [...run.containers.values()].filter((c) => c.child && c.child.exitCode === null);
    await Promise.all(living.map((c) => killChild(c.child as ChildProcess, graceSeconds)));
    // let runContainer record the terminated states
    await sleep(100);
    await run.statusChain;
    if (!run.finished) {
      run.phase = [...run.containers.values()].every(
        (c) => (c.state['terminated'] as { exitCode?: number } | undefined)?.exitCode === 0,
      )
        ? 'Succeeded'
        : 'Failed';
      run.finished = true;
      await writeStatus(run);
    }
    pods.delete(run.uid);
    if (run.pod.metadata?.deletionTimestamp) await confirmDeletion(run.pod);
  };

  const stopWatches = options.namespaces.map((ns) =>
    admin.watch<Pod>(podsPath(ns), (type, pod) => handle(type, pod), { labelSelector: options.labelSelector, onError }),
  );

  return {
    name,
    dir,
    async stop() {
      stopping = true;
      for (const s of stopWatches) s();
      await Promise.all(
        [...pods.values()].flatMap((r) =>
          [...r.containers.values()]
            .filter((c) => c.child && c.child.exitCode === null)
            .map((c) => killChild(c.child as ChildProcess, 0)),
        ),
      );
      await new Promise<void>((r) => logs.close(() => r()));
      await admin.remove(`/api/v1/nodes/${name}`).catch(() => {});
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function osSignal(signal: NodeJS.Signals): number {
  return { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGHUP: 1, SIGABRT: 6, SIGSEGV: 11 }[signal as string] ?? 0;
}

function tail(text: string, lines: number, bytes: number): string {
  const t = text
    .split('\n')
    .slice(-lines - 1)
    .join('\n');
  return t.length > bytes ? t.slice(-bytes) : t;
}

/** SIGTERM to the process group, SIGKILL after graceSeconds (at once for 0). */
async function killChild(child: ChildProcess, graceSeconds: number): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pid, s);
    } catch {
      // gone already
    }
  };
  if (graceSeconds > 0) {
    signal('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), graceSeconds * 1000);
    await exited;
    clearTimeout(timer);
  } else {
    signal('SIGKILL');
    await exited;
  }
}

/** The pod's status as the kubelet reports it (a strategic merge patch of status). */
function podStatus(run: PodRun): Record<string, unknown> {
  const now = new Date().toISOString();
  // one state type each: the others are sent as null, so the strategic merge removes them
  const oneOf = (state: Record<string, unknown>) => ({ waiting: null, running: null, terminated: null, ...state });
  const status = (c: ContainerRun) => ({
    name: c.spec.name,
    image: c.spec.image,
    imageID: `kb-node://${imageName(c.spec.image)}`,
    ...(c.state['terminated'] ? { containerID: (c.state['terminated'] as { containerID: string }).containerID } : {}),
    ready: !!c.state['running'],
    started: !!c.state['running'],
    restartCount: c.restartCount,
    state: oneOf(c.state),
    lastState: oneOf(c.lastState),
  });
  const init = new Set((run.pod.spec.initContainers ?? []).map((c) => c.name));
  const all = [...run.containers.values()];
  return {
    phase: run.phase,
    hostIP: '127.0.0.1',
    hostIPs: [{ ip: '127.0.0.1' }],
    podIP: podIpOf(run.pod),
    podIPs: [{ ip: podIpOf(run.pod) }],
    startTime: run.startTime,
    conditions: Object.entries(run.conditions).map(([type, s]) => ({
      type,
      status: s,
      lastTransitionTime: now,
      ...(type === 'Ready' && s === 'False' && run.finished ? { reason: 'PodCompleted' } : {}),
    })),
    ...(init.size > 0 ? { initContainerStatuses: all.filter((c) => init.has(c.spec.name)).map(status) } : {}),
    containerStatuses: all.filter((c) => !init.has(c.spec.name)).map(status),
  };
}

/** The container's argv, the image's program mapped to its local command. */
function commandOf(c: Container, images: NonNullable<NodeOptions['images']>, env: Record<string, string>): string[] {
  const image = images[imageName(c.image)];
  if (!image) {
    throw new Error(
      `image ${c.image}: the node stand-in runs only ${Object.keys(images).join(', ')} (NodeOptions.images)`,
    );
  }
  const command = (c.command ?? image.entrypoint).map((a) => expandVars(a, env));
  const args = (c.args ?? []).map((a) => expandVars(a, env));
  const [program, ...rest] = command;
  const local = image.programs[program ?? ''];
  if (!local) {
    throw new Error(
      `image ${c.image} has no program ${program} the node stand-in knows (${Object.keys(image.programs).join(', ')})`,
    );
  }
  return [...local, ...rest, ...args];
}

async function getData(
  admin: KubeClient,
  ns: string,
  kind: 'secrets' | 'configmaps',
  name: string,
  optional: boolean | undefined,
): Promise<Record<string, Buffer> | undefined> {
  const obj = await admin.find<{ data?: Record<string, string>; binaryData?: Record<string, string> }>(
    `/api/v1/namespaces/${ns}/${kind}/${name}`,
  );
  if (!obj) {
    if (optional) return undefined;
    throw new Error(`${kind === 'secrets' ? 'secret' : 'configmap'} "${name}" not found`);
  }
  const out: Record<string, Buffer> = {};
  if (kind === 'secrets') {
    for (const [k, v] of Object.entries(obj.data ?? {})) out[k] = Buffer.from(v, 'base64');
  } else {
    for (const [k, v] of Object.entries(obj.data ?? {})) out[k] = Buffer.from(v, 'utf8');
    for (const [k, v] of Object.entries(obj.binaryData ?? {})) out[k] = Buffer.from(v, 'base64');
  }
  return out;
}

/**
 * Each Pod's own address, as a CNI gives one: a loopback address of 127.0.0.0/8 (all of which reach
 * this machine) derived from the Pod's uid, so two Pods' servers on the same port do not clash.
 */
export function podIpOf(pod: Pod): string {
  const h = createHash('sha256')
    .update(pod.metadata?.uid ?? '')
    .digest();
  return `127.${1 + (h[0]! % 254)}.${h[1]}.${1 + (h[2]! % 254)}`;
}

function fieldValue(pod: Pod, fieldPath: string, nodeName: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (m)
    return (pod.metadata?.[m[1] as 'labels' | 'annotations'] as Record<string, string> | undefined)?.[m[2] ?? ''] ?? '';
  const values: Record<string, string | undefined> = {
    'metadata.name': pod.metadata?.name,
    'metadata.namespace': pod.metadata?.namespace,
    'metadata.uid': pod.metadata?.uid,
    'spec.nodeName': nodeName,
    'spec.serviceAccountName': pod.spec.serviceAccountName ?? 'default',
    'status.podIP': podIpOf(pod),
    'status.hostIP': '127.0.0.1',
  };
  if (!(fieldPath in values)) throw new Error(`fieldRef ${fieldPath} is not supported by the node stand-in`);
  return values[fieldPath] ?? '';
}

/** env the kubelet would give the container: envFrom first, then env in order with $(VAR) expansion. */
async function containerEnv(
  admin: KubeClient,
  pod: Pod,
  c: Container,
  imageEnv: Record<string, string> | undefined,
  nodeName: string,
): Promise<Record<string, string>> {
  const ns = pod.metadata?.namespace ?? 'default';
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...imageEnv };
  for (const from of c.envFrom ?? []) {
    const ref = from.secretRef ?? from.configMapRef;
    if (!ref) continue;
    const data = await getData(admin, ns, from.secretRef ? 'secrets' : 'configmaps', ref.name, ref.optional);
    for (const [k, v] of Object.entries(data ?? {})) {
      // keys that are not valid variable names are skipped, as the kubelet does (and warns)
      if (/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(k)) env[`${from.prefix ?? ''}${k}`] = v.toString('utf8');
    }
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom?.secretKeyRef || e.valueFrom?.configMapKeyRef) {
      const ref = (e.valueFrom.secretKeyRef ?? e.valueFrom.configMapKeyRef) as {
        name: string;
        key: string;
        optional?: boolean;
      };
      const kind = e.valueFrom.secretKeyRef ? 'secrets' : 'configmaps';
      const data = await getData(admin, ns, kind, ref.name, ref.optional);
      const v = data?.[ref.key];
      if (v === undefined && !ref.optional)
        throw new Error(
          `couldn't find key ${ref.key} in ${kind === 'secrets' ? 'Secret' : 'ConfigMap'} ${ns}/${ref.name}`,
        );
      if (v !== undefined) env[e.name] = v.toString('utf8');
    } else if (e.valueFrom?.fieldRef) {
      env[e.name] = fieldValue(pod, e.valueFrom.fieldRef.fieldPath, nodeName);
    } else if (e.valueFrom) {
      throw new Error(`env ${e.name}: this valueFrom is not supported by the node stand-in`);
    } else {
      env[e.name] = expandVars(e.value ?? '', env);
    }
  }
  return env;
}

/** The container's mounts as [mountPath, local path] pairs. */
function mountsFor(run: PodRun, c: Container): [string, string][] {
  return (c.volumeMounts ?? []).map((m) => {
    const volume = run.pod.spec.volumes?.find((v) => v.name === m.name);
    const base = volume?.hostPath ? volume.hostPath.path : join(run.dir, 'volumes', m.name);
    return [m.mountPath, m.subPath ? join(base, m.subPath) : base];
  });
}

/** Writes Secret, ConfigMap, projected, downwardAPI and emptyDir volumes into the Pod's directory. */
async function materializeVolumes(admin: KubeClient, run: PodRun, nodeName: string): Promise<void> {
  const pod = run.pod;
  const ns = pod.metadata?.namespace ?? 'default';
  // Every container path any container mounts, so file contents are rewritten the same way for all.
  const allMounts = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].flatMap((c) => mountsFor(run, c));
  const writeKeys = (target: string, data: Record<string, Buffer> | undefined, spec: KeyItems) => {
    if (!data) return;
    const items: { key: string; path: string; mode?: number }[] =
      spec.items ?? Object.keys(data).map((key) => ({ key, path: key }));
    for (const item of items) {
      const value = data[item.key];
      if (value === undefined) {
        if (spec.optional) continue;
        throw new Error(`volume key ${item.key} not found`);
      }
      const file = join(target, item.path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, rewriteText(value, allMounts), { mode: item.mode ?? spec.defaultMode ?? 0o644 });
    }
  };
  const writeDownward = (target: string, items: DownwardItem[] | undefined) => {
    for (const item of items ?? []) {
      if (!item.fieldRef) throw new Error('downwardAPI: only fieldRef items are supported by the node stand-in');
      const file = join(target, item.path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, fieldValue(pod, item.fieldRef.fieldPath, nodeName));
    }
  };
  for (const v of pod.spec.volumes ?? []) {
    const target = join(run.dir, 'volumes', v.name);
    if (v.hostPath) {
      if (v.hostPath.type === 'DirectoryOrCreate') mkdirSync(v.hostPath.path, { recursive: true });
      else if (!existsSync(v.hostPath.path) && v.hostPath.type)
        throw new Error(`hostPath ${v.hostPath.path} does not exist`);
      continue;
    }
    mkdirSync(target, { recursive: true });
    if (v.secret)
      writeKeys(target, await getData(admin, ns, 'secrets', v.secret.secretName, v.secret.optional), v.secret);
    else if (v.configMap)
      writeKeys(target, await getData(admin, ns, 'configmaps', v.configMap.name, v.configMap.optional), v.configMap);
    else if (v.downwardAPI) writeDownward(target, v.downwardAPI.items);
    else if (v.projected) {
      for (const s of v.projected.sources) {
        if (s.secret)
          writeKeys(target, await getData(admin, ns, 'secrets', s.secret.name, s.secret.optional), s.secret);
        else if (s.configMap)
          writeKeys(
            target,
            await getData(admin, ns, 'configmaps', s.configMap.name, s.configMap.optional),
            s.configMap,
          );
        else if (s.downwardAPI) writeDownward(target, s.downwardAPI.items);
        else if (s.serviceAccountToken) {
          const answer = await admin.post<{ status: { token: string } }>(
            `/api/v1/namespaces/${ns}/serviceaccounts/${pod.spec.serviceAccountName ?? 'default'}/token`,
            {
              apiVersion: 'authentication.k8s.io/v1',
              kind: 'TokenRequest',
              spec: {
                expirationSeconds: s.serviceAccountToken.expirationSeconds ?? 3600,
                ...(s.serviceAccountToken.audience ? { audiences: [s.serviceAccountToken.audience] } : {}),
                boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name, uid: pod.metadata?.uid },
              },
            },
          );
          writeFileSync(join(target, s.serviceAccountToken.path), answer.status.token, { mode: 0o600 });
        }
      }
    } else if (!v.emptyDir) {
      throw new Error(
        `volume ${v.name}: only secret, configMap, projected, downwardAPI, emptyDir and hostPath volumes are supported by the node stand-in`,
      );
    }
  }
}

/** Text (valid UTF-8) gets its container paths rewritten; binary content is left as it is. */
function rewriteText(value: Buffer, mounts: [string, string][]): Buffer {
  const text = value.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(value)) return value;
  return Buffer.from(rewritePaths(text, mounts), 'utf8');
}

async function registerNode(admin: KubeClient, name: string, logPort: number): Promise<void> {
  const labels = {
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': process.arch === 'arm64' ? 'arm64' : 'amd64',
  };
  try {
    await admin.post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels }, spec: {} });
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 409)) throw err;
  }
  const now = new Date().toISOString();
  const resources = { cpu: '2', memory: '4Gi', pods: '110', 'ephemeral-storage': '20Gi' };
  await admin.patch(
    `/api/v1/nodes/${name}/status`,
    {
      status: {
        capacity: resources,
        allocatable: resources,
        addresses: [
          { type: 'InternalIP', address: '127.0.0.1' },
          { type: 'Hostname', address: name },
        ],
        daemonEndpoints: { kubeletEndpoint: { Port: logPort } },
        nodeInfo: {
          machineID: name,
          systemUUID: name,
          bootID: name,
          kernelVersion: '',
          osImage: 'kafka-backup test bed node stand-in',
          containerRuntimeVersion: 'kb-node://local-processes',
          kubeletVersion: 'v1.34.4',
          kubeProxyVersion: '',
          operatingSystem: 'linux',
          architecture: labels['kubernetes.io/arch'],
        },
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'node stand-in is ready',
            lastHeartbeatTime: now,
            lastTransitionTime: now,
          },
        ],
      },
    },
    'strategic',
  );
}

/**
 * The kubelet's log endpoint, which the API server proxies `GET /api/v1/namespaces/N/pods/P/log`
 * to (HTTPS on the Node's InternalIP and kubeletEndpoint port; the API server does not verify the
 * certificate without --kubelet-certificate-authority). Supports container, previous, tailLines,
 * limitBytes and follow.
 */
async function startLogServer(pods: Map<string, PodRun>): Promise<Server> {
  const server = createServer(
    {
      key: readFileSync(join(KUBE_DIR, 'certs/kubelet.key')),
      cert: readFileSync(join(KUBE_DIR, 'certs/kubelet.crt')),
    },
    (req, res) => {
      const url = new URL(req.url ?? '/', 'https://node');
      const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      const run =
        m && [...pods.values()].find((r) => r.pod.metadata?.namespace === m[1] && r.pod.metadata?.name === m[2]);
      const c = m && run?.containers.get(decodeURIComponent(m[3] ?? ''));
      if (!run || !c) {
        res.writeHead(404).end('container not found on this node\n');
        return;
      }
      const restart = url.searchParams.get('previous') === 'true' ? c.restartCount - 1 : c.restartCount;
      const file = join(run.dir, 'containers', c.spec.name, `${restart}.log`);
      if (!existsSync(file)) {
        res.writeHead(400).end(`previous terminated container "${c.spec.name}" not found\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      let text = readFileSync(file, 'utf8');
      const tailLines = url.searchParams.get('tailLines');
      if (tailLines)
        text =
          tail(text.replace(/\n$/, ''), Number(tailLines) - 1, Number.MAX_SAFE_INTEGER) +
          (text.endsWith('\n') ? '\n' : '');
      const limit = Number(url.searchParams.get('limitBytes') ?? 0);
      if (limit > 0) text = text.slice(0, limit);
      const follow = url.searchParams.get('follow') === 'true' && !!c.child && restart === c.restartCount;
      if (!follow) {
        res.end(text);
        return;
      }
      res.write(text);
      let offset = statSync(file).size;
      const timer = setInterval(() => {
        const size = statSync(file).size;
        if (size > offset) {
          createReadStream(file, { start: offset, end: size - 1 }).pipe(res, { end: false });
          offset = size;
        }
        if (!c.child) {
          clearInterval(timer);
          setTimeout(() => res.end(), 200);
        }
      }, 200);
      res.on('close', () => clearInterval(timer));
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return server;
}
