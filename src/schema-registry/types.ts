/** The registry state a snapshot captures (docs/format.md "Schema Registry captures"). */

export type SchemaType = 'AVRO' | 'PROTOBUF' | 'JSON';

export interface SchemaReference {
  name: string;
  subject: string;
  version: number;
}

export interface CapturedVersion {
  version: number;
  id: number;
  schema_type: SchemaType;
  schema: string;
  references: SchemaReference[];
  /** Soft-deleted in the source registry when captured (only with include_deleted). */
  deleted: boolean;
}

export interface CapturedSubject {
  /** Per-subject compatibility level, null when the subject follows the global one. */
  compatibility: string | null;
  /** Per-subject mode, null when not set. */
  mode: string | null;
  versions: CapturedVersion[];
}

export interface RegistryCapture {
  format: 'kafka-backup/schema-registry';
  version: 1;
  captured_at: string;
  snapshot_id: string;
  /** Context the subjects were read from (empty: the default context). */
  context: string;
  global: { compatibility: string | null; mode: string | null };
  subjects: Record<string, CapturedSubject>;
}

/** What a snapshot records about its capture. */
export interface CaptureRef {
  key: string;
  /** SHA-256 (hex) of the stored plaintext bytes. */
  sha256: string;
  subjects: number;
  schemas: number;
  /**
   * Continuous runs: per topic and partition, the offset below which every listed record is
   * known to be covered (the snapshot's end offsets at the commit that recorded this reference,
   * whose files were all written before the capture read the registry). Behind the snapshot's
   * end offsets when later captures failed (registry unreachable). Absent: the whole snapshot.
   */
  covers?: Record<string, Record<string, number>>;
}
