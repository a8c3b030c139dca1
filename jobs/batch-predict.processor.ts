import { UnrecoverableError, WaitingError, type SandboxedJob } from 'bullmq';
import { loadConfig } from '../src/config';
import { AppError } from '../src/errors';
import { initBackend } from '../src/ml/backend';
import {
  batchPredictionJobDataSchema,
  type BatchPredictionJobData,
  type BatchPredictionResult,
} from '../src/schemas/batch-prediction.schema';
import { predictChunk, resultCells, resultColumnNames } from '../src/serving/batch-predict';
import { serveModel } from '../src/serving/served-model';
import { BatchPredictionStore, type FencedBatchWrites } from '../src/store/batch-prediction-store';
import { createDatasetStore } from '../src/store/dataset-store-factory';
import { newDatasetId, type DatasetMeta } from '../src/store/dataset-store';
import { ModelStore } from '../src/store/model-store';
import { createRedis } from '../src/store/redis';
import { CANCELLED_REASON } from '../src/training-jobs/contract';
import { LostJobLockError } from '../src/training-jobs/fenced-job-state';

/**
 * The sandboxed batch prediction processor (BullMQ runs it in a child process, as it runs
 * training): the dataset a chunk at a time — its stored 64k-row chunks — through the model's
 * serving path, each chunk's results written with one script fenced by this attempt's lock token
 * and recorded once per chunk index. A batch whose worker died resumes on another with the
 * chunks not yet recorded; the ones recorded are neither computed nor written again.
 */
const config = loadConfig(process.env);
const redis = createRedis(config.redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: 3 });
let redisDown = false;
redis.on('error', (error) => {
  if (!redisDown) console.error(`batch prediction process: Redis unavailable (${error.message}); reconnecting`);
  redisDown = true;
});
redis.on('ready', () => (redisDown = false));
const datasets = createDatasetStore(config, redis);
const models = new ModelStore(redis, config.redisPrefix);
const batches = new BatchPredictionStore(redis, config.redisPrefix, config.jobKeepSeconds);

// The worker that forked this process died: stop; another worker takes the batch over.
process.on('disconnect', () => process.exit(0));
// Stop after the current chunk and hand the batch back to the queue (see the training processor).
let draining = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => (draining = true));

export default async function batchPredict(
  job: SandboxedJob<BatchPredictionJobData, BatchPredictionResult>,
  token?: string,
  signal?: AbortSignal,
): Promise<BatchPredictionResult> {
  return attempt(job, token, signal).catch((error: unknown) => {
    if (error instanceof LostJobLockError) console.error(`batch prediction process: ${error.message}; stopping`);
    if (error instanceof AppError) throw new UnrecoverableError(error.message);
    throw error;
  });
}

async function attempt(
  job: SandboxedJob<BatchPredictionJobData, BatchPredictionResult>,
  token: string | undefined,
  signal: AbortSignal | undefined,
): Promise<BatchPredictionResult> {
  const parsed = batchPredictionJobDataSchema.safeParse(job.data);
  if (!parsed.success) throw new UnrecoverableError(`invalid batch prediction: ${parsed.error.message}`);
  const data = parsed.data;
  if (!token) throw new Error(`job ${job.id}: BullMQ passed no lock token to the processor`);
  const writes = batches.fenced({ jobId: job.id, queueName: job.queueName, bullPrefix: job.prefix, token });
  await initBackend(config.tfBackend);
  // Read once: a model is immutable, and a dataset too (deleted at most, which fails the batch).
  const model = serveModel(await models.load(data.modelId), { batchWaitMs: null });
  const meta = await datasets.meta(data.datasetId);
  const dictionaries = await datasets.dictionaries(meta);
  const { chunkRows } = data;
  const totals = { chunks: data.chunks, rows: data.rows };

  const done = await batches.doneChunks(job.id);
  if (done.size > 0) await writes.recordResume(done.size);
  console.error(
    `batch prediction process: job ${job.id} attempt ${job.attemptsMade + 1} starts with ${done.size} of ${data.chunks} chunks done`,
  );
  for (let index = 0; index < data.chunks; index++) {
    if (done.has(index)) continue;
    await stopIfAsked(job, writes, token, signal, data.chunks);
    const table = await datasets.chunkTable(meta, index, dictionaries);
    const result = await predictChunk(model, table, data.idColumns, index * chunkRows);
    await writes.commitChunk(index, result, totals);
  }
  model.dispose();

  let resultDatasetId: string | undefined;
  if (data.saveAsDataset) {
    await stopIfAsked(job, writes, token, signal, data.chunks);
    resultDatasetId = await saveResults(job.id, data, meta, writes);
  }
  return {
    rows: data.rows,
    chunks: data.chunks,
    ...(resultDatasetId ? { resultDatasetId } : {}),
    resumedAt: await batches.resumedAt(job.id),
  };
}

/** Between chunks: the cancel flag (fail as cancelled), a lost lock (stop), a shutdown (back to waiting). */
async function stopIfAsked(
  job: SandboxedJob<BatchPredictionJobData, BatchPredictionResult>,
  writes: FencedBatchWrites,
  token: string,
  signal: AbortSignal | undefined,
  chunks: number,
): Promise<void> {
  const lease = await writes.checkLease();
  if (!lease.locked) throw new LostJobLockError(job.id, 'lock check between chunks');
  if (lease.cancelled) {
    await batches.deleteResults(job.id, chunks);
    throw new UnrecoverableError(CANCELLED_REASON);
  }
  if (draining || signal?.aborted) {
    await job.moveToWait(token);
    throw new WaitingError();
  }
}

/**
 * The results as a new dataset, under an id claimed (fenced) before the upload: an attempt that
 * died while storing it stores again under the same id, and one that died after publishing it
 * finds it there; the batch never leaves a second copy.
 */
async function saveResults(
  batchId: string,
  data: BatchPredictionJobData,
  source: DatasetMeta,
  writes: FencedBatchWrites,
): Promise<string> {
  const id = await writes.claimDatasetId(newDatasetId());
  if (await datasets.exists(id)) return id;
  const names = resultColumnNames(data.idColumns, data.classes);
  const categorical = new Set(
    source.columns.filter((c) => c.type === 'categorical' && data.idColumns.includes(c.name)).map((c) => c.name),
  );
  if (data.classes?.some((c) => typeof c === 'string')) categorical.add('prediction');
  async function* rows() {
    for (let index = 0; index < data.chunks; index++) {
      const result = await batches.chunkResult(batchId, index);
      if (!result) throw new Error(`batch ${batchId}: the results of chunk ${index} are missing`);
      yield resultCells(result, index * data.chunkRows, data.classes);
    }
  }
  await datasets.saveRows(id, names, categorical, rows());
  return id;
}
