import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

/** Liveness (the process answers) and readiness (Redis answers); both stay open without keys. */
const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'getLiveness',
        description: 'Answers while the process runs, even when it is overloaded; says which TensorFlow.js backend it uses.',
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
      const { backend } = app.services;
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
        description: 'Ready when Redis answers a PING within a second; 503 with Retry-After otherwise.',
        response: {
          200: z.object({ status: z.literal('ready'), redis: z.literal('ok') }),
          503: z.object({ status: z.literal('unavailable'), redis: z.string() }),
        },
      },
    },
    async (_request, reply) => {
      try {
        await withTimeout(app.services.redis.ping(), 1_000);
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

export default healthRoutes;
