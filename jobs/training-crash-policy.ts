import type { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../src/config';
import { CheckpointStore } from '../src/store/checkpoint-store';
import { bullmqJobKeys } from '../src/training-jobs/fenced-job-state';
import { crashKey } from '../src/training-jobs/keys';
import type { TrainingJobData, TrainingJobResult } from '../src/training-jobs/contract';

/** BullMQ's rejection when a sandboxed process exits before it answers (see its sandbox.js). */
const CHILD_DIED = /^Unexpected exit code: (\S+) signal: (\S+)/;

interface CrashRecord {
  /** The checkpointed epoch the job stood at when its training process died. */
  epoch: number;
  /** Deaths in a row at that epoch. */
  count: number;
}

export interface CrashPolicyLog {
  warn(fields: Record<string, unknown>, message: string): void;
}

/**
 * What happens when a job's sandboxed training process dies (the OOM killer, a native crash, a
 * kill): BullMQ fails that attempt ("Unexpected exit code: null signal: SIGKILL") and retries the
 * job from its last checkpoint while it has attempts left (JOB_ATTEMPTS). Dying is not the job's
 * fault as long as it makes progress, so:
 *
 * - A death after progress (the checkpoint is past where the previous death left it, or it is
 *   the first) never fails the job: if the attempt was its last, the job is put back in the
 *   queue with its attempts reset, and resumes from its checkpoint.
 * - A job whose process dies JOB_ATTEMPTS times in a row at the same checkpointed epoch is a
 *   crash loop: it fails, with a reason that says so and names the likely cause (a SIGKILL is
 *   most often the kernel's OOM killer: the job needs more memory than the worker has).
 *
 * The count lives in Redis (crashKey), so it holds across workers. Only the final failure of a
 * dying job is undone: a job failing for any other reason keeps BullMQ's attempts as they are.
 */
export function applyCrashPolicy(
  worker: Worker<TrainingJobData, TrainingJobResult>,
  config: Config,
  redis: Redis,
  log: CrashPolicyLog,
): void {
  const checkpoints = new CheckpointStore(redis, config.redisPrefix, config.jobKeepSeconds);
  worker.on('failed', (job, error) => {
    if (!job || !CHILD_DIED.test(error.message)) return;
    void onDeath(job, error.message).catch((failure: unknown) =>
      log.warn(
        { jobId: job.id, err: failure instanceof Error ? failure.message : String(failure) },
        `could not apply the crash policy to job ${job.id}`,
      ),
    );
  });

  async function onDeath(job: Job<TrainingJobData, TrainingJobResult>, message: string): Promise<void> {
    const jobId = job.id!;
    const [, code, signal] = CHILD_DIED.exec(message)!;
    const epoch = (await checkpoints.load(jobId))?.trainer.epoch ?? 0;
    const key = crashKey(config.redisPrefix, jobId);
    const previous = JSON.parse((await redis.get(key)) ?? 'null') as CrashRecord | null;
    const record: CrashRecord = { epoch, count: previous?.epoch === epoch ? previous.count + 1 : 1 };
    await redis.set(key, JSON.stringify(record), 'EX', config.jobKeepSeconds);
    if ((await job.getState()) !== 'failed') return; // BullMQ retries it anyway
    if (record.count < config.jobAttempts) {
      log.warn(
        { jobId, epoch, signal },
        `job ${jobId}: its training process died at epoch ${epoch} after progress; resuming it`,
      );
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      return;
    }
    const cause =
      signal === 'SIGKILL'
        ? " (killed with SIGKILL: most often the kernel's out-of-memory killer; the job likely needs more memory than " +
          'the worker has — a smaller batchSize or model, or a worker with more memory)'
        : signal !== 'null'
          ? ` (signal ${signal})`
          : ` (exit code ${code})`;
    const reason = `the training process died ${record.count} times in a row at epoch ${epoch}${cause}`;
    log.warn({ jobId, epoch, signal }, `job ${jobId} failed: ${reason}`);
    const { job: jobKey } = bullmqJobKeys({ jobId, queueName: job.queueName, bullPrefix: config.redisPrefix });
    await redis.hset(jobKey, 'failedReason', reason);
  }
}
