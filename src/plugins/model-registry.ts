import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ModelRegistry } from '../store/model-registry';

declare module 'fastify' {
  interface FastifyInstance {
    /** Named models: versions and aliases (src/store/model-registry.ts). */
    modelRegistry: ModelRegistry;
  }
}

export default fp(
  async (app: FastifyInstance) => {
    app.decorate('modelRegistry', new ModelRegistry(app.redis, app.config.redisPrefix));
  },
  { name: 'fitwell-model-registry', dependencies: ['fitwell-config', 'fitwell-redis'] },
);
