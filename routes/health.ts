import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import fp from 'fastify-plugin';
import { boundByRedis } from '../src/http/redis-errors';

/** Liveness (the process answers) and readiness (Redis answers); both stay open without keys. */
const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'getLiveness',
        description:
          'Answers while the process runs, even when it is overloaded; says which TensorFlow.js backend it uses.',
        response: {
          200: z.object({
            status: z.literal('ok'),
            backend: z.object({ name: z.string(), provider: z.string(), requested: z.string() }),
            uptimeSeconds: z.number(),
          }),
        },
      },
    },
    async () => {
      const { backend } = app;
      return {
        status: 'ok' as const,
        backend: { name: backend.name, provider: backend.provider, requested: backend.requested },
        uptimeSeconds: Math.round(process.uptime()),
      };
    },
  );

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'getReadiness',
        description:
          "Ready when Redis answers a PING within a second on both of the API's connections (its stores' and the " +
          "training queue's) and the Redis watchdog has not found it frozen; 503 with Retry-After otherwise (at " +
          'once while Redis is known to be down or frozen). Wait on it (not /healthz) before sending work.',
        response: {
          200: z.object({ status: z.literal('ready'), redis: z.literal('ok') }),
          503: z.object({ status: z.literal('unavailable'), redis: z.string() }),
        },
      },
    },
    async (_request, reply) => {
      try {
        // Both connections: right after start one may be up before the other, and a route that
        // needs the one still connecting would answer 503 though /readyz said ready.
        // Cut short once the watchdog finds Redis frozen (or at once while it is known to be).
        const { redis, trainingQueue: queue } = app;
        await withTimeout(
          boundByRedis(
            redis,
            Promise.all([
              redis.ping(),
              queue.backend.client.then((client) => {
                if (client.status !== 'ready') throw new Error(`the training queue's connection is ${client.status}`);
              }),
            ]),
          ),
          1_000,
        );
        return { status: 'ready' as const, redis: 'ok' as const };
      } catch (error) {
        reply.header('Retry-After', '5');
        return reply.status(503).send({ status: 'unavailable' as const, redis: (error as Error).message });
      }
    },
  );
};

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms).unref()),
  ]);
}

// Encapsulated (its hooks stay its own, the prefix applies); the name and dependencies are checked at register.
export default fp(healthRoutes, {
  name: 'fitwell-routes-health',
  dependencies: ['fitwell-backend', 'fitwell-redis', 'fitwell-training-queue'],
  encapsulate: true,
});
