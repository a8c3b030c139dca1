import type { ChildProcess } from 'node:child_process';
import type { Worker } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { REDACT_PATHS } from './observability/logger';
import { buildApp } from './app';
import { assertApiKeysConfigured, ConfigError, loadConfig } from './config';
import { createRedis } from './store/redis';
import { checkRedisSettings } from './store/redis-settings';
import { ensureLocalRedis } from './local-redis';
import { FOLD_JOB_NAME } from './training-jobs/contract';
import { closeGracefully, createTrainingWorker } from '../jobs/training-worker';
import { createSweepWorker } from '../jobs/sweep-worker';
import { createSearchWorker } from '../jobs/search-worker';
import { createBatchPredictionWorker } from '../jobs/batch-prediction-worker';
import { applyCrashPolicy } from '../jobs/training-crash-policy';

/**
 * Entry point: `node dist/src/main.js [api|worker|all]` (default all: the API and one worker in
 * one command, for a single machine; deployments run `api` and `worker` apart).
 */
async function main(): Promise<void> {
  const mode = process.argv[2] ?? 'all';
  if (!['api', 'worker', 'all'].includes(mode)) {
    throw new ConfigError(`unknown mode "${mode}": use api, worker or all`);
  }
  const config = loadConfig();
  // The same pino JSON lines as the API's (level, time, pid, hostname), at LOG_LEVEL; job lines
  // carry the job id as a field.
  const logger = pino({ level: config.logLevel, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
  const log = (msg: string, fields: Record<string, unknown> = {}) => logger.info(fields, msg);

  // Refuse a keyless production API before anything starts (a private Redis included).
  if (mode !== 'worker') assertApiKeysConfigured(config);
  let redisChild: ChildProcess | null = null;
  if (mode === 'all') redisChild = await ensureLocalRedis(config.redisUrl, log);

  let app: FastifyInstance | undefined;
  let worker: ReturnType<typeof createTrainingWorker> | undefined;
  let sweepWorker: Worker | undefined;
  let searchWorker: Worker | undefined;
  let batchWorker: Worker | undefined;
  if (mode === 'api' || mode === 'all') {
    app = await buildApp(config);
    app.log.info({ backend: app.backend }, `TensorFlow.js backend: ${app.backend.name}`);
    await app.listen({ port: config.port, host: config.host });
  }
  if (mode === 'worker' || mode === 'all') {
    worker = createTrainingWorker(config);
    worker.on('error', (error) => logger.error({ err: error.message }, 'worker error'));
    worker.on('failed', (job, error) =>
      logger.warn({ jobId: job?.id, attempts: job?.attemptsMade }, `job ${job?.id} failed: ${error.message}`),
    );
    worker.on('completed', (job) =>
      job.name === FOLD_JOB_NAME
        ? log(`job ${job.id} completed: a fold of job ${job.data.fold?.parentId}`, { jobId: job.id })
        : log(`job ${job.id} completed: model ${job.returnvalue.modelId}`, {
            jobId: job.id,
            modelId: job.returnvalue.modelId,
          }),
    );
    // A job whose training process dies is resumed while it makes progress (see the policy).
    const policyRedis = createRedis(config.redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: 3 });
    policyRedis.on('error', () => undefined);
    applyCrashPolicy(worker, config, policyRedis, logger);
    // The sandboxed trainer finds the lost lock itself at its next batch and stops (see
    // train-model.processor.ts); this line says why in the worker's own log.
    worker.on('lockRenewalFailed', (jobIds) =>
      logger.warn({ jobIds }, `could not renew the lock of job(s) ${jobIds.join(', ')}: their trainers stop`),
    );
    worker.on('active', (job) => log(`job ${job.id} started`, { jobId: job.id, attempt: job.attemptsMade + 1 }));
    log(`training worker consuming queue "${config.redisPrefix}:training" (concurrency ${config.workerConcurrency})`);
    if (mode === 'worker') await warnAboutRedisSettings(config.redisUrl, logger);
    // Completes sweeps (BullMQ flow parents) once their training jobs are done; cheap, in-process.
    sweepWorker = createSweepWorker(config);
    sweepWorker.on('error', (error) => logger.error({ err: error.message }, 'sweep worker error'));
    // Runs search coordinators (they start trials on the training queue); cheap, in-process.
    searchWorker = createSearchWorker(config);
    searchWorker.on('error', (error) => logger.error({ err: error.message }, 'search worker error'));
    // Batch predictions, on their own queue, each in a sandboxed child like a training job.
    batchWorker = createBatchPredictionWorker(config);
    batchWorker.on('error', (error) => logger.error({ err: error.message }, 'batch prediction worker error'));
    batchWorker.on('failed', (job, error) =>
      logger.warn({ jobId: job?.id }, `batch prediction ${job?.id} failed: ${error.message}`),
    );
    batchWorker.on('completed', (job) => log(`batch prediction ${job.id} completed`, { jobId: job.id }));
    log(`batch prediction worker consuming queue "${config.redisPrefix}:batch-predictions"`);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal} received, shutting down`);
    // Past the grace period an unfinished job is left to BullMQ's stalled-job recovery: its
    // lock expires and another worker picks it up.
    const grace = new Promise((resolve) => setTimeout(resolve, config.shutdownGraceMs).unref());
    await Promise.race([
      Promise.allSettled([
        app?.close(),
        worker && closeGracefully(worker, config.shutdownGraceMs),
        sweepWorker?.close(),
        searchWorker?.close(),
        batchWorker && closeGracefully(batchWorker, config.shutdownGraceMs),
      ]),
      grace,
    ]);
    redisChild?.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

/** The API checks Redis' settings at start; a worker-only process does it here. */
async function warnAboutRedisSettings(url: string, logger: Logger): Promise<void> {
  const redis = createRedis(url, { enableOfflineQueue: true });
  redis.on('error', () => undefined);
  try {
    await checkRedisSettings(redis, { warn: (msg) => logger.warn(msg), info: (msg) => logger.info(msg) });
  } finally {
    redis.disconnect();
  }
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`fitwell: ${message}`);
  process.exit(1);
});
