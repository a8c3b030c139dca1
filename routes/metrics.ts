import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import fp from 'fastify-plugin';

/**
 * Prometheus metrics of this API process (see ServiceMetrics for the list). Open without keys,
 * like the probes: scrapers rarely carry credentials, and nothing here is a secret.
 */
const metricsRoutes: FastifyPluginAsyncZod = async (app) => {
  const { metrics } = app;

  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'getMetrics',
        summary: 'Prometheus metrics',
        description:
          'HTTP latency per route, predict latency, queue depth per state, training job and epoch durations, ' +
          'the TensorFlow.js backend and the model cache, in the Prometheus text format.',
        response: {
          200: {
            description: 'Prometheus text exposition format',
            content: { 'text/plain': { schema: z.string() } },
          },
        },
      },
    },
    async (_request, reply) => {
      const body = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(body);
    },
  );
};

// Encapsulated (its hooks stay its own, the prefix applies); the name and dependencies are checked at register.
export default fp(metricsRoutes, {
  name: 'fitwell-routes-metrics',
  dependencies: ['fitwell-metrics'],
  encapsulate: true,
});
