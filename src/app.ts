import Fastify, { type FastifyInstance, type RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { QueueEvents, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config';
import authPlugin from './http/auth';
import { clientErrorHandler, frameworkErrors, registerErrorHandler } from './http/error-handler';
import { JobEventHub } from './http/job-event-hub';
import openapiPlugin from './http/openapi';
import { registerJsonBodyParser } from './http/json-body';
import overloadPlugin from './http/overload';
import rateLimitPlugin from './http/rate-limit';
import redisChecksPlugin from './http/redis-checks';
import { serverTimeouts } from './http/timeouts';
import { initBackend, type BackendInfo } from './ml/backend';
import httpObservability from './observability/http-observability';
import { observeFinishedJobs } from './observability/job-metrics';
import { loggerOptions, requestId, type LogDestination } from './observability/logger';
import { ServiceMetrics } from './observability/metrics';
import { MAX_ID_LENGTH } from './schemas/api.schema';
import { closeBullmq } from './store/close-bullmq';
import type { DatasetStore } from './store/dataset-store';
import { createDatasetStore } from './store/dataset-store-factory';
import { ModelCache } from './serving/model-cache';
import { ModelEvents } from './serving/model-events';
import { ModelRegistry } from './store/model-registry';
import { ModelStore } from './store/model-store';
import { bullmqConnection, createRedis } from './store/redis';
import type { TrainingJobData, TrainingJobResult } from './training-jobs/contract';
import { TrainingJobRepository } from './training-jobs/job-repository';
import { TRAINING_QUEUE, createTrainingQueue } from '../jobs/training-queue';
import { createSweepQueues, type SweepQueues } from '../jobs/sweep-queue';
import { createBatchPredictionQueue, type BatchPredictionQueue } from '../jobs/batch-prediction-queue';
import healthRoutes from '../routes/health';
import docsRoutes from '../routes/docs';
import metricsRoutes from '../routes/metrics';
import datasetRoutes from '../routes/datasets';
import trainingJobRoutes from '../routes/training-jobs';
import trainingJobEventRoutes from '../routes/training-job-events';
import modelRoutes from '../routes/models';
import modelNameRoutes from '../routes/model-names';
import openInferenceRoutes from '../routes/open-inference';
import modelExportRoutes from '../routes/model-export';
import dashboardRoutes from '../routes/dashboard';
import trainingJobReportRoutes from '../routes/training-job-report';
import sweepRoutes from '../routes/sweeps';
import searchRoutes from '../routes/searches';
import batchPredictionRoutes from '../routes/batch-predictions';

export interface Services {
  config: Config;
  backend: BackendInfo;
  redis: Redis;
  queue: Queue<TrainingJobData, TrainingJobResult>;
  /** The sweeps' flow producer (adds a parent and its training jobs) and queue (reads them back). */
  sweeps: SweepQueues;
  /** The batch prediction queue (its own, beside training's). */
  batchPredictions: BatchPredictionQueue;
  /** Reading and cancelling one training job (the queue's job, a cancelled waiting job's record, metrics). */
  trainingJobs: TrainingJobRepository;
  datasets: DatasetStore;
  models: ModelStore;
  modelCache: ModelCache;
  /** Named models: versions and aliases (src/store/model-registry.ts). */
  registry: ModelRegistry;
  /** Keeps modelCache in step with deletions made by any replica. */
  modelEvents: ModelEvents;
  /** The app's one subscription to the training queue's events (live progress, job metrics). */
  queueEvents: QueueEvents;
  /** queueEvents fanned out per job, for the event streams. */
  jobEvents: JobEventHub;
  metrics: ServiceMetrics;
}

export interface BuildOptions {
  /** Where JSON log lines go instead of stdout (tests read them); logs even with LOG_LEVEL=silent. */
  logStream?: LogDestination;
  /** Called for every route as it is added (tests check each one is documented). */
  onRoute?: (route: RouteOptions) => void;
}

/**
 * Events are read from a stream position a little in the past rather than from "now": with "now"
 * (`$`), events written between start-up and the first blocking read would be lost. Replayed
 * events are harmless: nobody is subscribed yet, and job metrics are claimed once per job.
 */
const EVENTS_REPLAY_MS = 10_000;

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
  }
}

/** The API's version in the OpenAPI document: the package version (read from dist/src/app.js). */
// A require, not an import: an import would make tsc copy package.json into dist/.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const API_VERSION: string = (require('../../package.json') as { version: string }).version;

/** Connections and stores, shared by every route, closed with the app. */
const servicesPlugin = fp(
  async (app: FastifyInstance, opts: { config: Config }) => {
    const { config } = opts;
    const backend = await initBackend(config.tfBackend);
    const redis = createRedis(config.redisUrl);
    redis.on('error', (error) => app.log.warn({ err: error.message }, 'redis connection error'));
    const queue = createTrainingQueue(config);
    queue.on('error', (error) => app.log.warn({ err: error.message }, 'queue connection error'));
    const sweeps = createSweepQueues(config);
    sweeps.flow.on('error', (error) => app.log.warn({ err: error.message }, 'sweep flow connection error'));
    sweeps.queue.on('error', (error) => app.log.warn({ err: error.message }, 'sweep queue connection error'));
    const batchPredictions = createBatchPredictionQueue(config);
    batchPredictions.on('error', (error) => app.log.warn({ err: error.message }, 'batch queue connection error'));
    const models = new ModelStore(redis, config.redisPrefix);
    const modelCache = new ModelCache(models, config.modelCacheSize, {
      maxBytes: config.modelCacheBytes,
      serving: { batchWaitMs: config.predictBatchWaitMs },
    });
    const registry = new ModelRegistry(redis, config.redisPrefix);
    const modelEvents = new ModelEvents({
      redisUrl: config.redisUrl,
      prefix: config.redisPrefix,
      cache: modelCache,
      wasDeleted: (id) => registry.wasDeleted(id),
      log: app.log,
    });
    const queueEvents = new QueueEvents(TRAINING_QUEUE, {
      // Reconnects as quickly as the app's other Redis clients after an outage (BullMQ's default
      // waits up to 20 s), so event streams and job metrics resume soon after Redis does.
      connection: bullmqConnection(config.redisUrl, 'blocking'),
      prefix: config.redisPrefix,
      lastEventId: `${Date.now() - EVENTS_REPLAY_MS}-0`,
    });
    queueEvents.on('error', (error) => app.log.warn({ err: error.message }, 'queue events connection error'));
    const metrics = new ServiceMetrics({
      queue,
      modelCache,
      backend,
      onCollectError: (error) => app.log.warn({ err: error.message }, 'could not read queue counts for /metrics'),
    });
    observeFinishedJobs({ queueEvents, queue, redis, prefix: config.redisPrefix, metrics, log: app.log });
    app.decorate('services', {
      config,
      backend,
      redis,
      queue,
      sweeps,
      batchPredictions,
      trainingJobs: new TrainingJobRepository({
        queue,
        redis,
        prefix: config.redisPrefix,
        keepSeconds: config.jobKeepSeconds,
      }),
      datasets: createDatasetStore(config, redis),
      models,
      modelCache,
      registry,
      modelEvents,
      queueEvents,
      jobEvents: new JobEventHub(queueEvents),
      metrics,
    });
    app.addHook('onClose', async () => {
      // Bounded, and dropping the connection when QUIT cannot be sent: see closeBullmq.
      await Promise.all([
        closeBullmq(queueEvents),
        closeBullmq(queue),
        closeBullmq(sweeps.queue),
        closeBullmq(sweeps.flow),
        closeBullmq(batchPredictions),
      ]);
      modelEvents.close();
      redis.disconnect();
    });
  },
  { name: 'fitwell-services' },
);

/** Builds the API without listening: the entry point listens, tests inject or use supertest. */
export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: loggerOptions(config, options.logStream),
    // Our own request ids: a client's x-request-id when it is sane, else a UUID (see logger.ts).
    requestIdHeader: false,
    genReqId: requestId,
    bodyLimit: config.bodyLimit,
    // Ids up to the documented length route; a longer one is a 414 (frameworkErrors).
    routerOptions: { maxParamLength: MAX_ID_LENGTH },
    ...serverTimeouts(config),
    frameworkErrors,
    clientErrorHandler: clientErrorHandler(config.requestTimeoutMs),
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  if (options.onRoute) app.addHook('onRoute', options.onRoute);
  registerErrorHandler(app, { onStorageFull: () => app.services.metrics.storageFull.inc() });
  registerJsonBodyParser(app);
  // Cheapest refusal first: overload (503), then API keys (401), then rate limits (429).
  await app.register(overloadPlugin, { config });
  await app.register(authPlugin, { config });
  await app.register(rateLimitPlugin, { config });
  // Before any route: it collects the routes as they are added.
  await app.register(openapiPlugin, {
    version: API_VERSION,
    apiKeys: config.apiKeys.length > 0,
    rateLimited: config.rateLimitMax > 0,
  });

  await app.register(servicesPlugin, { config });
  await app.register(redisChecksPlugin);
  await app.register(httpObservability);
  await app.register(healthRoutes);
  await app.register(docsRoutes);
  await app.register(metricsRoutes);
  await app.register(datasetRoutes, { prefix: '/v1' });
  await app.register(trainingJobRoutes, { prefix: '/v1' });
  await app.register(trainingJobEventRoutes, { prefix: '/v1' });
  await app.register(modelRoutes, { prefix: '/v1' });
  await app.register(modelExportRoutes, { prefix: '/v1' });
  await app.register(modelNameRoutes, { prefix: '/v1' });
  await app.register(openInferenceRoutes, { prefix: '/v2' });
  await app.register(trainingJobReportRoutes, { prefix: '/v1' });
  await app.register(sweepRoutes, { prefix: '/v1' });
  await app.register(searchRoutes, { prefix: '/v1' });
  await app.register(batchPredictionRoutes, { prefix: '/v1', queue: app.services.batchPredictions });
  // /admin/queues: behind the API keys through the auth plugin's onRequest hook, registered above.
  await app.register(dashboardRoutes);
  return app;
}
