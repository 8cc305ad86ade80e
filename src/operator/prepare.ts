/**
 * The reconcilers' reading half: resolves what a spec refers to (a KafkaBackup, a Strimzi cluster
 * and user, Secrets, a KafkaOffsetReset's rollback snapshot), renders the config and checks it.
 * Any problem becomes a reason and a message for the status, never an exception.
 */
import type {
  BackupRefSpec,
  JobSettings,
  KafkaBackupSpec,
  KafkaOffsetResetSpec,
  KafkaOffsetRollbackSpec,
  KafkaRestoreSpec,
  Kind,
  Resource,
  Section,
} from './api.ts';
import { encryptionPathEnv } from './encryption.ts';
import { SecretMounts, specPathOf } from './fields.ts';
import type { Kube } from './kube.ts';
import type { Prepared } from './plan.ts';
import {
  CONFIG_FILE,
  offsetsArgs,
  type Rendered,
  type Resolved,
  renderBackup,
  renderOffsets,
  renderRestore,
} from './render.ts';
import { forgetArgs, hasKeepPolicy, pruneArgs, storageEnv, storageUrl } from './retention.ts';
import { STRIMZI_GROUP, STRIMZI_VERSION, StrimziProblem, type StrimziUser, strimziConnection } from './strimzi.ts';
import { configProblems } from './validate.ts';

export interface PrepareContext {
  kube: Kube;
  image: string;
}

class Problem extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

async function connection(
  ctx: PrepareContext,
  namespace: string,
  spec: { kafka?: Section; strimziClusterRef?: BackupRefSpec['strimziClusterRef'] },
): Promise<Section> {
  const ref = spec.strimziClusterRef;
  if (!ref) {
    if (!spec.kafka) throw new Problem('InvalidSpec', 'set kafka.bootstrapServers or strimziClusterRef');
    return spec.kafka;
  }
  const ns = ref.namespace ?? namespace;
  const cluster = await ctx.kube.getCustom(STRIMZI_GROUP, STRIMZI_VERSION, 'kafkas', ns, ref.name);
  if (!cluster) throw new Problem('StrimziClusterNotFound', `Kafka ${ns}/${ref.name} (kafka.strimzi.io) not found`);
  let user: StrimziUser | undefined;
  if (ref.kafkaUser) {
    user = await ctx.kube.getCustom(STRIMZI_GROUP, STRIMZI_VERSION, 'kafkausers', ns, ref.kafkaUser);
    if (!user)
      throw new Problem('StrimziUserNotFound', `KafkaUser ${ns}/${ref.kafkaUser} (kafka.strimzi.io) not found`);
  }
  let section: Section;
  try {
    section = strimziConnection(ref, cluster, user);
  } catch (e) {
    if (e instanceof StrimziProblem) throw new Problem('StrimziClusterNotReady', e.message);
    throw e;
  }
  if (ns !== namespace) await strimziSecretsHere(ctx, namespace, ns, section);
  return section;
}

/**
 * A run mounts Secrets of its own namespace only. With the Kafka (and KafkaUser) in another
 * namespace, Strimzi's CA and user Secrets are there: say so, and how to fix it, rather than a
 * bare SecretNotFound. (The operator does not copy them: that would need the right to write
 * Secrets in every watched namespace.)
 */
async function strimziSecretsHere(ctx: PrepareContext, namespace: string, strimziNs: string, section: Section) {
  const names = new Set<string>();
  const walk = (v: unknown) => {
    if (!v || typeof v !== 'object') return;
    for (const [k, c] of Object.entries(v as Record<string, unknown>))
      if (k.endsWith('Secret') && c && typeof c === 'object') names.add(String((c as { name: unknown }).name));
      else walk(c);
  };
  walk(section['security']);
  for (const name of [...names].sort())
    if (!(await ctx.kube.secretKeys(namespace, name)))
      throw new Problem(
        'StrimziSecretNotInNamespace',
        `Secret ${name} (Strimzi's, in ${strimziNs}) is needed in ${namespace}, where the runs are: copy it there ` +
          `(kubectl get secret ${name} -n ${strimziNs} -o yaml, drop namespace/uid/resourceVersion/ownerReferences, apply it in ${namespace}; ` +
          'or a secret replicator), or create the resource in the Kafka namespace',
      );
}

/** storage, backup id and (as a default) the cluster, from a backupRef or the spec itself. */
async function backupOf(ctx: PrepareContext, namespace: string, spec: BackupRefSpec): Promise<Resolved> {
  if (spec.backupRef) {
    const b = await ctx.kube.getResource<KafkaBackupSpec>('KafkaBackup', namespace, spec.backupRef.name);
    if (!b)
      throw new Problem('BackupNotFound', `KafkaBackup ${namespace}/${spec.backupRef.name} (backupRef) not found`);
    const own = spec.kafka || spec.strimziClusterRef ? spec : b.spec;
    const encryption = (b.spec.backup?.['encryption'] as Section | undefined) ?? spec.encryption;
    return {
      backupId: b.spec.backupId ?? b.metadata.name,
      storage: b.spec.storage,
      kafka: await connection(ctx, namespace, own),
      ...(encryption ? { encryption } : {}),
    };
  }
  if (!spec.storage || !spec.backupId) throw new Problem('InvalidSpec', 'set backupRef, or storage and backupId');
  return {
    backupId: spec.backupId,
    storage: spec.storage,
    kafka: await connection(ctx, namespace, spec),
    ...(spec.encryption ? { encryption: spec.encryption } : {}),
  };
}

async function checkRendered(ctx: PrepareContext, namespace: string, rendered: Rendered): Promise<void> {
  const problems = configProblems(rendered);
  if (problems.length)
    throw new Problem(
      'InvalidSpec',
      problems
        .map((p) => {
          // config key paths -> the spec's field names, so the message points at the resource
          const m = /^([A-Za-z0-9_.[\]]+):(.*)$/.exec(p);
          return m ? `${specPathOf(m[1]!.split('.'))}:${m[2]}` : p;
        })
        .join('; '),
    );
  for (const [name, keys] of rendered.secrets.secretsNeeded()) {
    const have = await ctx.kube.secretKeys(namespace, name);
    if (!have) throw new Problem('SecretNotFound', `Secret ${namespace}/${name} not found`);
    const missing = [...keys].filter((k) => !have.has(k));
    if (missing.length)
      throw new Problem('SecretKeyNotFound', `Secret ${namespace}/${name} has no key ${missing.join(', ')}`);
  }
}

async function guard(f: () => Promise<Prepared>): Promise<Prepared> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof Problem) return { ok: false, reason: e.reason, message: e.message };
    throw e;
  }
}

function runner(
  ctx: PrepareContext,
  kind: Kind,
  r: Resource<JobSettings>,
  args: string[],
  rendered: Rendered,
  continuous = false,
): Prepared {
  return {
    ok: true,
    run: (jobName, scheduledAt) => ({
      kind,
      owner: r.metadata,
      jobName,
      args,
      rendered,
      settings: r.spec,
      image: ctx.image,
      ...(scheduledAt ? { scheduledAt } : {}),
      ...(continuous ? { continuous } : {}),
    }),
  };
}

export function prepareBackup(ctx: PrepareContext, r: Resource<KafkaBackupSpec>): Promise<Prepared> {
  return guard(async () => {
    const ns = r.metadata.namespace;
    const resolved: Resolved = {
      backupId: r.spec.backupId ?? r.metadata.name,
      storage: r.spec.storage,
      kafka: await connection(ctx, ns, r.spec),
    };
    const rendered = renderBackup(r.spec, resolved);
    await checkRendered(ctx, ns, rendered);
    const prepared = runner(
      ctx,
      'KafkaBackup',
      r,
      ['backup', '-c', CONFIG_FILE, '--format', 'json'],
      rendered,
      r.spec.mode === 'continuous',
    );
    const retention = r.spec.retention;
    const url = storageUrl(r.spec.storage);
    if (!prepared.ok || !retention || r.spec.mode === 'continuous') return prepared;
    if (!hasKeepPolicy(retention) && !retention.maxAge && !retention.prune) return prepared;
    if (!url)
      throw new Problem('InvalidSpec', 'retention needs storage.url, or backend settings that name the location');
    const secrets = new SecretMounts();
    const extraEnv = [
      ...storageEnv(r.spec.storage, secrets),
      ...encryptionPathEnv(r.spec.backup?.['encryption'] as Section | undefined, secrets),
    ];
    prepared.retention = (step, jobName) => {
      if (step === 'forget' && !hasKeepPolicy(retention)) return undefined;
      if (step === 'prune' && retention.prune === false) return undefined;
      return {
        ...prepared.run(jobName),
        args:
          step === 'forget'
            ? forgetArgs(url, resolved.backupId, retention)
            : pruneArgs(url, resolved.backupId, retention),
        rendered: { ...rendered, secrets: mergeSecrets(rendered.secrets, secrets) },
        extraEnv,
        step,
      };
    };
    return prepared;
  });
}

/** The rendered config's Secret mounts plus the retention environment's files. */
function mergeSecrets(a: SecretMounts, b: SecretMounts): SecretMounts {
  const out = new SecretMounts();
  out.env.push(...a.env);
  for (const m of [a.files, b.files]) for (const [name, keys] of m) for (const key of keys) out.fileRef({ name, key });
  return out;
}

export function prepareRestore(ctx: PrepareContext, r: Resource<KafkaRestoreSpec>): Promise<Prepared> {
  return guard(async () => {
    const ns = r.metadata.namespace;
    const rendered = renderRestore(r.spec, await backupOf(ctx, ns, r.spec));
    await checkRendered(ctx, ns, rendered);
    return runner(ctx, 'KafkaRestore', r, ['restore', '-c', CONFIG_FILE, '--format', 'json'], rendered);
  });
}

export function prepareOffsetReset(ctx: PrepareContext, r: Resource<KafkaOffsetResetSpec>): Promise<Prepared> {
  return guard(async () => {
    const ns = r.metadata.namespace;
    const rendered = renderOffsets(r.spec, await backupOf(ctx, ns, r.spec));
    await checkRendered(ctx, ns, rendered);
    return runner(ctx, 'KafkaOffsetReset', r, offsetsArgs('reset', r.spec), rendered);
  });
}

export function prepareOffsetRollback(ctx: PrepareContext, r: Resource<KafkaOffsetRollbackSpec>): Promise<Prepared> {
  return guard(async () => {
    const ns = r.metadata.namespace;
    let snapshot = r.spec.snapshot;
    if (r.spec.offsetResetRef) {
      const reset = await ctx.kube.getResource<KafkaOffsetResetSpec>(
        'KafkaOffsetReset',
        ns,
        r.spec.offsetResetRef.name,
      );
      if (!reset)
        throw new Problem('OffsetResetNotFound', `KafkaOffsetReset ${ns}/${r.spec.offsetResetRef.name} not found`);
      snapshot = reset.status?.lastRun?.rollbackSnapshot;
      if (!snapshot || reset.status?.lastRun?.phase !== 'Succeeded')
        throw new Problem(
          'RollbackSnapshotNotReady',
          `KafkaOffsetReset ${r.spec.offsetResetRef.name} has not succeeded with a rollback snapshot yet`,
        );
    }
    const rendered = renderOffsets(r.spec, await backupOf(ctx, ns, r.spec));
    await checkRendered(ctx, ns, rendered);
    return runner(ctx, 'KafkaOffsetRollback', r, offsetsArgs('rollback', r.spec, snapshot), rendered);
  });
}
