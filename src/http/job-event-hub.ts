import { EventEmitter } from 'node:events';
import type { QueueEvents } from 'bullmq';

/** What a subscriber hears about one job, straight from the queue's event stream. */
export type JobEvent =
  | { type: 'waiting' }
  | { type: 'active' }
  | { type: 'progress'; data: unknown }
  | { type: 'completed' }
  | { type: 'failed'; reason: string }
  | { type: 'removed' };

export type JobEventListener = (event: JobEvent) => void;

/**
 * Fans the app's one QueueEvents connection out to per-job subscribers, so a thousand open
 * streams add a thousand map entries rather than three thousand EventEmitter listeners, and an
 * unsubscribe is an O(1) delete. Emits `subscribed`/`unsubscribed` (with the job id) so that
 * tests and metrics can follow the subscriber count.
 */
export class JobEventHub extends EventEmitter {
  private readonly subscribers = new Map<string, Set<JobEventListener>>();

  constructor(queueEvents: QueueEvents) {
    super();
    const forward = (jobId: string, event: JobEvent) => {
      for (const listener of this.subscribers.get(jobId) ?? []) listener(event);
    };
    queueEvents.on('waiting', ({ jobId }) => forward(jobId, { type: 'waiting' }));
    queueEvents.on('active', ({ jobId }) => forward(jobId, { type: 'active' }));
    queueEvents.on('progress', ({ jobId, data }) => forward(jobId, { type: 'progress', data }));
    queueEvents.on('completed', ({ jobId }) => forward(jobId, { type: 'completed' }));
    queueEvents.on('failed', ({ jobId, failedReason }) => forward(jobId, { type: 'failed', reason: failedReason }));
    queueEvents.on('removed', ({ jobId }) => forward(jobId, { type: 'removed' }));
  }

  /** Returns the unsubscribe function; calling it twice is harmless. */
  subscribe(jobId: string, listener: JobEventListener): () => void {
    let set = this.subscribers.get(jobId);
    if (!set) this.subscribers.set(jobId, (set = new Set()));
    set.add(listener);
    this.emit('subscribed', jobId);
    return () => {
      const current = this.subscribers.get(jobId);
      if (!current?.delete(listener)) return;
      if (current.size === 0) this.subscribers.delete(jobId);
      this.emit('unsubscribed', jobId);
    };
  }

  /** Subscribers of one job, or of all jobs. */
  subscriberCount(jobId?: string): number {
    if (jobId !== undefined) return this.subscribers.get(jobId)?.size ?? 0;
    let total = 0;
    for (const set of this.subscribers.values()) total += set.size;
    return total;
  }
}
