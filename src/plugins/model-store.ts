import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ModelStore } from '../store/model-store';

declare module 'fastify' {
  interface FastifyInstance {
    /** Trained models in Redis: meta and frozen weights. */
    models: ModelStore;
  }
}

export default fp(
  async (app: FastifyInstance) => {
    app.decorate('models', new ModelStore(app.redis, app.config.redisPrefix));
  },
  { name: 'fitwell-model-store', dependencies: ['fitwell-config', 'fitwell-redis'] },
);
