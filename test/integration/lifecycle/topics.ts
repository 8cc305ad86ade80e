/**
 * Topic lifecycle helpers for the lifecycle tests: re-creating a topic under the same name (a new
 * topic id), adding partitions, and waiting for conditions instead of sleeping.
 */
import { createTopic, deleteTopic, sleep, withAdmin } from '../../helpers/kafka.ts';

/** Polls `check` every 200 ms until it returns a value other than undefined/false, or fails after `ms`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000}s waiting for ${what}`);
    await sleep(200);
  }
}

/** The topic's id on the cluster, or undefined when it does not exist. */
export async function topicId(name: string): Promise<string | undefined> {
  return withAdmin(async (admin) => {
    const all = await admin.listTopics({ includeInternals: false });
    if (!all.includes(name)) return undefined;
    const md = await admin.metadata({ topics: [name], forceUpdate: true });
    return md.topics.get(name)?.id;
  });
}

/** Deletes the topic and creates it again (same name, new id) once the deletion completed. */
export async function recreateTopic(name: string, partitions = 1): Promise<string> {
  const before = await topicId(name);
  await deleteTopic(name);
  await waitFor(`${name} to be deleted`, async () => (await topicId(name)) === undefined);
  await waitFor(`${name} to be created again`, async () => {
    await createTopic(name, { partitions });
    return true;
  });
  const after = await topicId(name);
  if (!after || after === before) throw new Error(`${name} kept its topic id ${before}`);
  return after;
}

/** Raises the topic's partition count (CreatePartitions). */
export async function addPartitions(name: string, count: number): Promise<void> {
  await withAdmin((admin) => admin.createPartitions({ topics: [{ name, count }], validateOnly: false }));
}
