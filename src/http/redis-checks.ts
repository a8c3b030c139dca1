import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { checkRedisSettings } from '../store/redis-settings';

/**
 * Checks maxmemory-policy and appendonly each time the API's Redis connection becomes ready (at
 * start, and again after Redis restarts, whose configuration may have changed). Never blocks
 * start: the API comes up while Redis is away, answers 503 and recovers when it returns.
 */
async function redisChecksPlugin(app: FastifyInstance): Promise<void> {
  const { redis } = app;
  const log = { warn: (msg: string) => app.log.warn(msg), info: (msg: string) => app.log.info(msg) };
  const check = () => void checkRedisSettings(redis, log);
  redis.on('ready', check);
  if (redis.status === 'ready') check();
  app.addHook('onClose', async () => {
    redis.off('ready', check);
  });
}

export default fp(redisChecksPlugin, { name: 'fitwell-redis-checks', dependencies: ['fitwell-redis'] });
