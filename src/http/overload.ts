import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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
 * A predict body above this many bytes (about 100 rows of a few features) is expensive work; one
 * without a Content-Length (chunked) is counted as expensive too, since its size is unknown.
 */
export const EXPENSIVE_PREDICT_BYTES = 16 * 1024;

/** Routes whose every request is expensive: a parse and a large write, a render, an export. */
const EXPENSIVE_ROUTES = new Set([
  'POST /v1/datasets',
  'POST /v1/training-jobs',
  'POST /v1/sweeps',
  'POST /v1/searches',
  'GET /v1/training-jobs/:jobId/report',
  'GET /v1/training-jobs/:jobId/curves.svg',
  'GET /v1/sweeps/:sweepId/curves.svg',
  'GET /v1/searches/:searchId/curves.svg',
  'GET /v1/models/:modelId/export',
]);

const PREDICT_ROUTE = /\/(predict|infer)$/;

/**
 * What a request costs, known in onRequest (before its body is read): `expensive` work is bounded
 * by a pool of its own (OVERLOAD_MAX_EXPENSIVE_REQUESTS), `cheap` requests (reading a job, a
 * dataset's metadata, a 1-row predict, the probes) are never counted against it.
 */
export function requestCost(request: FastifyRequest): 'expensive' | 'cheap' {
  const url = request.routeOptions.url;
  if (url === undefined || request.is404) return 'cheap';
  if (EXPENSIVE_ROUTES.has(`${request.method} ${url}`)) return 'expensive';
  if (request.method === 'POST' && PREDICT_ROUTE.test(url)) {
    const length = Number(request.headers['content-length']);
    return Number.isFinite(length) && length <= EXPENSIVE_PREDICT_BYTES ? 'cheap' : 'expensive';
  }
  return 'cheap';
}

/** Counts expensive requests in flight; each is released once its response is done or aborted. */
export class ExpensivePool {
  private running = 0;

  constructor(readonly limit: number) {}

  get inFlight(): number {
    return this.running;
  }

  /** Takes a place for `request` (false when the pool is full: refuse it). */
  tryAcquire(reply: FastifyReply): boolean {
    if (this.limit > 0 && this.running >= this.limit) return false;
    this.running++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.running--;
    };
    reply.raw.once('finish', release);
    reply.raw.once('close', release);
    return true;
  }
}

/**
 * 503 + Retry-After instead of falling over: @fastify/under-pressure samples the event-loop delay,
 * heap and RSS every second, and while one is over its limit (OVERLOAD_MAX_*) new requests are
 * refused in onRequest, before any body is read or any work is done. Expensive requests also have a concurrency pool of their own: past
 * OVERLOAD_MAX_EXPENSIVE_REQUESTS in flight, the next is a 503 at once, however idle the process
 * looks, so uploads and large predicts cannot take the CPU that cheap requests need. Registered
 * first, so an overloaded API does not even spend a hash on authentication.
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
  const pool = new ExpensivePool(config.overloadMaxExpensiveRequests);
  app.addHook('onRequest', (request, reply, done) => {
    if (requestCost(request) === 'cheap' || pool.tryAcquire(reply)) {
      done();
      return;
    }
    reply.header('Retry-After', String(OVERLOAD_RETRY_AFTER_SECONDS));
    done(
      new AppError('OVERLOADED', {
        reason: `${pool.limit} expensive requests in flight (OVERLOAD_MAX_EXPENSIVE_REQUESTS)`,
        retryAfter: OVERLOAD_RETRY_AFTER_SECONDS,
      }),
    );
  });
}

export default fp(overloadPlugin, { name: 'fitwell-overload' });
