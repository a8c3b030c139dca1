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

/**
 * pino redaction paths (fast-redact syntax): headers of requests and responses, and secret fields
 * up to 2 levels deep. For the entry point's own low-volume logger; the API's request logger
 * censors the same fields with `censorSecrets`, which costs far less per line.
 */
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

/**
 * Query parameters whose value is a credential, by name (case-insensitive, after decoding, with
 * "-" and "_" alike): any name that is or ends in key, token, secret, password, auth or
 * authorization, or contains apikey, credential or signature — api_key, x-api-key, client_secret,
 * id_token, refresh_token, access_token, auth, authorization, X-Amz-Signature, … A value sent
 * as `?authorization=Bearer%20…` is as secret as the header.
 */
const SECRET_PARAM =
  /(^|[_-])(key|token|secret|password|passwd|pwd|auth|authorization|session|sig)$|apikey|api[_-]key|credential|signature|secret|token|password/;

function isSecretParam(rawName: string): boolean {
  let name = rawName;
  try {
    name = decodeURIComponent(rawName.replace(/\+/g, ' '));
  } catch {
    // a malformed escape: judge the raw name
  }
  return SECRET_PARAM.test(name.trim().toLowerCase());
}

/** `/x?apiKey=abc&y=1` → `/x?apiKey=[redacted]&y=1`; every credential-named parameter (see SECRET_PARAM). */
export function redactUrl(url: string): string {
  const query = url.indexOf('?');
  if (query === -1) return url;
  const hash = url.indexOf('#', query);
  const end = hash === -1 ? url.length : hash;
  const params = url.slice(query + 1, end).split(/([&;])/);
  for (let i = 0; i < params.length; i += 2) {
    const equals = params[i].indexOf('=');
    const name = equals === -1 ? params[i] : params[i].slice(0, equals);
    if (equals !== -1 && isSecretParam(name)) params[i] = `${name}=[redacted]`;
  }
  // A fragment is never sent by clients, but if one arrives it is dropped rather than logged.
  return `${url.slice(0, query + 1)}${params.join('')}`;
}

const CENSOR = '[redacted]';
const SECRET_KEYS = new Set(SECRET_FIELDS);
/** Censored inside any `headers` object (names compared in lower case). */
const SECRET_HEADERS = new Set(['authorization', 'cookie', 'x-api-key', 'set-cookie', 'proxy-authorization']);
/** Levels of nesting searched: the top-level fields are level 1 (REDACT_PATHS reach level 3). */
const CENSOR_DEPTH = 4;

function isPlainContainer(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * The logged object with every secret field's value replaced by "[redacted]": the fields of
 * SECRET_FIELDS at any of the first CENSOR_DEPTH levels (inside arrays too), and the
 * credential headers inside any `headers` object. Returns the object itself, uncopied, when it
 * holds none — the case of nearly every line — and never modifies it (a copy is censored).
 * Objects that are not plain (requests, errors, class instances) are left to their serializers.
 *
 * It does what pino's `redact` with REDACT_PATHS did, at a fraction of the cost: fast-redact's
 * wildcard paths (`*.apiKey`, `*.*.apiKey`) cost about 15 µs per line here, more than the rest
 * of a request's log lines together (bench/README: "What logging costs").
 */
export function censorSecrets<T extends Record<string, unknown>>(object: T): T {
  return censorLevel(object, 1, false) as T;
}

function censorLevel(object: Record<string, unknown>, depth: number, inHeaders: boolean): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key in object) {
    if (!Object.prototype.hasOwnProperty.call(object, key)) continue;
    const value = object[key];
    let censored = value;
    if (SECRET_KEYS.has(key) || (inHeaders && SECRET_HEADERS.has(key.toLowerCase()))) {
      if (value !== undefined) censored = CENSOR;
    } else if (depth < CENSOR_DEPTH && isPlainContainer(value)) {
      censored = censorLevel(value, depth + 1, key === 'headers');
    }
    if (censored !== value) {
      copy ??= Array.isArray(object) ? ([...object] as unknown as Record<string, unknown>) : { ...object };
      copy[key] = censored;
    }
  }
  return copy ?? object;
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
    // Secrets censored in every line's fields and in child loggers' bindings (see censorSecrets).
    formatters: { log: censorSecrets, bindings: censorSecrets },
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
