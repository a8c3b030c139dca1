import { UnrecoverableError, type SandboxedJob } from 'bullmq';
import { loadConfig } from '../src/config';
import { DatasetStore } from '../src/store/dataset-store';
import { ModelStore, newModelId } from '../src/store/model-store';
import { AppError } from '../src/errors';
import { activeBackend, initBackend } from '../src/ml/backend';
import { createRedis } from '../src/store/redis';
import { trainFromRequest } from '../src/training/train-from-request';
import { trainingRequestSchema } from '../src/schemas/training-request.schema';
import { metricsKey, type TrainingJobData, type TrainingJobResult } from './training-queue';

/**
 * The sandboxed training processor: BullMQ runs it in a child process, so a long training run
 * never blocks the worker's event loop and the job lock keeps being renewed. Configuration comes
 * from the environment the worker passes down.
 */
const config = loadConfig(process.env);
const redis = createRedis(config.redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: 3 });
const datasets = new DatasetStore(redis, config.redisPrefix);
const models = new ModelStore(redis, config.redisPrefix);
const METRICS_TTL_SECONDS = 30 * 24 * 3600;

export default async function trainModel(
  job: SandboxedJob<TrainingJobData, TrainingJobResult>,
): Promise<TrainingJobResult> {
  const parsed = trainingRequestSchema.safeParse(job.data.request);
  if (!parsed.success) {
    throw new UnrecoverableError(`invalid training request: ${parsed.error.message}`);
  }
  const request = parsed.data;
  const backend = await initBackend(config.tfBackend);
  const table = await datasets.table(request.datasetId).catch(unrecoverable);

  const key = metricsKey(config.redisPrefix, job.id);
  await redis.del(key);
  const epochs = request.training.epochs;
  await job.updateProgress({ epoch: 0, epochs });
  const outcome = await trainFromRequest(request, table, job.data.seed, {
    onEpoch: async (metrics) => {
      await redis.multi().rpush(key, JSON.stringify(metrics)).expire(key, METRICS_TTL_SECONDS).exec();
      await job.updateProgress({ epoch: metrics.epoch, epochs });
    },
  }).catch(unrecoverable);

  const modelId = newModelId();
  await models.save(
    {
      id: modelId,
      jobId: job.id,
      createdAt: new Date().toISOString(),
      task: request.task,
      target: request.target,
      datasetId: request.datasetId,
      spec: request,
      seed: outcome.seed,
      backend: backend.name,
      preprocessing: outcome.preprocessing,
      finalMetrics: outcome.metrics[outcome.metrics.length - 1],
      epochsRun: outcome.metrics.length,
      sparsity: outcome.sparsity,
      warnings: outcome.warnings,
    },
    outcome.frozen,
  );
  return {
    modelId,
    epochsRun: outcome.metrics.length,
    seed: outcome.seed,
    backend: activeBackend()?.name ?? backend.name,
    warnings: outcome.warnings,
  };
}

/** Bad input (an AppError) will fail the same way on every retry: fail the job at once. */
function unrecoverable(error: unknown): never {
  if (error instanceof AppError) throw new UnrecoverableError(error.message);
  throw error;
}
