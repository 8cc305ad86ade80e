/**
 * Progress of a running run, for the resource's status: the operator scrapes the run Pod's own
 * Prometheus endpoint (the CLI's `metrics` section, rendered on for backup and restore runs, bound
 * to the Pod's IP) the way Prometheus would, and keeps a few figures. Why this and not the run
 * writing its progress into an object: the run Pod then needs no API credentials or RBAC at all
 * (least privilege), the figures are the ones the CLI already exports and documents
 * (docs/metrics.md), and a run whose operator is down is not slowed or failed by API writes. The
 * cost is one HTTP GET per active run per progress interval, and the operator must be able to reach
 * Pods on RUN_METRICS_PORT (a NetworkPolicy must allow it; docs/kubernetes.md).
 *
 * Only counters and gauges of records, bytes, partitions, lag and ETA are read: no label values
 * (topic names stay in the metrics) and nothing secret is in what is kept.
 */

/** The port the runs' metrics listen on (the CLI's default metrics.port). */
export const RUN_METRICS_PORT = 9464;
/** The env var the kubelet fills with the Pod's IP (downward API), the runs' metrics bind address. */
export const POD_IP_ENV = 'KB_POD_IP';

export interface RunProgress {
  job: string;
  records?: number;
  bytes?: number;
  partitionsDone?: number;
  partitionsTotal?: number;
  /** 0..100, where the run knows its end (a snapshot backup, a restore). */
  percent?: number;
  /** Backup: offsets not yet durable in storage (to the snapshot end, or to the log end when following). */
  lagRecords?: number;
  etaSeconds?: number;
  updatedAt: string;
}

type Samples = Map<string, { labels: Record<string, string>; value: number }[]>;

/** The samples of a Prometheus text exposition (comments skipped). */
export function parseExposition(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    const list = out.get(m[1]!) ?? [];
    list.push({ labels, value });
    out.set(m[1]!, list);
  }
  return out;
}

const sum = (s: Samples, name: string) => {
  const list = s.get(name);
  return list ? list.reduce((a, x) => a + x.value, 0) : undefined;
};
const withLabel = (s: Samples, name: string, label: string, value: string) =>
  s.get(name)?.find((x) => x.labels[label] === value)?.value;
const round = (n: number) => Math.round(n * 10) / 10;

/** The progress figures in a run's metrics, or undefined when it exports none we know. */
export function progressOf(kind: 'backup' | 'restore', text: string, job: string, now: Date): RunProgress | undefined {
  const s = parseExposition(text);
  const p: RunProgress = { job, updatedAt: now.toISOString() };
  const set = <K extends keyof RunProgress>(k: K, v: RunProgress[K] | undefined) => {
    if (v !== undefined) p[k] = v;
  };
  if (kind === 'backup') {
    set('records', sum(s, 'kafka_backup_records_total'));
    set('bytes', sum(s, 'kafka_backup_bytes_total'));
    set('partitionsTotal', withLabel(s, 'kafka_backup_partitions', 'state', 'total'));
    set('partitionsDone', withLabel(s, 'kafka_backup_partitions', 'state', 'done'));
    const lag = sum(s, 'kafka_backup_lag_records');
    set('lagRecords', lag);
    set('etaSeconds', sum(s, 'kafka_backup_eta_seconds'));
    // known end (snapshot mode has an ETA): what is stored over what is stored plus what is left
    if (lag !== undefined && p.records !== undefined && s.has('kafka_backup_eta_seconds'))
      p.percent = p.records + lag > 0 ? round((100 * p.records) / (p.records + lag)) : 100;
  } else {
    set('records', sum(s, 'kafka_backup_restore_records_total'));
    set('bytes', sum(s, 'kafka_backup_restore_bytes_total'));
    set('partitionsTotal', withLabel(s, 'kafka_backup_restore_partitions', 'state', 'total'));
    set('partitionsDone', withLabel(s, 'kafka_backup_restore_partitions', 'state', 'done'));
    const ratio = sum(s, 'kafka_backup_restore_progress_ratio');
    if (ratio !== undefined) p.percent = round(100 * ratio);
    set('etaSeconds', sum(s, 'kafka_backup_restore_eta_seconds'));
  }
  return Object.keys(p).length > 2 ? p : undefined;
}

/** GET the run's /metrics (short timeout: a slow Pod must not hold the reconcile up). */
export async function scrapeRun(podIp: string, timeoutMs = 3000): Promise<string> {
  const host = podIp.includes(':') ? `[${podIp}]` : podIp;
  const res = await fetch(`http://${host}:${RUN_METRICS_PORT}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`HTTP ${res.status} from the run's metrics endpoint`);
  return res.text();
}
