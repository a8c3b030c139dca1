import { UnrecoverableError, WaitingError, type SandboxedJob } from 'bullmq';
import { loadConfig } from '../src/config';
import { AppError } from '../src/errors';
import { initBackend } from '../src/ml/backend';
import { CheckpointStore, type JobCheckpoint } from '../src/store/checkpoint-store';
import { createDatasetStore } from '../src/store/dataset-store-factory';
import { newModelId } from '../src/store/model-store';
import { createRedis } from '../src/store/redis';
import { FencedJobState, jobResultKey, LostJobLockError } from '../src/training-jobs/fenced-job-state';
import { diagnose } from '../src/training/diagnosis';
import { crossValidate } from '../src/training/cross-validate';
import { runSummarySchema } from '../src/training/run-summary';
import { trainFromChunks } from '../src/training/train-from-chunks';
import { trainFromRequest, type TrainingHooks } from '../src/training/train-from-request';
import {
  CANCELLED_REASON,
  trainingJobDataSchema,
  trainingJobResultSchema,
  type JobTimings,
  type TrainingJobData,
  type TrainingJobResult,
  type TrainingSummary,
} from '../src/training-jobs/contract';
import { cancelKey, metricsKey } from '../src/training-jobs/keys';

/** How often a running job looks for its cancel flag in Redis, at most (ms). */
const CANCEL_CHECK_MS = 100;

/** When this process started (epoch ms), and how many jobs it has run: for JobTimings. */
const PROCESS_STARTED_AT = Math.round(performance.timeOrigin);
let jobsRun = 0;

/**
 * The sandboxed training processor: BullMQ runs it in a child process, so a long training run
 * never blocks the worker's event loop and the job lock keeps being renewed. Configuration comes
 * from the environment the worker passes down.
 *
 * Crash safety: a checkpoint is written after every epoch. When the job runs again (its worker
 * died and BullMQ's stalled-job check handed it to another, or a retry after a crash of this
 * process) it continues from the last checkpoint, with the same split and preprocessing (they
 * derive from the job's seed), and finishes with the same number of epochs.
 *
 * One trainer per job: every write of the job's state is fenced by this attempt's lock token
 * (src/training-jobs/fenced-job-state.ts), so a trainer that lost the job stops at its first
 * write and adds nothing.
 */
const config = loadConfig(process.env);
const redis = createRedis(config.redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: 3 });
// During an outage ioredis reconnects by itself; commands that fail then fail the epoch's
// checkpoint write and the job is retried from the previous checkpoint. Say so once per outage.
let redisDown = false;
redis.on('error', (error) => {
  if (!redisDown) console.error(`training process: Redis unavailable (${error.message}); reconnecting`);
  redisDown = true;
});
redis.on('ready', () => (redisDown = false));
const datasets = createDatasetStore(config, redis);
const checkpoints = new CheckpointStore(redis, config.redisPrefix, config.jobKeepSeconds);

// If the worker that forked this process dies, stop at once: another worker will take the job
// over from its checkpoint, and two trainers must never write the same job's state.
process.on('disconnect', () => process.exit(0));

// The worker's graceful shutdown aborts the job's signal (jobs/training-worker.ts); SIGTERM (a
// signal sent to this process directly) or SIGINT (a terminal's Ctrl-C reaches the whole
// process group) do the same: stop after the current batch and hand the job back to the queue;
// it resumes from its last checkpoint.
let draining = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => (draining = true));

export default async function trainModel(
  job: SandboxedJob<TrainingJobData, TrainingJobResult>,
  token?: string,
  signal?: AbortSignal,
): Promise<TrainingJobResult> {
  return trainAttempt(job, token, signal).catch((error: unknown) => {
    // The attempt ends here: BullMQ cannot record it either (its lock is gone), and the job goes
    // on with whichever worker holds it now.
    if (error instanceof LostJobLockError) console.error(`training process: ${error.message}; stopping`);
    throw error;
  });
}

async function trainAttempt(
  job: SandboxedJob<TrainingJobData, TrainingJobResult>,
  token: string | undefined,
  signal: AbortSignal | undefined,
): Promise<TrainingJobResult> {
  const enteredAt = Date.now();
  const entered = performance.now();
  const timings: JobTimings = {
    processStartedAt: PROCESS_STARTED_AT,
    jobsBefore: jobsRun++,
    enteredAt,
    setupMs: 0,
    epochs: 0,
    stepMs: 0,
    cancelChecksMs: 0,
    metricsMs: 0,
    checkpointMs: 0,
    publishMs: 0,
    finishMs: 0,
  };
  // The end of the previous epoch's hooks, and of the last batch's cancellation check.
  let epochEnded = entered;
  let lastCheckEnded = entered;
  let lastCancelCheck = -Infinity;
  let lostLock = false;
  const parsed = trainingJobDataSchema.safeParse(job.data);
  if (!parsed.success) {
    throw new UnrecoverableError(`invalid training request: ${parsed.error.message}`);
  }
  const { request, seed } = parsed.data;
  const backend = await initBackend(config.tfBackend);
  const dataset = await datasets.chunkedTable(request.datasetId).catch(unrecoverable);
  const keys = { metrics: metricsKey(config.redisPrefix, job.id), cancel: cancelKey(config.redisPrefix, job.id) };
  if (!token) throw new Error(`job ${job.id}: BullMQ passed no lock token to the processor`);
  const state = new FencedJobState(
    redis,
    config.redisPrefix,
    { jobId: job.id, queueName: job.queueName, bullPrefix: job.prefix, token },
    keys.metrics,
    config.jobKeepSeconds,
  );
  // A previous attempt saved the model but died before BullMQ recorded the completion.
  const finished = await redis.get(jobResultKey(config.redisPrefix, job.id));
  if (finished) return trainingJobResultSchema.parse(JSON.parse(finished));

  const saved = await checkpoints.load(job.id);
  const resumedAt = saved ? [...saved.resumedAt, saved.trainer.epoch] : [];
  const epochs = request.training.epochs;
  // The metrics list is made to hold exactly the checkpointed epochs, and progress set to match.
  await state.reconcile(saved, epochs);
  // After every batch: the drain flag and the job's abort signal at once, the cancel flag in Redis
  // at most every CANCEL_CHECK_MS (a round trip per batch cost up to a fifth of the step on a busy machine).
  const shouldStop = async () => {
    const checking = performance.now();
    let stop = draining || signal?.aborted === true;
    if (!stop && checking - lastCancelCheck >= CANCEL_CHECK_MS) {
      // One round trip: the cancel flag, and whether this attempt still holds the job's lock.
      const lease = await state.checkLease(keys.cancel);
      lostLock = !lease.locked;
      stop = lease.cancelled || lostLock;
      lastCancelCheck = performance.now();
    }
    lastCheckEnded = performance.now();
    timings.cancelChecksMs += lastCheckEnded - checking;
    return stop;
  };
  // One line per attempt in the worker's output: where a resumed (or crash-looping) job starts.
  console.error(
    `training process: job ${job.id} attempt ${job.attemptsMade + 1} starts after epoch ${saved?.trainer.epoch ?? 0}`,
  );
  const hooks: TrainingHooks = {
    resumeFrom: saved?.trainer,
    shouldStop,
    onEpoch: async (metrics, trainer) => {
      // The trainer's durationMs runs from the epoch's start to the end of its metrics pass.
      const metricsEnded = performance.now();
      const epochStarted = metricsEnded - metrics.durationMs;
      if (timings.epochs++ === 0) timings.setupMs = epochStarted - entered;
      timings.stepMs += lastCheckEnded - Math.max(epochStarted, epochEnded);
      timings.metricsMs += metricsEnded - lastCheckEnded;
      throwIfDiverged(metrics);
      const checkpoint: JobCheckpoint = { trainer: trainer.checkpoint(), resumedAt };
      await state.commitEpoch(checkpoint, metrics, epochs);
      epochEnded = performance.now();
      // One fenced script writes the checkpoint, the metrics entry and progress: its time is
      // counted as the checkpoint's, and publication has no separate cost any more.
      timings.checkpointMs += epochEnded - metricsEnded;
    },
  };
  // One chunk (every dataset up to DATASET_CHUNK_ROWS rows, and JSON ones) trains in memory as
  // it always has; more stream a chunk at a time, with the same result for one chunk (README,
  // "Training from chunks"). Cross-validation's folds need the whole table.
  const inMemory = dataset.chunkCount === 1 || request.validation !== undefined;
  const table = inMemory ? await datasets.table(request.datasetId).catch(unrecoverable) : undefined;
  const outcome = await (
    table
      ? trainFromRequest(request, table, seed, hooks)
      : trainFromChunks(request, dataset, seed, hooks, { residentChunks: config.trainingResidentChunks }).then(
          (run) => run.outcome,
        )
  ).catch(unrecoverable);
  // Cross-validation after the kept model (no checkpoints of its own: deterministic from the
  // seed, a job taken over starts it again from its first fold).
  const crossValidation =
    outcome.status === 'completed' && request.validation && table
      ? await crossValidate(request, table, seed, shouldStop).catch(unrecoverable)
      : undefined;
  if (outcome.status === 'stopped' || (request.validation && !crossValidation)) {
    // The worker's lock renewal failed (it was frozen past the lock, or lost Redis for longer):
    // the job is another worker's now. Stop at once, mid-epoch, and write nothing more.
    if (lostLock) throw new LostJobLockError(job.id, `lock check after a batch of epoch ${outcome.metrics.length + 1}`);
    if ((await redis.exists(keys.cancel)) === 1) {
      await state.deleteCheckpoint();
      throw new UnrecoverableError(CANCELLED_REASON);
    }
    // Shutting down: back to waiting, without using up an attempt; the checkpoint stays.
    await job.moveToWait(token);
    throw new WaitingError();
  }

  const modelEpoch = outcome.restoredBestWeights ? outcome.bestEpoch! : outcome.metrics.length;
  const diagnosis = diagnose({
    request,
    metrics: outcome.metrics,
    bestEpoch: outcome.bestEpoch,
    stoppedEpoch: outcome.stoppedEpoch,
    restoredBestWeights: outcome.restoredBestWeights,
    warnings: outcome.warnings,
    baselineLoss: outcome.baselineLoss,
    rows: outcome.rows,
    target: outcome.target,
    ...(crossValidation ? { foldValLosses: crossValidation.perFold.map((f) => f.valLoss) } : {}),
  });
  const modelId = newModelId();
  // The run's summary once: the result and the model's meta both carry it.
  const summary: TrainingSummary = {
    ...runSummarySchema.parse(outcome),
    backend: backend.name,
    epochsRun: outcome.metrics.length,
    ...(crossValidation ? { crossValidation } : {}),
    diagnosis,
  };
  const result = trainingJobResultSchema.parse({ ...summary, modelId, resumedAt });
  // Fenced: saves the model only while this attempt holds the job; the checkpoint goes with it.
  await state.saveModel(
    {
      ...summary,
      id: modelId,
      jobId: job.id,
      createdAt: new Date().toISOString(),
      task: request.task,
      target: request.target,
      datasetId: request.datasetId,
      spec: request,
      preprocessing: outcome.preprocessing,
      finalMetrics: outcome.metrics[modelEpoch - 1],
      rows: outcome.rows,
    },
    outcome.frozen,
    result,
  );
  timings.finishMs = performance.now() - epochEnded;
  for (const key of [
    'setupMs',
    'stepMs',
    'cancelChecksMs',
    'metricsMs',
    'checkpointMs',
    'publishMs',
    'finishMs',
  ] as const) {
    timings[key] = Math.round(timings[key] * 10) / 10;
  }
  return { ...result, timings };
}

/** Bad input (an AppError) will fail the same way on every retry: fail the job at once. */
/**
 * A loss (or any metric) that is no longer a finite number will not become one again: the job
 * fails now, saying where and what, rather than training on and storing NaN (which JSON writes
 * as null) for every later epoch.
 */
function throwIfDiverged(metrics: object): void {
  const bad = Object.entries(metrics).find(([, value]) => typeof value === 'number' && !Number.isFinite(value));
  if (!bad) return;
  const epoch = (metrics as { epoch?: number }).epoch;
  throw new UnrecoverableError(
    `training diverged at epoch ${epoch}: ${bad[0]} is ${bad[1]}; lower training.learningRate, add normalization ` +
      'or check the data for extreme values',
  );
}

function unrecoverable(error: unknown): never {
  if (error instanceof AppError) throw new UnrecoverableError(error.message);
  throw error;
}
