/**
 * Capture of consumer-group offsets at the end of a backup: every group with a committed
 * offset on a backed-up topic, with its metadata string. Stored as one JSON object per capture
 * next to the manifests; the snapshot records its key.
 */
import type { Admin } from '@platformatic/kafka';
import { keys } from '../format/manifest.ts';
import type { StorageBackend } from '../storage/backend.ts';

export interface CapturedGroupOffsets {
  format: 'kafka-backup/consumer-offsets';
  version: 1;
  captured_at: string;
  snapshot_id: string;
  groups: Record<
    string,
    Record<string, Record<string, { offset: number; metadata: string | null; leader_epoch: number }>>
  >;
}

export async function readGroupOffsets(
  admin: Admin,
  topics: Set<string>,
  groupFilter?: (g: string) => boolean,
): Promise<CapturedGroupOffsets['groups']> {
  const groups = [...(await admin.listGroups()).keys()].filter((g) => !groupFilter || groupFilter(g));
  const out: CapturedGroupOffsets['groups'] = {};
  for (let i = 0; i < groups.length; i += 50) {
    const res = await admin.listConsumerGroupOffsets({ groups: groups.slice(i, i + 50) });
    for (const g of res) {
      for (const t of g.topics) {
        if (!topics.has(t.name)) continue;
        for (const p of t.partitions) {
          if (p.committedOffset < 0n) continue;
          const gt = ((out[g.groupId] ??= {})[t.name] ??= {});
          gt[String(p.partitionIndex)] = {
            offset: Number(p.committedOffset),
            metadata: p.metadata ?? null,
            leader_epoch: p.committedLeaderEpoch,
          };
        }
      }
    }
  }
  return out;
}

export async function captureConsumerOffsets(
  admin: Admin,
  storage: StorageBackend,
  backupId: string,
  snapshotId: string,
  topics: string[],
): Promise<string> {
  const capturedAt = new Date().toISOString();
  const doc: CapturedGroupOffsets = {
    format: 'kafka-backup/consumer-offsets',
    version: 1,
    captured_at: capturedAt,
    snapshot_id: snapshotId,
    groups: await readGroupOffsets(admin, new Set(topics)),
  };
  const key = keys.consumerOffsets(backupId, snapshotId, capturedAt);
  await storage.put(key, Buffer.from(JSON.stringify(doc, null, 1)), { ifAbsent: true });
  return key;
}
