/**
 * Metrics for one command run: starts the endpoint when metrics.enabled, and gives the command
 * the hooks to feed it. When disabled every hook is a no-op and `storage` is undefined, so the
 * storage stack is assembled without the metering wrapper.
 */
import type { BackupProgress } from '../backup/options.ts';
import type { MetricsConfig } from '../config/schema.ts';
import type { RestoreProgress } from '../restore/options.ts';
import type { StorageMetrics } from '../storage/metered.ts';
import { logger } from '../util/log.ts';
import { KafkaBackupMetrics } from './metrics.ts';
import { startMetricsServer } from './server.ts';

export interface CommandMetrics {
  /** For openStorage (extras.metrics); undefined when metrics are disabled. */
  readonly storage: StorageMetrics | undefined;
  /** The endpoint's base URL, when enabled. */
  readonly url: string | undefined;
  backupProgress(p: BackupProgress): void;
  restoreProgress(p: RestoreProgress): void;
  /** A failed call to Kafka (storage errors are counted by the storage wrapper). */
  error(kind: 'kafka', cls: 'transient' | 'permanent'): void;
  /** Continuous backup: a followed topic was deleted or re-created during the run. */
  topicGone(reason: 'deleted' | 'recreated'): void;
  /** Consumer groups moved at the end of a restore. */
  offsetsApplied(groups: { planned: number; applied: number; failed: number }): void;
  /** restore.schema_registry: ids rewritten and unknown, at the end of a restore. */
  restoreSchemaIds(counts: { rewritten: number; unknown: number }): void;
  /** One produce request acknowledged after `seconds`. */
  restoreProduced(seconds: number): void;
  /** Connected and planned: /ready answers 200 from now on. */
  ready(): void;
  close(): Promise<void>;
}

const disabled: CommandMetrics = {
  storage: undefined,
  url: undefined,
  backupProgress() {},
  restoreProgress() {},
  restoreProduced() {},
  offsetsApplied() {},
  restoreSchemaIds() {},
  error() {},
  topicGone() {},
  ready() {},
  close: async () => {},
};

export async function startCommandMetrics(
  config: MetricsConfig | undefined,
  info: { command: 'backup' | 'restore'; backupId: string },
): Promise<CommandMetrics> {
  if (!config?.enabled) return disabled;
  const m = new KafkaBackupMetrics({ ...info, maxTopicLabels: config.max_topic_labels });
  const server = await startMetricsServer(m, config.port, config.bind_address);
  logger('metrics').info('metrics endpoint listening', {
    url: `${server.url}/metrics`,
    health: `${server.url}/health`,
    ready: `${server.url}/ready`,
  });
  return {
    storage: m,
    url: server.url,
    backupProgress(p) {
      m.markReady();
      m.backupProgress(p);
    },
    restoreProgress(p) {
      m.markReady();
      m.restoreProgress(p);
    },
    restoreProduced: (seconds) => m.restoreProduced(seconds),
    offsetsApplied: (groups) => m.offsetsApplied(groups),
    restoreSchemaIds: (counts) => m.restoreSchemaIds(counts),
    error: (kind, cls) => m.error(kind, cls),
    topicGone: (reason) => m.topicGone(reason),
    ready: () => m.markReady(),
    close: async () => {
      // batch jobs: keep the final values scrapable for a while (metrics.linger_secs)
      if (config.linger_secs > 0) await new Promise((r) => setTimeout(r, config.linger_secs * 1000));
      await server.close();
    },
  };
}
