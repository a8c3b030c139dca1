import { QueueKeys, type Job, type Queue } from 'bullmq';

/**
 * BullMQ keeps a queue's own keys beside its jobs: the job "meta" is the key `<prefix>:<queue>:meta`,
 * the queue's settings hash, and "x:lock" the lock of job x. No job of fitwell has such an id (they
 * are UUIDs), and BullMQ names no job after its own keys; so such an id is an unknown job, read
 * as none instead of as a key of another type (a 500 from a TypeError or a WRONGTYPE).
 */
const QUEUE_KEY_NAMES = new Set(Object.keys(new QueueKeys().getKeys('queue')).filter((name) => name !== ''));

export function mayBeJobId(id: string): boolean {
  return id !== '' && !id.includes(':') && !QUEUE_KEY_NAMES.has(id);
}

/** queue.getJob(id), or undefined for an id that can only name one of BullMQ's own keys. */
export async function findJob<Data, Result>(
  queue: Queue<Data, Result>,
  id: string,
): Promise<Job<Data, Result> | undefined> {
  return mayBeJobId(id) ? ((await queue.getJob(id)) as Job<Data, Result> | undefined) : undefined;
}
