/**
 * `kafka-backup key list|add|remove|rotate --path P --backup-id ID`: the key slots of an encrypted
 * line (docs/security.md). The current key comes from the config (-c, backup.encryption) or the
 * environment (KB_ENCRYPTION_*); a new key from --new-* options, which name a file, a variable or
 * a KMS key, never the key itself. add/remove/rotate show their plan and, without --dry-run,
 * execute it step by step (src/crypto/manage.ts).
 */
import type { Command } from 'commander';
import { describeSlots, type KeyPlan, planAdd, planRemove, planRotate } from '../crypto/manage.ts';
import type { KeySource } from '../crypto/providers.ts';
import {
  encryptionSettings,
  passphraseFromEnv,
  passphraseFromFile,
  rawKeyFromEnv,
  rawKeyFromFile,
} from '../crypto/settings.ts';
import { listSlots } from '../crypto/slots.ts';
import { UsageError } from '../errors.ts';
import type { StorageBackend } from '../storage/backend.ts';
import { openStorageUrl } from '../storage/open.ts';
import { loadCommandConfig } from './common.ts';
import { emit, parseFormat } from './output.ts';

interface Common {
  path: string;
  backupId: string;
  config?: string;
  format: string;
}

interface NewKeyOptions {
  newKeyFile?: string;
  newKeyEnv?: string;
  newPassphraseFile?: string;
  newPassphraseEnv?: string;
  newKmsKeyId?: string;
  newKmsEndpoint?: string;
  newKmsRegion?: string;
  scryptLogN?: string;
  id?: string;
  dryRun?: boolean;
}

/** The new key the options name: exactly one of --new-key-file, --new-key-env, --new-passphrase-*, --new-kms-key-id. */
function newKeyOf(o: NewKeyOptions): KeySource {
  const given = [o.newKeyFile, o.newKeyEnv, o.newPassphraseFile, o.newPassphraseEnv, o.newKmsKeyId].filter(Boolean);
  if (given.length !== 1)
    throw new UsageError(
      'give the new key with exactly one of --new-key-file, --new-key-env, --new-passphrase-file, --new-passphrase-env, --new-kms-key-id',
      {
        code: 'NEW_KEY_REQUIRED',
      },
    );
  const logN = o.scryptLogN ? Number(o.scryptLogN) : undefined;
  if (logN !== undefined && !(Number.isInteger(logN) && logN >= 14 && logN <= 22))
    throw new UsageError('--scrypt-log-n must be a whole number from 14 to 22');
  if (o.newKeyFile) return rawKeyFromFile(o.newKeyFile, '--new-key-file');
  if (o.newKeyEnv) return rawKeyFromEnv(process.env, o.newKeyEnv, '--new-key-env');
  if (o.newPassphraseFile) return passphraseFromFile(o.newPassphraseFile, '--new-passphrase-file', logN);
  if (o.newPassphraseEnv) return passphraseFromEnv(process.env, o.newPassphraseEnv, '--new-passphrase-env', logN);
  return {
    type: 'aws-kms',
    kmsKeyId: o.newKmsKeyId!,
    from: '--new-kms-key-id',
    ...(o.newKmsEndpoint ? { endpoint: o.newKmsEndpoint } : {}),
    ...(o.newKmsRegion ? { region: o.newKmsRegion } : {}),
  };
}

function renderPlan(p: KeyPlan, dryRun: boolean): string {
  const lines = [
    `${dryRun ? 'would' : 'did'} ${p.action} on backup line ${p.backup_id} (unlocked with key slot ${p.unlocked_with}):`,
  ];
  for (const s of p.steps) {
    if (s.op === 'add-master-key')
      lines.push(`  add master key ${s.master_key} (seals everything written from now on)`);
    else if (s.op === 'write-slot')
      lines.push(
        `  ${s.resumed ? 'keep (already written)' : 'write'} key slot ${s.slot}: ${s.provider}, master keys ${s.master_keys.join(', ')}`,
      );
    else lines.push(`  remove key slot ${s.slot}`);
  }
  return lines.join('\n');
}

async function withStorage<T>(o: Common, cmd: Command, fn: (storage: StorageBackend) => Promise<T>): Promise<T> {
  if (o.config) loadCommandConfig(o.config, cmd);
  const storage = await openStorageUrl(o.path);
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

function currentKey(o: Common, cmd: Command): KeySource | undefined {
  const config = o.config ? loadCommandConfig(o.config, cmd) : undefined;
  return encryptionSettings(config?.backup.encryption).source;
}

function common(c: Command): Command {
  return c
    .requiredOption('--path <path>', 'directory or storage URL (s3://bucket/prefix, azure://…, gs://…)')
    .requiredOption('--backup-id <id>', 'the backup line')
    .option('-c, --config <file>', 'take the current key from this config (backup.encryption); else KB_ENCRYPTION_*')
    .option('--format <format>', 'text|json|yaml', 'text');
}

function newKeyOptions(c: Command): Command {
  return c
    .option('--new-key-file <file>', 'the new key: a file holding a raw 256-bit key')
    .option('--new-key-env <var>', 'the new key: an environment variable holding a raw 256-bit key')
    .option('--new-passphrase-file <file>', 'the new key: a file holding a passphrase')
    .option('--new-passphrase-env <var>', 'the new key: an environment variable holding a passphrase')
    .option('--new-kms-key-id <id>', 'the new key: an AWS KMS key (id, ARN or alias)')
    .option('--new-kms-endpoint <url>', 'AWS KMS endpoint for the new key')
    .option('--new-kms-region <region>', 'AWS region for the new key')
    .option('--scrypt-log-n <n>', 'scrypt cost of a new passphrase slot: N = 2^n (default 17)')
    .option('--id <slot>', 'id of the new key slot (default <provider>-<n>)')
    .option('--dry-run', 'show the plan, change nothing');
}

export function registerKeyCommand(program: Command): void {
  const key = program.command('key').description('manage the key slots of an encrypted backup line');

  common(key.command('list').description('show the key slots of a line (no key needed)')).action(
    async (o: Common, cmd: Command) => {
      const format = parseFormat(o.format);
      await withStorage(o, cmd, async (storage) => {
        const view = describeSlots(o.backupId, await listSlots(storage, o.backupId));
        emit(format, view, () => {
          if (!view.encrypted) return `backup line ${o.backupId} is not encrypted`;
          const rows = view.slots.map(
            (s) =>
              `  ${s.id}  ${s.provider}${s.kms_key_id ? ` ${s.kms_key_id}` : ''}  created ${s.created_at}${s.stale ? '  STALE (lacks the newest master key; remove it)' : ''}`,
          );
          const removed = view.removed.map((r) => `  ${r.id}  ${r.provider}  removed ${r.removed_at}`);
          return [
            `key slots of ${o.backupId} (active master key ${view.active_master_key}):`,
            ...rows,
            ...(removed.length ? ['removed:', ...removed] : []),
            ...view.damaged.map((d) => `  DAMAGED ${d.key}: ${d.problem}`),
          ].join('\n');
        });
      });
    },
  );

  const runPlan = async (
    o: Common & NewKeyOptions,
    cmd: Command,
    make: (s: StorageBackend, current: KeySource | undefined) => ReturnType<typeof planAdd>,
  ) => {
    const format = parseFormat(o.format);
    const current = currentKey(o, cmd);
    await withStorage(o, cmd, async (storage) => {
      const p = await make(storage, current);
      if (!o.dryRun) await p.execute();
      emit(format, { ...p.plan, dry_run: o.dryRun ?? false }, () => renderPlan(p.plan, o.dryRun ?? false));
    });
  };

  newKeyOptions(common(key.command('add').description('add a key slot: another key that unlocks the line'))).action(
    (o: Common & NewKeyOptions, cmd: Command) =>
      runPlan(o, cmd, (s, current) => planAdd(s, o.backupId, current, newKeyOf(o), o.id)),
  );

  common(key.command('remove').description('remove a key slot; its key no longer unlocks the line'))
    .requiredOption('--id <slot>', 'the key slot to remove')
    .option('--dry-run', 'show the plan, change nothing')
    .action((o: Common & NewKeyOptions, cmd: Command) =>
      runPlan(o, cmd, (s, current) => planRemove(s, o.backupId, current, o.id!)),
    );

  newKeyOptions(
    common(
      key
        .command('rotate')
        .description('new master key for future writes, sealed under a new key; every other slot is removed'),
    ),
  ).action((o: Common & NewKeyOptions, cmd: Command) =>
    runPlan(o, cmd, (s, current) =>
      planRotate(s, o.backupId, current, newKeyOf(o), o.id, process.env['KB_TEST_KEY_STALL']),
    ),
  );
}
