/**
 * `kafka-backup offsets <plan|apply|snapshot|rollback|verify|show-mapping>`: moves consumer
 * groups onto restored data (docs/offsets.md).
 *
 * Inputs come from `-c config` (backup_id, storage, target, source, offsets.*, restore.*) and/or
 * flags, flags winning: --path --state-path --backup-id --restore-id --groups --group-mapping
 * --bootstrap --source-bootstrap --strategy ... Output: --format text|json|yaml|csv.
 * Exit codes: 0 ok; 1 cluster or storage problem, active group; 2 bad input (unknown group,
 * snapshot or restore, mismatching offset map); 3 verify found offsets that differ; 4 some
 * groups failed.
 */
import type { Command } from 'commander';
import { type Config, OFFSET_STRATEGIES, parseTime } from '../config/schema.ts';
import { IntegrityError, UsageError } from '../errors.ts';
import type { KafkaConnectionOptions } from '../kafka/client.ts';
import type { ApplyResult, OffsetsRequest } from '../offsets/manager.ts';
import type { OffsetPlan, OffsetStrategy } from '../offsets/model.ts';
import { parseMappingList } from '../offsets/translate.ts';
import type { StorageBackend } from '../storage/backend.ts';
import {
  applyLogFlags,
  formatOption,
  loadCommandConfig,
  stateStorageFromUrl,
  storageFromConfig,
  storageFromPath,
} from './common.ts';
import { emit, type OutputFormat, table } from './output.ts';
import { writeRunSummary } from './summary.ts';

const FORMATS: OutputFormat[] = ['text', 'json', 'yaml', 'csv'];

interface CommonOpts {
  config?: string;
  path?: string;
  statePath?: string;
  backupId?: string;
  restoreId?: string;
  groups?: string;
  groupMapping?: string;
  topicMapping?: string;
  bootstrap?: string;
  sourceBootstrap?: string;
  liveSource?: boolean;
  strategy?: string;
  toDatetime?: string;
  toOffset?: string;
  pointInTime?: string;
  backupSnapshot?: string;
  concurrency?: string;
  format?: string;
}

function common(cmd: Command, withPlanInputs = true): Command {
  cmd
    .option('-c, --config <file>', 'YAML config (backup_id, storage, target, offsets.*, restore.group_mapping ...)')
    .option('--path <url>', 'backup location: directory or storage URL (s3://…, azure://…, gs://…)')
    .option(
      '--state-path <url>',
      'where the restore state and offset snapshots live (restore.state_url), if not --path',
    )
    .option('--backup-id <id>', 'the backup line')
    .option('--bootstrap <servers>', 'target cluster bootstrap servers (comma separated; PLAINTEXT)')
    .option('--groups <list>', 'groups: names and patterns (glob * ?, or ~regex), comma separated')
    .option('--concurrency <n>', 'groups processed at once (offsets.max_concurrent_groups)')
    .option('--format <format>', 'text|json|yaml|csv', 'text');
  if (withPlanInputs)
    cmd
      .option('--restore-id <id>', 'the restore to follow (default: the only finished restore of the backup)')
      .option('--group-mapping <list>', 'rename groups: source=target,… (adds to restore.group_mapping)')
      .option('--topic-mapping <list>', 'topic names on the target when no restore is followed: source=target,…')
      .option('--source-bootstrap <servers>', 'read the positions live from this source cluster instead of a capture')
      .option('--live-source', "read the positions live from the config's source cluster instead of a capture")
      .option('--strategy <s>', `${OFFSET_STRATEGIES.join('|')} (offsets.strategy; default exact)`)
      .option('--to-datetime <time>', 'for --strategy to-datetime: ISO-8601 time or epoch ms')
      .option('--to-offset <n>', 'for --strategy to-offset: the offset (clamped to each partition)')
      .option(
        '--point-in-time <time>',
        'choose the newest capture at or before this time (default: the restore point in time)',
      )
      .option('--backup-snapshot <id>', 'backup snapshot when no restore is followed (default: latest)');
  return cmd;
}

function splitList(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function timeFlag(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const t = parseTime(v);
  if (t === undefined)
    throw new UsageError(`${flag} ${v} is not a time`, {
      hint: 'use ISO-8601 with a zone (2025-01-01T12:00:00Z) or epoch ms',
    });
  return t;
}

function intFlag(v: string | undefined, flag: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} ${v} must be an integer >= ${min}`);
  return n;
}

interface Resolved {
  config: Config | undefined;
  storage: StorageBackend;
  stateStorage: StorageBackend | undefined;
  state: StorageBackend;
  backupId: string;
  target: KafkaConnectionOptions;
  groups: string[];
  concurrency: number;
  close: () => Promise<void>;
}

async function resolveBase(cmd: Command): Promise<Resolved> {
  const o = cmd.opts() as CommonOpts;
  let config: Config | undefined;
  if (o.config) config = loadCommandConfig(o.config, cmd);
  else applyLogFlags(cmd);
  const backupId = o.backupId ?? config?.backup_id;
  if (!backupId) throw new UsageError('no backup id', { hint: 'pass --backup-id, or set backup_id in the config' });
  let target: KafkaConnectionOptions | undefined;
  if (o.bootstrap) target = { ...(config?.target ?? {}), bootstrap_servers: splitList(o.bootstrap) };
  else target = config?.target;
  if (!target)
    throw new UsageError('no target cluster', { hint: 'pass --bootstrap host:port, or set target in the config' });
  let storage: StorageBackend;
  if (o.path) storage = await storageFromPath(o.path);
  else if (config?.storage) storage = await storageFromConfig(config.storage);
  else throw new UsageError('no backup location', { hint: 'pass --path <dir or URL>, or set storage in the config' });
  const stateUrl = o.statePath ?? config?.restore.state_url;
  const stateStorage = stateUrl ? await stateStorageFromUrl(stateUrl, storage) : undefined;
  const groups = o.groups
    ? splitList(o.groups)
    : config?.offsets.groups.length
      ? config.offsets.groups
      : (config?.restore.consumer_groups ?? []);
  return {
    config,
    storage,
    stateStorage,
    state: stateStorage ?? storage,
    backupId,
    target,
    groups,
    concurrency: intFlag(o.concurrency, '--concurrency', 1) ?? config?.offsets.max_concurrent_groups ?? 16,
    close: async () => {
      await storage.close();
      await stateStorage?.close();
    },
  };
}

function planRequest(cmd: Command, b: Resolved): OffsetsRequest {
  const o = cmd.opts() as CommonOpts;
  const c = b.config;
  const strategy = (o.strategy ?? c?.offsets.strategy ?? 'exact') as OffsetStrategy;
  if (!(OFFSET_STRATEGIES as readonly string[]).includes(strategy))
    throw new UsageError(`unknown strategy ${strategy}`, { hint: `use one of: ${OFFSET_STRATEGIES.join(', ')}` });
  let source: KafkaConnectionOptions | undefined;
  if (o.sourceBootstrap) source = { bootstrap_servers: splitList(o.sourceBootstrap) };
  else if (o.liveSource) {
    if (!c?.source)
      throw new UsageError('--live-source needs a source section in the config', {
        hint: 'or pass --source-bootstrap',
      });
    source = c.source;
  }
  return {
    storage: b.storage,
    stateStorage: b.stateStorage,
    backupId: b.backupId,
    restoreId: o.restoreId ?? c?.restore.restore_id,
    snapshot: o.backupSnapshot ?? c?.snapshot,
    target: b.target,
    source,
    groups: b.groups,
    groupMapping: { ...(c?.restore.group_mapping ?? {}), ...parseMappingList(o.groupMapping ?? '', '--group-mapping') },
    topicMapping: { ...(c?.restore.topic_mapping ?? {}), ...parseMappingList(o.topicMapping ?? '', '--topic-mapping') },
    strategy,
    toDatetime: timeFlag(o.toDatetime, '--to-datetime'),
    toOffset: intFlag(o.toOffset, '--to-offset', 0),
    pointInTime: timeFlag(o.pointInTime, '--point-in-time') ?? c?.restore.point_in_time ?? c?.restore.time_window_end,
    maxConcurrentGroups: b.concurrency,
  };
}

function planRows(plan: OffsetPlan): Record<string, unknown>[] {
  return plan.entries.map((e) => ({
    group: e.group,
    source_group: e.source_group,
    topic: e.topic,
    partition: e.partition,
    source_topic: e.source_topic,
    source_partition: e.sources ? e.sources.map((s) => s.partition).join('+') : e.source_partition,
    source_offset: e.sources ? e.sources.map((s) => s.offset).join('+') : e.source_offset,
    target_offset: e.target_offset,
    current_offset: e.current_offset,
    end_offset: e.end_offset,
    lag: e.lag,
    strategy: e.strategy,
    rule: e.rule,
    action: e.action,
    note: e.note ?? '',
  }));
}

function renderPlan(plan: OffsetPlan, head: string): string {
  const from =
    plan.offsets_from.kind === 'capture'
      ? `capture ${plan.offsets_from.captured_at} (${plan.offsets_from.key})`
      : plan.offsets_from.kind === 'live'
        ? `live from ${plan.offsets_from.bootstrap_servers.join(',')} at ${plan.offsets_from.read_at}`
        : '-';
  const lines = [
    head,
    `backup ${plan.backup_id}, snapshot ${plan.snapshot_id ?? '-'}, restore ${plan.restore_id ?? '-'}, strategy ${plan.strategy}`,
    `positions from ${from}`,
    '',
    table(
      ['GROUP', 'SOURCE GROUP', 'STATE', 'MEMBERS'],
      plan.groups.map((g) => [g.group, g.source_group, g.active ? `${g.state} (ACTIVE: refused)` : g.state, g.members]),
    ),
    '',
    table(
      ['GROUP', 'TOPIC', 'PARTITION', 'SOURCE', 'CURRENT', 'TARGET', 'LAG', 'STRATEGY', 'RULE', 'ACTION'],
      plan.entries.map((e) => [
        e.group,
        e.topic,
        e.partition,
        e.sources
          ? e.sources.map((s) => `${e.source_topic}-${s.partition}@${s.offset}`).join(' ')
          : e.source_partition !== null
            ? `${e.source_topic}-${e.source_partition}@${e.source_offset}`
            : '-',
        e.current_offset ?? '-',
        e.target_offset,
        e.lag,
        e.strategy,
        e.rule,
        e.action,
      ]),
    ),
  ];
  for (const s of plan.skipped) lines.push(`skipped ${s.group}: ${s.reason}`);
  for (const e of plan.entries) if (e.note) lines.push(`note ${e.group} ${e.topic}-${e.partition}: ${e.note}`);
  for (const n of plan.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}

function applyDoc(r: ApplyResult) {
  return {
    executed: r.executed,
    apply_id: r.apply_id,
    rollback_snapshot: r.rollback_snapshot,
    counts: r.counts,
    changes: r.changes,
    plan: r.plan,
  };
}

// The manager loads the Kafka client; registering the commands (for --help, --version) must not.
const manager = () => import('../offsets/manager.ts');

export function registerOffsetsCommand(program: Command): void {
  const offsets = program
    .command('offsets')
    .description('plan and move consumer-group offsets onto restored data (default: plan)');

  const planAction = async (_o: unknown, cmd: Command) => {
    const { planOffsets } = await manager();
    const format = formatOption(cmd, FORMATS);
    const b = await resolveBase(cmd);
    try {
      const plan = await planOffsets(planRequest(cmd, b));
      emit(
        format,
        plan,
        () => renderPlan(plan, 'offset plan (nothing written)'),
        () => planRows(plan),
      );
    } finally {
      await b.close();
    }
  };
  common(
    offsets
      .command('plan', { isDefault: true })
      .description('show, per group, topic and partition, where each group would move (the default)'),
  ).action(planAction);

  common(
    offsets
      .command('apply')
      .description('move the groups (with --execute; without it, print the plan). Takes a rollback snapshot first')
      .option('--execute', 'write the offsets'),
  ).action(async (_o: unknown, cmd: Command) => {
    const { applyOffsets, assertApplied } = await manager();
    const format = formatOption(cmd, FORMATS);
    const b = await resolveBase(cmd);
    try {
      const r = await applyOffsets(planRequest(cmd, b), { execute: Boolean(cmd.opts()['execute']) });
      writeRunSummary('offsets apply', applyDoc(r));
      emit(
        format,
        applyDoc(r),
        () =>
          r.executed
            ? [
                `applied ${r.apply_id}: ${r.counts.set} set, ${r.counts.unchanged} unchanged, ${r.counts.failed} failed`,
                r.rollback_snapshot
                  ? `rollback: kafka-backup offsets rollback --snapshot ${r.rollback_snapshot}`
                  : 'nothing changed (no snapshot needed)',
                '',
                table(
                  ['GROUP', 'TOPIC', 'PARTITION', 'FROM', 'TO', 'ACTION'],
                  r.changes.map((c) => [
                    c.group,
                    c.topic,
                    c.partition,
                    c.from ?? '-',
                    c.to ?? '-',
                    c.error ? `${c.action}: ${c.error}` : c.action,
                  ]),
                ),
              ].join('\n')
            : renderPlan(r.plan, 'offset plan (dry run: pass --execute to write)'),
        () => (r.executed ? r.changes.map((c) => ({ ...c, error: c.error ?? '' })) : planRows(r.plan)),
      );
      assertApplied(r);
    } finally {
      await b.close();
    }
  });

  common(
    offsets.command('snapshot').description("save the target's current offsets of the groups to the storage location"),
    false,
  ).action(async (_o: unknown, cmd: Command) => {
    const { snapshotOffsets } = await manager();
    const format = formatOption(cmd, FORMATS);
    const b = await resolveBase(cmd);
    try {
      const mapping = b.config?.restore.group_mapping ?? {};
      const doc = await snapshotOffsets({
        stateStorage: b.state,
        backupId: b.backupId,
        target: b.target,
        groups: b.groups.map((g) => mapping[g] ?? g),
        maxConcurrentGroups: b.concurrency,
      });
      const rows = Object.entries(doc.groups).flatMap(([group, g]) =>
        Object.entries(g.offsets).flatMap(([topic, ps]) =>
          Object.entries(ps).map(([p, c]) => ({
            group,
            topic,
            partition: Number(p),
            offset: c.offset,
            metadata: c.metadata ?? '',
          })),
        ),
      );
      emit(
        format,
        doc,
        () =>
          [
            `offset snapshot ${doc.id}: ${Object.keys(doc.groups).length} group(s), ${rows.length} offset(s)`,
            `roll back to it with: kafka-backup offsets rollback --snapshot ${doc.id}`,
            ...Object.entries(doc.groups)
              .filter(([, g]) => !g.existed)
              .map(([group]) => `group ${group} does not exist on the target (a rollback deletes it again)`),
            '',
            table(
              ['GROUP', 'TOPIC', 'PARTITION', 'OFFSET'],
              rows.map((r) => [r.group, r.topic, r.partition, r.offset]),
            ),
          ].join('\n'),
        () => rows,
      );
    } finally {
      await b.close();
    }
  });

  common(
    offsets
      .command('rollback')
      .description('put the groups of an offset snapshot back exactly as they were')
      .requiredOption('--snapshot <id>', 'offset snapshot id (from apply or offsets snapshot)')
      .option('--dry-run', 'show what would change, write nothing'),
    false,
  ).action(async (_o: unknown, cmd: Command) => {
    const { rollbackOffsets } = await manager();
    const format = formatOption(cmd, FORMATS);
    const b = await resolveBase(cmd);
    try {
      const r = await rollbackOffsets({
        stateStorage: b.state,
        backupId: b.backupId,
        target: b.target,
        snapshotId: String(cmd.opts()['snapshot']),
        maxConcurrentGroups: b.concurrency,
        dryRun: Boolean(cmd.opts()['dryRun']),
      });
      writeRunSummary('offsets rollback', r);
      emit(
        format,
        r,
        () =>
          [
            `${r.executed ? 'rolled back to' : 'rollback (nothing written) to'} ${r.snapshot_id}: ${r.counts.set} set, ${r.counts.deleted} deleted, ${r.counts.groups_deleted} group(s) deleted, ${r.counts.unchanged} unchanged`,
            ...(r.pre_rollback_snapshot ? [`the state before: offset snapshot ${r.pre_rollback_snapshot}`] : []),
            '',
            table(
              ['GROUP', 'TOPIC', 'PARTITION', 'FROM', 'TO', 'ACTION'],
              r.changes.map((c) => [
                c.group,
                c.topic || '-',
                c.partition < 0 ? '-' : c.partition,
                c.from ?? '-',
                c.to ?? '-',
                c.action,
              ]),
            ),
          ].join('\n'),
        () => r.changes.map((c) => ({ ...c, error: c.error ?? '' })),
      );
    } finally {
      await b.close();
    }
  });

  common(
    offsets
      .command('verify')
      .description('read the offsets back and compare them with the last apply (exit 3 on a difference)')
      .option('--apply-id <id>', 'the apply to check (default: the newest)'),
  ).action(async (_o: unknown, cmd: Command) => {
    const { planOffsets, verifyOffsets } = await manager();
    const format = formatOption(cmd, FORMATS);
    const b = await resolveBase(cmd);
    try {
      const req = planRequest(cmd, b);
      const r = await verifyOffsets({
        stateStorage: b.state,
        backupId: b.backupId,
        target: b.target,
        applyId: cmd.opts()['applyId'] as string | undefined,
        restoreId: cmd.opts()['restoreId'] as string | undefined,
        maxConcurrentGroups: b.concurrency,
        fallback: () => planOffsets(req),
      });
      emit(
        format,
        r,
        () =>
          [
            `verify ${r.apply_id ? `apply ${r.apply_id}` : 'current plan'}: ${r.ok ? 'OK' : `${r.mismatches} offset(s) differ`} (${r.rows.length} checked)`,
            '',
            table(
              ['GROUP', 'TOPIC', 'PARTITION', 'EXPECTED', 'ACTUAL', 'STATUS'],
              (r.ok ? r.rows : r.rows.filter((x) => x.status !== 'ok')).map((x) => [
                x.group,
                x.topic,
                x.partition,
                x.expected,
                x.actual ?? '-',
                x.status,
              ]),
            ),
          ].join('\n'),
        () => r.rows.map((x) => ({ ...x })),
      );
      if (!r.ok)
        throw new IntegrityError(
          `${r.mismatches} committed offset(s) differ from ${r.apply_id ? `apply ${r.apply_id}` : 'the plan'}`,
          [],
          {
            hint: 'something committed after the apply (a consumer ran, or another tool); apply again, or roll back',
          },
        );
    } finally {
      await b.close();
    }
  });

  common(
    offsets
      .command('show-mapping')
      .description("show the restore's offset map: per target partition, runs of source → target offsets"),
  ).action(async (_o: unknown, cmd: Command) => {
    const { showMapping } = await manager();
    const format = formatOption(cmd, FORMATS);
    const o = cmd.opts() as CommonOpts;
    let config: Config | undefined;
    if (o.config) config = loadCommandConfig(o.config, cmd);
    else applyLogFlags(cmd);
    const backupId = o.backupId ?? config?.backup_id;
    if (!backupId) throw new UsageError('no backup id', { hint: 'pass --backup-id, or set backup_id in the config' });
    const storage = o.path
      ? await storageFromPath(o.path)
      : config?.storage
        ? await storageFromConfig(config.storage)
        : undefined;
    if (!storage)
      throw new UsageError('no backup location', { hint: 'pass --path <dir or URL>, or set storage in the config' });
    const stateUrl = o.statePath ?? config?.restore.state_url;
    const stateStorage = stateUrl ? await stateStorageFromUrl(stateUrl, storage) : undefined;
    try {
      const v = await showMapping({
        storage,
        stateStorage,
        backupId,
        restoreId: o.restoreId ?? config?.restore.restore_id,
      });
      emit(
        format,
        v,
        () =>
          [
            `offset map of restore ${v.restore_id} (backup ${v.backup_id}, snapshot ${v.snapshot_id}, manifest ${v.manifest_sha256.slice(0, 12)}…)`,
            '',
            table(
              [
                'TARGET',
                'PARTITION',
                'SOURCE',
                'FROM PARTITIONS',
                'RECORDS',
                'RUNS',
                'TARGET OFFSETS',
                'SOURCE OFFSETS',
                'SOURCE GAPS',
              ],
              v.partitions.map((p) => [
                p.target_topic,
                p.target_partition,
                p.source_topic,
                p.source_partitions.join(',') || '-',
                p.records,
                p.runs,
                p.target_first === null ? '-' : `${p.target_first}..${p.target_end! - 1}`,
                p.source_first === null ? '-' : `${p.source_first}..${p.source_last}`,
                p.source_gaps,
              ]),
            ),
          ].join('\n'),
        () => v.runs.map((r) => ({ ...r })),
      );
    } finally {
      await storage.close();
      await stateStorage?.close();
    }
  });
}
