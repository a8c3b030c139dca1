import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { assertApiKeysConfigured, type Config } from '../config';
import { AppError } from '../errors';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * A fingerprint of the API key the request was authenticated with (not the key): used to
     * give each key its own rate limit and idempotency keys. Undefined when the API runs open.
     */
    apiKeyId?: string;
  }
}

/**
 * Routes that stay open with keys configured: probes, the API description and metrics. Matched
 * against the route's pattern (not the raw URL), so no spelling of a path can reach a protected
 * route through this list; every other route needs a key, including ones added later.
 */
const OPEN_ROUTES = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json']);
const OPEN_PREFIXES = ['/docs'];

/** The job dashboard: browsers cannot send a bearer token, so it also takes HTTP Basic auth. */
const DASHBOARD_PREFIX = '/admin';

/** Paths under which an unknown route still asks for a key, so probing reveals nothing. */
const PROTECTED_PREFIXES = ['/v1', DASHBOARD_PREFIX];

const REALM = 'fitwell';

export function isOpenRoute(request: FastifyRequest): boolean {
  const url = request.routeOptions.url;
  if (url === undefined || request.is404) return false;
  return OPEN_ROUTES.has(url) || OPEN_PREFIXES.some((prefix) => url === prefix || url.startsWith(`${prefix}/`));
}

function routePath(request: FastifyRequest): string {
  if (request.routeOptions.url !== undefined && !request.is404) return request.routeOptions.url;
  const path = request.url.split('?', 1)[0];
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function underPrefix(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}

/**
 * The configured keys, kept only as SHA-256 digests. A presented key is hashed too, so every
 * comparison is between two 32-byte values with `timingSafeEqual`, and every configured key is
 * compared (no early exit): the time taken says nothing about how much of a key was right, nor
 * about which key matched or how long the keys are.
 */
export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(sha256);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** The matching key's fingerprint, or undefined. */
  identify(presented: string): string | undefined {
    const digest = sha256(presented);
    let match: Buffer | undefined;
    for (const candidate of this.digests) {
      if (timingSafeEqual(digest, candidate)) match = candidate;
    }
    // A fingerprint of the digest, so not even the key's SHA-256 appears in Redis keys or logs.
    return match && sha256(match.toString('hex')).toString('hex').slice(0, 16);
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** `Bearer <key>` → key; `Basic base64(user:key)` → key (or user with an empty password). */
export function presentedKey(header: string | undefined, allowBasic: boolean): string | undefined {
  if (!header) return undefined;
  const match = /^\s*(\S+)\s+(\S+)\s*$/.exec(header);
  if (!match) return undefined;
  const [, scheme, credentials] = match;
  if (scheme.toLowerCase() === 'bearer') return credentials;
  if (scheme.toLowerCase() === 'basic' && allowBasic) {
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    return password || user || undefined;
  }
  return undefined;
}

function challenge(reply: FastifyReply, dashboard: boolean, invalid: boolean): void {
  reply.header(
    'WWW-Authenticate',
    dashboard
      ? `Basic realm="${REALM}", charset="UTF-8"`
      : `Bearer realm="${REALM}"${invalid ? ', error="invalid_token"' : ''}`,
  );
}

/**
 * API keys: `Authorization: Bearer <key>` on every route except the open ones above; the job
 * dashboard also takes Basic auth whose password is a key. Without keys configured the API runs
 * open and says so loudly at start; in production it refuses to start (ConfigError).
 * Keys never reach a log: fastify's request logs carry no headers, and messages name no key.
 */
async function authPlugin(app: FastifyInstance, opts: { config: Config }): Promise<void> {
  assertApiKeysConfigured(opts.config);
  app.decorateRequest('apiKeyId', undefined);
  const keys = new ApiKeys(opts.config.apiKeys);
  if (!keys.enabled) {
    app.log.warn(
      '!!! API_KEYS is not set: the API is OPEN to anyone who can reach it. Set API_KEYS to ' +
        'comma-separated keys to require "Authorization: Bearer <key>" (NODE_ENV=production refuses to start without). !!!',
    );
    return;
  }
  app.log.info({ keys: opts.config.apiKeys.length }, 'API keys required on /v1 and the dashboard');

  app.addHook('onRequest', async (request, reply) => {
    if (isOpenRoute(request)) return;
    const path = routePath(request);
    const dashboard = underPrefix(path, DASHBOARD_PREFIX);
    // Unknown paths outside the protected areas are plain 404s.
    if (request.is404 && !PROTECTED_PREFIXES.some((prefix) => underPrefix(path, prefix))) return;

    const presented = presentedKey(request.headers.authorization, dashboard);
    if (presented === undefined) {
      challenge(reply, dashboard, false);
      throw new AppError('UNAUTHORIZED', {
        message: dashboard
          ? 'the dashboard needs an API key: sign in with any user name and a key as the password, or send "Authorization: Bearer <key>"'
          : 'this route needs an API key: send "Authorization: Bearer <key>"',
      });
    }
    const id = keys.identify(presented);
    if (id === undefined) {
      challenge(reply, dashboard, true);
      throw new AppError('UNAUTHORIZED', { message: 'the API key is not valid' });
    }
    request.apiKeyId = id;
  });
}

export default fp(authPlugin, { name: 'fitwell-auth' });
