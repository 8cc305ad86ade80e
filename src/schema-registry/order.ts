/**
 * Registration order of captured schemas: every schema after the schemas it references (a
 * registry refuses a reference to a subject version it does not hold), and the versions of one
 * subject in their original order (so the target's versions follow the source's). Depth-first,
 * deterministic (subjects by name); a reference cycle or a reference outside the capture is an
 * error naming both ends.
 */
import { IntegrityError } from '../errors.ts';
import type { CapturedVersion, RegistryCapture } from './types.ts';

export interface OrderedSchema {
  subject: string;
  v: CapturedVersion;
}

export const versionKey = (subject: string, version: number) => `${subject}\u0000${version}`;

export function registrationOrder(capture: RegistryCapture): OrderedSchema[] {
  const byKey = new Map<string, OrderedSchema>();
  for (const [subject, s] of Object.entries(capture.subjects))
    for (const v of s.versions) byKey.set(versionKey(subject, v.version), { subject, v });
  const out: OrderedSchema[] = [];
  const done = new Set<string>();
  const onPath = new Set<string>();
  const visit = (key: string, from: string | null): void => {
    if (done.has(key)) return;
    const node = byKey.get(key);
    if (!node) {
      const [subject, version] = key.split('\u0000');
      throw new IntegrityError(
        `schema ${from?.replace('\u0000', ' version ')} references ${subject} version ${version}, which the capture does not hold`,
        [],
        {
          hint: 'back up with the referenced subjects (they are included by default; check backup.schema_registry.subjects)',
        },
      );
    }
    if (onPath.has(key))
      throw new IntegrityError(`schema references form a cycle at ${node.subject} version ${node.v.version}`);
    onPath.add(key);
    // the subject's earlier versions first, then what this version references
    const earlier = capture.subjects[node.subject]!.versions.filter((x) => x.version < node.v.version);
    for (const e of earlier) visit(versionKey(node.subject, e.version), key);
    for (const r of node.v.references) visit(versionKey(r.subject, r.version), key);
    onPath.delete(key);
    done.add(key);
    out.push(node);
  };
  for (const subject of Object.keys(capture.subjects).sort())
    for (const v of [...capture.subjects[subject]!.versions].sort((a, b) => a.version - b.version))
      visit(versionKey(subject, v.version), null);
  return out;
}
