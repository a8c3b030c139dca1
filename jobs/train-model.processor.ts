import { hostname } from 'node:os';
import { Queue, UnrecoverableError, WaitingChildrenError, WaitingError, type SandboxedJob } from 'bullmq';
import { loadConfig } from '../src/config';
import { AppError } from '../src/errors';
import { initBackend } from '../src/ml/backend';
import { CheckpointStore, type JobCheckpoint } from '../src/store/checkpoint-store';
import { createDatasetStore } from '../src/store/dataset-store-factory';
import { newModelId } from '../src/store/model-store';
import { bullmqConnection, createRedis } from '../src/store/redis';
import { FencedJobState, jobResultKey, LostJobLockError } from '../src/training-jobs/fenced-job-state';
import type { CrossValidationResult } from '../src/schemas/evaluation.schema';
import { diagnose } from '../src/training/diagnosis';
import { combineFolds, foldOutcome, foldRequest, foldSplit, planFolds } from '../src/training/cross-validate';
import { runSummarySchema } from '../src/training/run-summary';
import { trainFromChunks } from '../src/training/train-from-chunks';
import { trainFromRequest, type TrainingHooks } from '../src/training/train-from-request';
import {
  CANCELLED_REASON,
  trainingJobDataSchema,
  trainingJobResultSchema,
  type FoldJobResult,
  type JobTimings,
  type TrainingJobData,
  type TrainingJobResult,
  type TrainingSummary,
} from '../src/training-jobs/contract';
import { readFoldRecords, type FoldRecord } from '../src/training-jobs/fold-records';
import { cancelKey, foldsKey, metricsKey } from '../src/training-jobs/keys';
import { enqueueFolds, TRAINING_QUEUE } from './training-queue';

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
// The training queue, to add a cross-validated job's folds as its children; made at the first.
let foldQueue: Queue<TrainingJobData, TrainingJobResult> | undefined;
function trainingQueue(): Queue<TrainingJobData, TrainingJobResult> {
  foldQueue ??= new Queue(TRAINING_QUEUE, {
    connection: bullmqConnection(config.redisUrl, 'blocking'),
    prefix: config.redisPrefix,
  });
  return foldQueue;
}

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
): Promise<TrainingJobResult | FoldJobResult> {
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
): Promise<TrainingJobResult | FoldJobResult> {
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
  const { request, seed, fold } = parsed.data;
  const prefix = config.redisPrefix;
  const backend = await initBackend(config.tfBackend);
  const dataset = await datasets.chunkedTable(request.datasetId).catch(unrecoverable);
  // One chunk (every dataset up to DATASET_CHUNK_ROWS rows, and JSON ones) trains in memory as
  // it always has; more stream a chunk at a time, with the same result for one chunk (README,
  // "Training from chunks"). Cross-validation (the job and its folds) needs the whole table.
  const inMemory = dataset.chunkCount === 1 || request.validation !== undefined;
  const table = inMemory ? await datasets.table(request.datasetId).catch(unrecoverable) : undefined;
  // A fold stops at its parent's cancel flag as well as at its own.
  const cancelKeys = [cancelKey(prefix, job.id), ...(fold ? [cancelKey(prefix, fold.parentId)] : [])];
  const keys = { metrics: metricsKey(prefix, job.id) };
  if (!token) throw new Error(`job ${job.id}: BullMQ passed no lock token to the processor`);
  const state = new FencedJobState(
    redis,
    config.redisPrefix,
    { jobId: job.id, queueName: job.queueName, bullPrefix: job.prefix, token },
    keys.metrics,
    config.jobKeepSeconds,
  );
  const cancelled = async () => (await redis.exists(...cancelKeys)) > 0;
  const cancel = async (): Promise<never> => {
    await state.deleteCheckpoint();
    throw new UnrecoverableError(CANCELLED_REASON);
  };
  if (fold) {
    // A previous attempt recorded this fold but died before BullMQ recorded the completion.
    if ((await redis.hexists(foldsKey(prefix, fold.parentId), String(fold.index + 1))) === 1) {
      return { parentId: fold.parentId, fold: fold.index + 1, recorded: false };
    }
  } else {
    // A previous attempt saved the model but died before BullMQ recorded the completion.
    const finished = await redis.get(jobResultKey(prefix, job.id));
    if (finished) return trainingJobResultSchema.parse(JSON.parse(finished));
  }
  // A fold of a cancelled job, or a cross-validated job woken by its last fold after a DELETE.
  if (await cancelled()) await cancel();

  // Cross-validation: the folds are child jobs (jobs/training-queue.ts enqueueFolds), added
  // before the kept model trains so that the other workers train them meanwhile.
  const crossValidated = request.validation !== undefined && !fold;
  const plan = (crossValidated || fold) && table ? planFolds(request, table, seed) : undefined;
  if (crossValidated) {
    await failOnFailedFolds(job);
    const records = await readFoldRecords(redis, prefix, job.id);
    const missing = Array.from({ length: plan!.k }, (_, f) => f).filter((f) => !records.has(f + 1));
    if (missing.length > 0) await enqueueFolds(trainingQueue(), config, job, parsed.data, missing);
  }

  const saved = await checkpoints.load(job.id);
  const epochs = request.training.epochs;
  // A cross-validated job comes back to its finished kept model once its folds are done: waiting
  // for them is not a resumption after a lost worker.
  const waitedForFolds =
    crossValidated &&
    saved !== null &&
    (saved.trainer.epoch >= epochs || saved.trainer.earlyStopping?.stoppedEpoch !== undefined);
  const resumed = saved !== null && !waitedForFolds;
  const resumedAt = saved ? (resumed ? [...saved.resumedAt, saved.trainer.epoch] : saved.resumedAt) : [];
  // The metrics list is made to hold exactly the checkpointed epochs, and progress set to match;
  // a resumption is written to the checkpoint at once (not only with the next epoch's).
  await state.reconcile(saved, epochs, resumed ? { trainer: saved.trainer, resumedAt } : undefined);
  // After every batch: the drain flag and the job's abort signal at once, the cancel flag in Redis
  // at most every CANCEL_CHECK_MS (a round trip per batch cost up to a fifth of the step on a busy machine).
  const shouldStop = async () => {
    const checking = performance.now();
    let stop = draining || signal?.aborted === true;
    if (!stop && checking - lastCancelCheck >= CANCEL_CHECK_MS) {
      // One round trip: the cancel flag, and whether this attempt still holds the job's lock.
      const lease = await state.checkLease(...cancelKeys);
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
    ...(fold ? { split: foldSplit(plan!, fold.index) } : {}),
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
  const outcome = await (
    table
      ? trainFromRequest(fold ? foldRequest(request) : request, table, seed, hooks)
      : trainFromChunks(request, dataset, seed, hooks, { residentChunks: config.trainingResidentChunks }).then(
          (run) => run.outcome,
        )
  ).catch(unrecoverable);
  if (outcome.status === 'stopped') {
    // The worker's lock renewal failed (it was frozen past the lock, or lost Redis for longer):
    // the job is another worker's now. Stop at once, mid-epoch, and write nothing more.
    if (lostLock) throw new LostJobLockError(job.id, `lock check after a batch of epoch ${outcome.metrics.length + 1}`);
    if (await cancelled()) await cancel();
    // Shutting down: back to waiting, without using up an attempt; the checkpoint stays.
    await job.moveToWait(token);
    throw new WaitingError();
  }

  if (fold) {
    // Fenced, and once per fold: the record goes in the parent's fold records with this
    // attempt's lock, unless the fold has one; the checkpoint goes with it.
    const record: FoldRecord = {
      outcome: foldOutcome(plan!, fold.index, table!, outcome),
      ranBy: { workerPid: process.ppid, sandboxPid: process.pid, host: hostname() },
      attempt: job.attemptsMade + 1,
      recordedAt: new Date().toISOString(),
    };
    const recorded = await state.recordFold(foldsKey(prefix, fold.parentId), fold.index + 1, JSON.stringify(record));
    return { parentId: fold.parentId, fold: fold.index + 1, recorded };
  }

  let crossValidation: CrossValidationResult | undefined;
  if (crossValidated) {
    // The kept model is checkpointed at its end: the job waits for its folds without a worker,
    // and comes back here (from that checkpoint) once every fold has finished.
    if (await job.moveToWaitingChildren(token)) throw new WaitingChildrenError();
    await failOnFailedFolds(job);
    const records = await readFoldRecords(redis, prefix, job.id);
    const missing = Array.from({ length: plan!.k }, (_, f) => f + 1).filter((f) => !records.has(f));
    if (missing.length > 0) {
      throw new UnrecoverableError(`cross-validation: fold(s) ${missing.join(', ')} finished without a record`);
    }
    crossValidation = combineFolds(
      request,
      table!,
      plan!,
      Array.from({ length: plan!.k }, (_, f) => records.get(f + 1)!.outcome),
    );
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

/**
 * A fold that failed for good (it is ignored as a dependency, see enqueueFolds) fails its job,
 * saying which fold and why: the estimate needs every fold.
 */
async function failOnFailedFolds(job: SandboxedJob<TrainingJobData, TrainingJobResult>): Promise<void> {
  const failures = Object.entries(await job.getIgnoredChildrenFailures());
  if (failures.length === 0) return;
  const [key, reason] = failures[0];
  throw new UnrecoverableError(`cross-validation: ${key.split(':').pop()} failed: ${reason}`);
}

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

/** Bad input (an AppError) will fail the same way on every retry: fail the job at once. */
function unrecoverable(error: unknown): never {
  if (error instanceof AppError) throw new UnrecoverableError(error.message);
  throw error;
}
