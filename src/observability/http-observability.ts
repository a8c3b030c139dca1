import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { REQUEST_ID_HEADER } from './logger';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: leave the route out of the latency histogram (long-lived streams would swamp it). */
    httpMetrics?: boolean;
  }
}

/** Ids in route params that a log line should carry as fields, so logs can be searched by them. */
const ID_PARAMS = ['jobId', 'modelId', 'datasetId', 'sweepId'] as const;

/**
 * Per-request observability: latency by route pattern, the request id echoed to the client, and
 * the resource ids of the URL bound to the request's logger.
 */
async function httpObservability(app: FastifyInstance): Promise<void> {
  const { metrics } = app.services;

  app.addHook('preHandler', async (request, reply) => {
    const params = request.params as Record<string, unknown> | undefined;
    if (!params) return;
    const bindings: Record<string, unknown> = {};
    for (const name of ID_PARAMS) if (typeof params[name] === 'string') bindings[name] = params[name];
    if (Object.keys(bindings).length === 0) return;
    // Both: fastify writes "request completed" with the reply's logger.
    request.log = request.log.child(bindings);
    reply.log = request.log;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    // A queued job's id is only known once the handler has run: log it with the request's id.
    if (reply.statusCode === 202 && typeof payload === 'string' && payload.startsWith('{"jobId"')) {
      const { jobId, state } = JSON.parse(payload) as { jobId?: string; state?: string };
      if (jobId && state === 'waiting') request.log.info({ jobId }, 'training job queued');
    }
    return payload;
  });

  app.addHook('onResponse', async (request, reply) => {
    if (request.routeOptions.config?.httpMetrics === false) return;
    // The pattern, never the raw URL: ids in paths would make a series per request.
    const route = request.is404 ? '(unmatched)' : (request.routeOptions.url ?? '(unmatched)');
    metrics.httpDuration.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
}

export default fp(httpObservability, { name: 'fitwell-http-observability', dependencies: ['fitwell-services'] });
