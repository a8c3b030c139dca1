/**
 * The Redis keys of a training job besides BullMQ's own, one scheme for every process: the API
 * (routes, views, event stream, metrics) and the worker read and write the same names.
 */

/** Per-epoch metrics of a job, one JSON entry per epoch, written by the worker. */
export function metricsKey(prefix: string, jobId: string): string {
  return `${prefix}:job:${jobId}:metrics`;
}

/** Set by DELETE /v1/training-jobs/:jobId on any API replica; the worker checks it every 0.1 s, between batches. */
export function cancelKey(prefix: string, jobId: string): string {
  return `${prefix}:job:${jobId}:cancel`;
}

/** What is kept of a waiting job that DELETE removed from the queue, so it still reads as cancelled. */
export function cancelledJobKey(prefix: string, jobId: string): string {
  return `${prefix}:job:${jobId}:cancelled`;
}

/** The last deaths of a job's training process: { epoch, count, exit } (jobs/training-crash-policy.ts). */
export function crashKey(prefix: string, jobId: string): string {
  return `${prefix}:job:${jobId}:crashes`;
}

/**
 * The fold records of a cross-validated job: a hash, one field per fold number (1-based), each
 * written once (HSETNX) by the fold job that trained it (src/training-jobs/fold-records.ts).
 */
export function foldsKey(prefix: string, jobId: string): string {
  return `${prefix}:job:${jobId}:folds`;
}

/**
 * The ids of the waiting jobs DELETE removed (a sorted set scored by when, in ms), so that the
 * listing finds their records without a SCAN; entries older than the records' keep time are
 * dropped as the listing reads it.
 */
export function cancelledJobsIndexKey(prefix: string): string {
  return `${prefix}:jobs:cancelled-waiting`;
}
