import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { REQUEST_ID_HEADER, requestStartedAt } from './logger';

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
  const { metrics } = app;

  /** Latency from fastify taking the request up (see requestId) to now, into the histogram. */
  const observe = (request: FastifyRequest, reply: FastifyReply, routeUrl: string | undefined) => {
    const started = requestStartedAt(request.raw);
    const seconds = started === undefined ? reply.elapsedTime / 1000 : (performance.now() - started) / 1000;
    // The pattern, never the raw URL: ids in paths would make a series per request.
    metrics.observeHttp(
      request.method,
      request.is404 ? '(unmatched)' : (routeUrl ?? '(unmatched)'),
      reply.statusCode,
      seconds,
    );
  };

  // Hooks in callback style rather than async: they run on every request and do nothing that
  // waits, so they need no promise (and the request no extra turn of the microtask queue).

  // Without a logger (LOG_LEVEL=silent) a child logger is the logger itself: nothing to bind.
  if (app.log.child({}) !== app.log) {
    app.addHook('preHandler', (request, reply, done) => {
      const params = request.params as Record<string, unknown> | undefined;
      if (params) {
        let bindings: Record<string, unknown> | undefined;
        for (const name of ID_PARAMS) {
          const value = params[name];
          if (typeof value === 'string') (bindings ??= {})[name] = value;
        }
        if (bindings) addBindings(app.log, request, reply, bindings);
      }
      done();
    });
  }

  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    // A queued job's id is only known once the handler has run: log it with the request's id.
    if (reply.statusCode === 202 && typeof payload === 'string' && payload.startsWith('{"jobId"')) {
      const { jobId, state } = JSON.parse(payload) as { jobId?: string; state?: string };
      if (jobId && state === 'waiting') request.log.info({ jobId }, 'training job queued');
    }
    // The latency, here rather than in an onResponse hook: a route with onResponse hooks makes
    // fastify add and remove 'finish' and 'error' listeners on every response, which costs more
    // than the rest of the metrics. A text or buffer body is written right after this hook, so
    // its latency ends here; a stream's ends when the response closes (sent or abandoned).
    const route = request.routeOptions; // builds an object on every read: once
    if (route.config?.httpMetrics !== false) {
      if (isStream(payload)) reply.raw.once('close', () => observe(request, reply, route.url));
      else observe(request, reply, route.url);
    }
    done(null, payload);
  });
}

/**
 * The ids onto the request's logger. With a logger, fastify gives every request a child logger
 * of its own (request.log, the same as reply.log, with which it writes "request completed"), so
 * its bindings can grow in place (pino's setBindings). A child of that child would cost about
 * 10 µs a request: V8 turns each fresh per-request logger into a prototype.
 */
function addBindings(
  appLog: FastifyInstance['log'],
  request: FastifyRequest,
  reply: FastifyReply,
  bindings: Record<string, unknown>,
): void {
  const log = request.log as FastifyRequest['log'] & { setBindings?: (b: Record<string, unknown>) => void };
  // Never the app's own logger: that one is shared by every request.
  if (typeof log.setBindings === 'function' && reply.log === log && log !== appLog) {
    log.setBindings(bindings);
  } else {
    request.log = request.log.child(bindings);
    reply.log = request.log;
  }
}

function isStream(payload: unknown): boolean {
  return payload !== null && typeof payload === 'object' && typeof (payload as { pipe?: unknown }).pipe === 'function';
}

export default fp(httpObservability, { name: 'fitwell-http-observability', dependencies: ['fitwell-metrics'] });
