import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ModelCache } from '../serving/model-cache';

declare module 'fastify' {
  interface FastifyInstance {
    /** Served models kept in memory (MODEL_CACHE_SIZE, MODEL_CACHE_BYTES). */
    modelCache: ModelCache;
  }
}

export default fp(
  async (app: FastifyInstance) => {
    const { config } = app;
    app.decorate(
      'modelCache',
      new ModelCache(app.models, config.modelCacheSize, {
        maxBytes: config.modelCacheBytes,
        serving: { batchWaitMs: config.predictBatchWaitMs },
      }),
    );
  },
  { name: 'fitwell-model-cache', dependencies: ['fitwell-config', 'fitwell-model-store'] },
);
