import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { observeFinishedJobs } from '../observability/job-metrics';
import { ServiceMetrics } from '../observability/metrics';
import { watchdogFor } from '../http/redis-watchdog';

declare module 'fastify' {
  interface FastifyInstance {
    /** The Prometheus registry and the service's metrics (GET /metrics). */
    metrics: ServiceMetrics;
  }
}

/** The service's metrics, and the finished training jobs counted into them from the queue's events. */
export default fp(
  async (app: FastifyInstance) => {
    const { config, trainingQueue: queue, queueEvents, redis } = app;
    const metrics = new ServiceMetrics({
      queue,
      modelCache: app.modelCache,
      backend: app.backend,
      watchdog: watchdogFor(redis),
      onCollectError: (error) => app.log.warn({ err: error.message }, 'could not read queue counts for /metrics'),
    });
    observeFinishedJobs({ queueEvents, queue, redis, prefix: config.redisPrefix, metrics, log: app.log });
    app.decorate('metrics', metrics);
  },
  {
    name: 'fitwell-metrics',
    dependencies: [
      'fitwell-config',
      'fitwell-backend',
      'fitwell-redis',
      'fitwell-training-queue',
      'fitwell-queue-events',
      'fitwell-model-cache',
    ],
  },
);
