/** The operator's own Prometheus metrics (its registry, separate from the CLI runs' metrics). */
import { Counter, Gauge, Registry } from 'prom-client';
import type { Kind } from './api.ts';

export class OperatorMetrics {
  readonly registry = new Registry();
  private readonly reconciles = new Counter({
    name: 'kafka_backup_operator_reconciles_total',
    help: 'reconciles of a resource, by kind and result',
    labelNames: ['kind', 'result'],
    registers: [this.registry],
  });
  private readonly runs = new Counter({
    name: 'kafka_backup_operator_runs_created_total',
    help: 'Jobs created for runs, by kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  private readonly leaderGauge = new Gauge({
    name: 'kafka_backup_operator_leader',
    help: '1 while this replica holds the leader Lease',
    registers: [this.registry],
  });

  reconciled(kind: Kind, result: 'ok' | 'error'): void {
    this.reconciles.inc({ kind, result });
  }
  runCreated(kind: Kind): void {
    this.runs.inc({ kind });
  }
  leader(on: boolean): void {
    this.leaderGauge.set(on ? 1 : 0);
  }
}
