import type { ServerOptions } from 'node:http';
import type { Config } from '../config';

/** Node's default time for a client to send a request's headers. */
const NODE_HEADERS_TIMEOUT_MS = 60_000;

/**
 * Server timeouts for the Fastify constructor. `requestTimeout` bounds how long a client may take
 * to send a whole request (slow uploads, slowloris) and is answered 408 by Node;
 * `connectionTimeout` closes a socket that stays silent that long. Two Node details make the
 * configured request timeout hold: it is only enforced when the headers timeout is not longer
 * (so that is capped at it), and expired requests are only looked for every
 * `connectionsCheckingInterval` (30 s by default; here a quarter of the timeout).
 */
export function serverTimeouts(config: Config): {
  requestTimeout: number;
  connectionTimeout: number;
  http: ServerOptions;
} {
  const requestTimeout = config.requestTimeoutMs;
  const http: ServerOptions =
    requestTimeout > 0
      ? {
          requestTimeout,
          headersTimeout: Math.min(NODE_HEADERS_TIMEOUT_MS, requestTimeout),
          connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(requestTimeout / 4))),
        }
      : {};
  return { requestTimeout, connectionTimeout: config.connectionTimeoutMs, http };
}
