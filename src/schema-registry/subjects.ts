/**
 * Which subjects a backup captures: those matching backup.schema_registry.subjects, or by
 * default the TopicNameStrategy subjects of the backed-up topics (`<topic>-key`,
 * `<topic>-value`). Referenced subjects are added by the capture as it reads references.
 */
import { compilePattern } from '../backup/topic-patterns.ts';

export function topicSubjects(topic: string): [string, string] {
  return [`${topic}-key`, `${topic}-value`];
}

export function selectSubjects(all: string[], topics: string[], patterns: string[] | undefined): string[] {
  if (patterns && patterns.length > 0) {
    const res = patterns.map(compilePattern);
    return all.filter((s) => res.some((r) => r.test(s)));
  }
  const wanted = new Set(topics.flatMap(topicSubjects));
  return all.filter((s) => wanted.has(s));
}

/** Qualifies a subject with a registry context (`:.ctx:subject`); the default context adds nothing. */
export function qualify(context: string, subject: string): string {
  return context ? `:.${context}:${subject}` : subject;
}

/** The subject name inside the context, or null when the listed name belongs to another one. */
export function unqualify(context: string, listed: string): string | null {
  if (!context) return listed.startsWith(':.') ? null : listed;
  const prefix = `:.${context}:`;
  return listed.startsWith(prefix) ? listed.slice(prefix.length) : null;
}
