import type { Redis } from 'ioredis';
import type { TrainerCheckpoint } from '../ml/trainer';
import { upgradeStoredEpochMetrics } from '../schemas/api.schema';
import { pack, unpack } from './binary-pack';

/** A trainer checkpoint plus the job-level facts that must survive a crash with it. */
export interface JobCheckpoint {
  trainer: TrainerCheckpoint;
  /** The epochs at which this job was resumed after a crash or a shutdown. */
  resumedAt: number[];
}

export function checkpointKey(prefix: string, jobId: string): string {
  return `${prefix}:job:${jobId}:checkpoint`;
}

/**
 * One checkpoint per job, overwritten at the end of every epoch (a single SET, so a reader sees
 * either the previous or the new one, never half of one) and deleted when the job ends. A
 * training job's own writes go through src/training-jobs/fenced-job-state.ts instead, which
 * checks the job's lock and writes the metrics in the same step.
 */
export class CheckpointStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds = 7 * 24 * 3600,
  ) {}

  private key(jobId: string): string {
    return checkpointKey(this.prefix, jobId);
  }

  async save(jobId: string, checkpoint: JobCheckpoint): Promise<void> {
    await this.redis.set(this.key(jobId), pack(checkpoint), 'EX', this.ttlSeconds);
  }

  async load(jobId: string): Promise<JobCheckpoint | null> {
    const raw = await this.redis.getBuffer(this.key(jobId));
    if (!raw) return null;
    const checkpoint = unpack(raw) as JobCheckpoint;
    // A checkpoint written by an older version carries its epochs' metrics in the old shape.
    checkpoint.trainer.metrics = checkpoint.trainer.metrics.map(upgradeStoredEpochMetrics);
    return checkpoint;
  }

  async delete(jobId: string): Promise<void> {
    await this.redis.del(this.key(jobId));
  }
}
