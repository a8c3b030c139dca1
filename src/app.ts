import Fastify, { type FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import {
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config';
import { registerErrorHandler } from './http/error-handler';
import { initBackend, type BackendInfo } from './ml/backend';
import { DatasetStore } from './store/dataset-store';
import { ModelCache } from './store/model-cache';
import { ModelStore } from './store/model-store';
import { createRedis } from './store/redis';
import {
  createTrainingQueue,
  type TrainingJobData,
  type TrainingJobResult,
} from '../jobs/training-queue';
import healthRoutes from '../routes/health';
import datasetRoutes from '../routes/datasets';
import trainingJobRoutes from '../routes/training-jobs';
import modelRoutes from '../routes/models';

export interface Services {
  config: Config;
  backend: BackendInfo;
  redis: Redis;
  queue: Queue<TrainingJobData, TrainingJobResult>;
  datasets: DatasetStore;
  models: ModelStore;
  modelCache: ModelCache;
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
  }
}

/** Connections and stores, shared by every route, closed with the app. */
const servicesPlugin = fp(
  async (app: FastifyInstance, opts: { config: Config }) => {
    const { config } = opts;
    const backend = await initBackend(config.tfBackend);
    const redis = createRedis(config.redisUrl);
    redis.on('error', (error) => app.log.warn({ err: error.message }, 'redis connection error'));
    const queue = createTrainingQueue(config);
    queue.on('error', (error) => app.log.warn({ err: error.message }, 'queue connection error'));
    const models = new ModelStore(redis, config.redisPrefix);
    app.decorate('services', {
      config,
      backend,
      redis,
      queue,
      datasets: new DatasetStore(redis, config.redisPrefix),
      models,
      modelCache: new ModelCache(models, config.modelCacheSize),
    });
    app.addHook('onClose', async () => {
      await queue.close();
      redis.disconnect();
    });
  },
  { name: 'fitwell-services' },
);

/** Builds the API without listening: the entry point listens, tests inject or use supertest. */
export async function buildApp(config: Config): Promise<FastifyInstance> {
  const app = Fastify({
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    bodyLimit: config.bodyLimit,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandler(app);

  await app.register(servicesPlugin, { config });
  await app.register(healthRoutes);
  await app.register(datasetRoutes, { prefix: '/v1' });
  await app.register(trainingJobRoutes, { prefix: '/v1' });
  await app.register(modelRoutes, { prefix: '/v1' });
  return app;
}
