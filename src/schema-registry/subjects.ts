/**
 * Which subjects a backup captures: those matching backup.schema_registry.subjects, or by
 * default the subjects of the backed-up topics under TopicNameStrategy (`<topic>-key`,
 * `<topic>-value`) and TopicRecordNameStrategy (`<topic>-<record full name>`): every subject
 * named `<topic>-…`. Referenced subjects are added by the capture as it reads references.
 */
import { compilePattern } from '../backup/topic-patterns.ts';

export function selectSubjects(all: string[], topics: string[], patterns: string[] | undefined): string[] {
  if (patterns && patterns.length > 0) {
    const res = patterns.map(compilePattern);
    return all.filter((s) => res.some((r) => r.test(s)));
  }
  return all.filter((s) => topics.some((t) => ofTopic(s, t)));
}

/** A subject of the topic's under TopicNameStrategy or TopicRecordNameStrategy. */
export function ofTopic(subject: string, topic: string): boolean {
  return subject.length > topic.length + 1 && subject.startsWith(`${topic}-`);
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
