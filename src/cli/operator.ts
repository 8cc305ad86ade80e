/**
 * `kafka-backup operator`: the Kubernetes operator (docs/kubernetes.md). Loads
 * @kubernetes/client-node only here, so the other commands never pay for it.
 */
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { configureLogging, logger } from '../util/log.ts';

interface OperatorFlags {
  namespace?: string[];
  allNamespaces?: boolean;
  kubeconfig?: string;
  inCluster?: boolean;
  metricsAddress: string;
  jobImage: string;
  resyncInterval: string;
  progressInterval: string;
  watch: boolean;
  leaderElect: boolean;
  leaderElectionNamespace?: string;
  leaseName: string;
}

export function registerOperatorCommand(program: Command): void {
  const collect = (v: string, prev: string[] = []) => [
    ...prev,
    ...v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
  program
    .command('operator')
    .description('run the Kubernetes operator: KafkaBackup, KafkaRestore, KafkaOffsetReset, KafkaOffsetRollback')
    .option('-n, --namespace <ns>', 'watch this namespace (repeatable, or comma separated)', collect)
    .option('-A, --all-namespaces', 'watch every namespace (the default without --namespace)')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--in-cluster', "use the Pod's service account")
    .option('--metrics-address <host:port>', '/metrics, /healthz, /readyz', '0.0.0.0:8080')
    .option(
      '--job-image <image>',
      'the image of the run Jobs (this CLI)',
      process.env['KAFKA_BACKUP_IMAGE'] ?? 'kafka-backup:latest',
    )
    .option('--resync-interval <seconds>', 'how often every resource is reconciled (besides the watches)', '300')
    .option('--progress-interval <seconds>', "how often a running run's progress is read into its status", '15')
    .option('--no-watch', 'do not watch: reconcile only every --resync-interval')
    .option('--no-leader-elect', 'do not take the leader Lease (only for a single replica)')
    .option('--leader-election-namespace <ns>', 'namespace of the Lease (default: $POD_NAMESPACE or default)')
    .option('--lease-name <name>', 'name of the Lease', 'kafka-backup-operator')
    .action(async (o: OperatorFlags) => {
      if (o.namespace?.length && o.allNamespaces)
        throw new UsageError('--namespace and --all-namespaces are both set', { hint: 'use one of them' });
      const resyncSecs = Number(o.resyncInterval);
      if (!Number.isFinite(resyncSecs) || resyncSecs <= 0)
        throw new UsageError(`--resync-interval must be a positive number of seconds, found ${o.resyncInterval}`);
      const progressSecs = Number(o.progressInterval);
      if (!Number.isFinite(progressSecs) || progressSecs <= 0)
        throw new UsageError(`--progress-interval must be a positive number of seconds, found ${o.progressInterval}`);
      configureLogging({ json: true });
      const log = logger('operator');
      const [
        { Kube, loadKubeConfig, errorText },
        { Controller },
        { LeaderElector },
        { OperatorMetrics },
        { startOperatorHttp },
        { Watch },
      ] = await Promise.all([
        import('../operator/kube.ts'),
        import('../operator/controller.ts'),
        import('../operator/leader.ts'),
        import('../operator/metrics.ts'),
        import('../operator/http.ts'),
        import('@kubernetes/client-node'),
      ]);
      const kube = new Kube(
        loadKubeConfig({
          ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
          ...(o.inCluster ? { inCluster: true } : {}),
        }),
      );
      const metrics = new OperatorMetrics();
      const elector = o.leaderElect
        ? new LeaderElector(kube, {
            namespace: o.leaderElectionNamespace ?? process.env['POD_NAMESPACE'] ?? 'default',
            name: o.leaseName,
            onError: (e) =>
              log.warn('leader election: the Lease could not be read or written', { error: errorText(e) }),
            onChange: (leader) => {
              metrics.leader(leader);
              log.info(leader ? 'became the leader' : 'not the leader', {});
              if (leader) controller.resyncNow();
            },
          })
        : undefined;
      if (!elector) metrics.leader(true);
      const controller = new Controller(kube, {
        ...(o.namespace?.length ? { namespaces: o.namespace } : {}),
        image: o.jobImage,
        resyncMs: resyncSecs * 1000,
        progressMs: progressSecs * 1000,
        ...(o.watch ? { watcher: new Watch(kube.config) } : {}),
        isLeader: () => elector?.isLeader() ?? true,
        log,
        metrics,
      });
      const http = await startOperatorHttp(
        o.metricsAddress,
        metrics,
        () => controller.synced || (elector !== undefined && !elector.isLeader()),
      );
      log.info('operator started', {
        namespaces: o.namespace?.length ? o.namespace : 'all',
        http: http.url,
        identity: elector?.identity ?? 'no leader election',
      });
      elector?.start();
      controller.start();
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      log.info('stopping', {});
      await controller.stop();
      await elector?.stop();
      await http.close();
    });
}
