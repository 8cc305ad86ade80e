/**
 * What happened to a followed topic between two metadata reads (pure). A topic is known by its
 * topic id: the same name with another id is a new incarnation (deleted and re-created), a new
 * history whose offsets start again at 0, never a continuation of the old one.
 */
import type { TopicDescription } from '../kafka/admin-helpers.ts';

export type TopicChange =
  | { kind: 'same' }
  | { kind: 'deleted' }
  | { kind: 'recreated'; topicId: string }
  | { kind: 'grown'; added: number[] };

export function topicChange(followed: TopicDescription, now: TopicDescription | undefined): TopicChange {
  if (!now) return { kind: 'deleted' };
  if (now.topicId !== followed.topicId) return { kind: 'recreated', topicId: now.topicId };
  const known = new Set(followed.partitions.map((p) => p.partition));
  const added = now.partitions.map((p) => p.partition).filter((p) => !known.has(p));
  return added.length ? { kind: 'grown', added } : { kind: 'same' };
}
