import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { createRedis } from '../store/redis';

declare module 'fastify' {
  interface FastifyInstance {
    /** The API's client for fitwell's own keys (fail-fast: a command fails at once while Redis is away). */
    redis: Redis;
  }
}

export default fp(
  async (app: FastifyInstance) => {
    const redis = createRedis(app.config.redisUrl);
    redis.on('error', (error) => app.log.warn({ err: error.message }, 'redis connection error'));
    app.decorate('redis', redis);
    app.addHook('onClose', async () => {
      redis.disconnect();
    });
  },
  { name: 'fitwell-redis', dependencies: ['fitwell-config'] },
);
