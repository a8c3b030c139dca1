import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyServerOptions } from 'fastify';
import type { Config } from '../config';

/**
 * fastify's logger (pino) as fitwell configures it: one JSON object per line, every request line
 * carrying its request id (`reqId`), and secrets never written. Keys are redacted wherever a
 * log call might carry them: request headers, objects with an `apiKey`-like field, and query
 * strings.
 */

/** A client may send its own request id (for tracing across services); anything odd is replaced. */
export const REQUEST_ID_HEADER = 'x-request-id';
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Where `requestId` notes when fastify took the request up (see `requestStartedAt`). */
const STARTED_AT = Symbol('fitwell.requestStartedAt');

/**
 * fastify's genReqId: the request's id. fastify calls it first thing for every request (before
 * any hook, and for the requests refused by the first hooks too), so it also notes the time: the
 * start of the request's latency in the HTTP metrics (`requestStartedAt`).
 */
export function requestId(req: IncomingMessage): string {
  (req as IncomingMessage & { [STARTED_AT]?: number })[STARTED_AT] = performance.now();
  const given = req.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
}

/** performance.now() when fastify took the request up (undefined if requestId did not run). */
export function requestStartedAt(req: IncomingMessage): number | undefined {
  return (req as IncomingMessage & { [STARTED_AT]?: number })[STARTED_AT];
}

const SECRET_FIELDS = ['apiKey', 'apiKeys', 'api_key', 'password', 'token', 'secret', 'authorization'];

/** pino redaction paths (fast-redact syntax): headers of requests and responses, and secret fields up to 2 levels deep. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  ...SECRET_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
];

const SECRET_QUERY = /([?&](?:api[_-]?key|key|token|access_token|password)=)[^&#]*/gi;

/** `/x?apiKey=abc&y=1` → `/x?apiKey=[redacted]&y=1`. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY, '$1[redacted]');
}

export interface LogDestination {
  write(line: string): void;
}

export function loggerOptions(
  config: Config,
  destination?: LogDestination,
): NonNullable<FastifyServerOptions['logger']> {
  if (config.logLevel === 'silent' && !destination) return false;
  return {
    level: config.logLevel,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      // fastify logs its requests under `req`; anything else logged under `req` passes as it is.
      req: (req) =>
        typeof req?.url === 'string' && typeof req.method === 'string'
          ? { method: req.method, url: redactUrl(req.url), host: req.host, remoteAddress: req.ip }
          : (req as unknown as Record<string, unknown>),
    },
    ...(destination ? { stream: destination } : {}),
  };
}
