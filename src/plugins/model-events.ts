import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ModelEvents } from '../serving/model-events';

declare module 'fastify' {
  interface FastifyInstance {
    /** Keeps modelCache in step with deletions made by any replica. */
    modelEvents: ModelEvents;
  }
}

export default fp(
  async (app: FastifyInstance) => {
    const { config, modelRegistry } = app;
    const modelEvents = new ModelEvents({
      redisUrl: config.redisUrl,
      prefix: config.redisPrefix,
      cache: app.modelCache,
      wasDeleted: (id) => modelRegistry.wasDeleted(id),
      log: app.log,
    });
    app.decorate('modelEvents', modelEvents);
    app.addHook('onClose', async () => {
      modelEvents.close();
    });
  },
  { name: 'fitwell-model-events', dependencies: ['fitwell-config', 'fitwell-model-cache', 'fitwell-model-registry'] },
);
