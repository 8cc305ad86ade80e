/**
 * ops/grafana-dashboard.json, ops/alerts.yaml and docs/operations.md stay in step with the
 * metrics the code publishes: every metric they use exists, and every metric is on the dashboard
 * and documented.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { KafkaBackupMetrics } from '../../../src/metrics/metrics.ts';
import { REPO_ROOT } from '../../helpers/kafka.ts';

async function published(): Promise<Set<string>> {
  const names = new Set<string>();
  let t = 0;
  const now = () => t++;
  const b = new KafkaBackupMetrics({ command: 'backup', backupId: 'b', maxTopicLabels: 1, now });
  b.backupProgress({
    records: 1,
    rawBytes: 2,
    storedBytes: 1,
    files: 1,
    partitionsDone: 0,
    partitionsTotal: 1,
    recordsRemaining: 1,
    lagSeconds: 3,
    oldestPendingSecs: 2,
    topics: { t: { records: 1, bytes: 2 } },
  });
  b.request('s3', 'put', 'b/manifests/0000000001.json', 0.1);
  const r = new KafkaBackupMetrics({ command: 'restore', backupId: 'b', maxTopicLabels: 1, now });
  r.restoreProgress({ records: 1, bytes: 1, recordsTotal: 2, partitionsDone: 0, partitionsTotal: 1 });
  r.offsetsApplied({ planned: 1, applied: 1, failed: 0 });
  r.restoreSchemaIds({ rewritten: 1, unknown: 0 });
  for (const m of [b, r]) for (const x of await m.registry.getMetricsAsJSON()) names.add(x.name);
  return names;
}

/** Metric names used in PromQL text (histogram suffixes mapped to the family). */
function used(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/\b((?:kafka_backup|process)_[a-z_]+)/g))
    out.add(m[1]!.replace(/_(bucket|count|sum)$/, ''));
  return out;
}

test('dashboard and alerts use only published metrics; every metric is on the dashboard and in the docs', async () => {
  const names = await published();
  const dashboard = JSON.parse(readFileSync(`${REPO_ROOT}/ops/grafana-dashboard.json`, 'utf8')) as {
    panels: { type: string; targets?: { expr: string }[] }[];
  };
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
  const alerts = parse(readFileSync(`${REPO_ROOT}/ops/alerts.yaml`, 'utf8')) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  const rules = alerts.groups.flatMap((g) => g.rules);
  for (const n of used(exprs)) assert.ok(names.has(n), `dashboard uses unknown metric ${n}`);
  for (const r of rules) for (const n of used(r.expr)) assert.ok(names.has(n), `alert ${r.alert}: unknown ${n}`);
  for (const n of names) assert.ok(used(exprs).has(n), `${n} is not on the dashboard`);
  const doc = readFileSync(`${REPO_ROOT}/docs/operations.md`, 'utf8');
  for (const n of names) assert.ok(doc.includes(`\`${n}\``), `${n} is not documented in docs/operations.md`);
  for (const a of [
    'KafkaBackupFailing',
    'KafkaBackupCheckpointStale',
    'KafkaBackupStorageBreakerOpen',
    'KafkaBackupLagGrowing',
  ])
    assert.ok(
      rules.some((r) => r.alert === a),
      `alert ${a}`,
    );
  const ids = dashboard.panels.map((p) => (p as unknown as { id: number }).id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
});
