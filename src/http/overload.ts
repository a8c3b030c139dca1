import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config';
import { AppError } from '../errors';

/** How long an overloaded API asks clients to wait. */
export const OVERLOAD_RETRY_AFTER_SECONDS = 5;

/**
 * Routes answered even under pressure. Liveness must not fail because the process is busy (an
 * orchestrator would restart a process that is only slow). Readiness keeps meaning "Redis
 * answers": were it to fail under load, a spike reaching every replica would take them all out
 * of the load balancer at once; overload shows as fast 503s on the API routes instead. Metrics
 * are how an operator sees the overload.
 */
const EXEMPT_ROUTES = new Set(['/healthz', '/readyz', '/metrics', '/v2/health/live', '/v2/health/ready']);

const REASONS: Record<string, string> = {
  eventLoopDelay: 'event-loop delay',
  heapUsedBytes: 'heap memory',
  rssBytes: 'resident memory',
  eventLoopUtilization: 'event-loop utilization',
};

function exempt(request: FastifyRequest): boolean {
  const url = request.routeOptions.url;
  return url !== undefined && !request.is404 && EXEMPT_ROUTES.has(url);
}

/**
 * 503 + Retry-After instead of falling over: @fastify/under-pressure samples the event-loop delay,
 * heap and RSS every second, and while one is over its limit (OVERLOAD_MAX_*) new requests are
 * refused in onRequest, before any body is read or any work is done. Registered first, so an
 * overloaded API does not even spend a hash on authentication.
 */
async function overloadPlugin(app: FastifyInstance, opts: { config: Config }): Promise<void> {
  const { config } = opts;
  let lastWarning = 0;
  await app.register(underPressure, {
    maxEventLoopDelay: config.overloadMaxEventLoopDelayMs,
    maxHeapUsedBytes: config.overloadMaxHeapUsedBytes,
    maxRssBytes: config.overloadMaxRssBytes,
    retryAfter: OVERLOAD_RETRY_AFTER_SECONDS,
    pressureHandler: async (request, reply, type, value) => {
      if (exempt(request)) return;
      const reason = REASONS[type] ?? type;
      // At most one line a second: under overload, a log line per refused request adds to it.
      if (Date.now() - lastWarning > 1_000) {
        lastWarning = Date.now();
        request.log.warn({ type, value }, `overloaded (${reason}): answering 503`);
      }
      reply.header('Retry-After', String(OVERLOAD_RETRY_AFTER_SECONDS));
      throw new AppError('OVERLOADED', { reason: `${reason} too high`, retryAfter: OVERLOAD_RETRY_AFTER_SECONDS });
    },
  });
}

export default fp(overloadPlugin, { name: 'fitwell-overload' });
