/**
 * A run's one-line JSON summary for whoever started it, written to the file named by
 * KAFKA_BACKUP_SUMMARY_FILE (the Kubernetes operator sets it to the container's termination
 * message file, /dev/termination-log, which the kubelet copies into the Pod's status). Only the
 * figures and ids listed here go in, never the config, and it stays under the kubelet's 4096-byte
 * limit. On failure: the exit code, the error's stable code (e.g. LEASE_HELD) and its message
 * (which by the rule of src/errors.ts never carries a secret).
 */
import { writeFileSync } from 'node:fs';
import { exitCodeOf, KafkaBackupError } from '../errors.ts';

export const SUMMARY_ENV = 'KAFKA_BACKUP_SUMMARY_FILE';
const MAX_BYTES = 4096;
const FIELDS = [
  'backup_id',
  'snapshot_id',
  'state',
  'records',
  'raw_bytes',
  'stored_bytes',
  'bytes',
  'files',
  'duration_ms',
  'restore_id',
  'dry_run',
  'apply_id',
  'executed',
  'rollback_snapshot',
  'pre_rollback_snapshot',
  'counts',
] as const;

function write(doc: Record<string, unknown>): void {
  const path = process.env[SUMMARY_ENV];
  if (!path) return;
  let line = JSON.stringify(doc, (_k, v) => (typeof v === 'bigint' ? Number(v) : v));
  if (Buffer.byteLength(line) > MAX_BYTES && typeof doc['error'] === 'string')
    line = JSON.stringify({ ...doc, error: (doc['error'] as string).slice(0, 1000) });
  try {
    writeFileSync(path, `${line}\n`);
  } catch {
    // a summary is a courtesy to the caller; failing to write it must not fail the run
  }
}

/** After a command succeeded: its result's figures. */
export function writeRunSummary(command: string, result: unknown): void {
  const r = (result ?? {}) as Record<string, unknown>;
  const doc: Record<string, unknown> = { v: 1, ok: true, command };
  for (const k of FIELDS) if (r[k] !== undefined && r[k] !== null) doc[k] = r[k];
  write(doc);
}

/** When a command failed (program.ts): what failed, with its exit code and stable code. */
export function writeErrorSummary(error: unknown): void {
  if (!process.env[SUMMARY_ENV]) return;
  write({
    v: 1,
    ok: false,
    exit_code: exitCodeOf(error),
    code: error instanceof KafkaBackupError ? error.code : 'INTERNAL',
    error: error instanceof Error ? error.message : String(error),
  });
}
