import type { Queue, QueueEvents } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import { FOLD_JOB_NAME, type TrainingJobData, type TrainingJobResult } from '../training-jobs/contract';
import { metricsKey } from '../training-jobs/keys';
import type { ServiceMetrics } from './metrics';

export interface JobMetricsDeps {
  queueEvents: QueueEvents;
  queue: Queue<TrainingJobData, TrainingJobResult>;
  redis: Redis;
  prefix: string;
  metrics: ServiceMetrics;
  log: FastifyBaseLogger;
}

const CLAIM_TTL_SECONDS = 24 * 3600;

/**
 * Job duration and epoch times, observed by the API rather than by the worker: the API already
 * follows the queue's events (for live progress), it is the process Prometheus scrapes, and a
 * worker process (or its sandboxed child) would need an HTTP listener of its own and lose its
 * numbers whenever it is replaced. Every API replica receives every event, so the first replica
 * to claim a job in Redis records it: summed over replicas, each job counts once. A job that
 * finishes while no API is running is not observed.
 */
export function observeFinishedJobs(deps: JobMetricsDeps): void {
  const { queueEvents, queue, redis, prefix, metrics, log } = deps;

  const record = async (jobId: string, outcome: 'completed' | 'failed') => {
    const claimed = await redis.set(`${prefix}:job:${jobId}:observed`, '1', 'EX', CLAIM_TTL_SECONDS, 'NX');
    if (claimed !== 'OK') {
      log.debug({ jobId, outcome }, 'training job already recorded by another API replica');
      return;
    }
    const [job, rawEpochs] = await Promise.all([queue.getJob(jobId), redis.lrange(metricsKey(prefix, jobId), 0, -1)]);
    // A fold of a cross-validated job is part of that job, which is the one counted.
    if (!job || job.name === FOLD_JOB_NAME) return;
    const durations = rawEpochs.map((raw) => (JSON.parse(raw) as { durationMs: number }).durationMs);
    for (const ms of durations) if (Number.isFinite(ms)) metrics.epochDuration.observe(ms / 1000);
    const backend = job.returnvalue?.backend ?? 'unknown';
    metrics.jobsFinished.inc({ outcome, backend });
    let durationMs: number | undefined;
    if (job.processedOn && job.finishedOn) {
      durationMs = job.finishedOn - job.processedOn;
      metrics.jobDuration.observe({ outcome }, durationMs / 1000);
      metrics.jobWait.observe(Math.max(0, job.processedOn - job.timestamp) / 1000);
    }
    log.info(
      {
        jobId,
        outcome,
        modelId: job.returnvalue?.modelId,
        epochs: durations.length,
        durationMs,
        attempts: job.attemptsMade,
        ...(outcome === 'failed' ? { reason: job.failedReason } : {}),
      },
      `training job ${outcome}`,
    );
  };

  const on =
    (outcome: 'completed' | 'failed') =>
    ({ jobId }: { jobId: string }) => {
      record(jobId, outcome).catch((error: unknown) =>
        log.warn(
          { jobId, err: error instanceof Error ? error.message : String(error) },
          'could not record the metrics of a finished job',
        ),
      );
    };
  queueEvents.on('completed', on('completed'));
  queueEvents.on('failed', on('failed'));
}
