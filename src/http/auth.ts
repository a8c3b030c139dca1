import * as crypto from 'node:crypto';
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
const OPEN_ROUTES = new Set([
  '/healthz',
  '/readyz',
  '/metrics',
  '/openapi.json',
  '/v2/health/live',
  '/v2/health/ready',
]);
const OPEN_PREFIXES = ['/docs'];

/** The job dashboard: browsers cannot send a bearer token, so it also takes HTTP Basic auth. */
const DASHBOARD_PREFIX = '/admin';

/**
 * Pages made to be opened in a browser (a link in a notebook, a chat, the dashboard), which
 * cannot send a bearer token either: they take Basic auth too, and their 401 offers both schemes.
 */
export const BROWSER_PAGES = new Set([
  '/v1/training-jobs/:jobId/report',
  '/v1/training-jobs/:jobId/curves.svg',
  '/v1/sweeps/:sweepId/curves.svg',
]);

/** Paths under which an unknown route still asks for a key, so probing reveals nothing. */
const PROTECTED_PREFIXES = ['/v1', '/v2', DASHBOARD_PREFIX];

const REALM = 'fitwell';

/**
 * The matched route's pattern; undefined for unknown paths (the 404 handler). `is404` is a cheap
 * getter, `routeOptions` builds an object on every read, so hooks read it once.
 */
export function routePattern(request: FastifyRequest): string | undefined {
  return request.is404 ? undefined : request.routeOptions.url;
}

/** Whether a route pattern is one of the open routes. */
export function isOpenPattern(url: string | undefined): boolean {
  if (url === undefined) return false;
  return OPEN_ROUTES.has(url) || OPEN_PREFIXES.some((prefix) => underPrefix(url, prefix));
}

export function isOpenRoute(request: FastifyRequest): boolean {
  return isOpenPattern(routePattern(request));
}

/** The route's pattern, or for an unknown path the decoded path of the URL. */
function routePath(request: FastifyRequest, pattern: string | undefined): string {
  if (pattern !== undefined) return pattern;
  const path = request.url.split('?', 1)[0];
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function underPrefix(path: string, prefix: string): boolean {
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 0x2f); // '/'
}

/**
 * The configured keys, kept only as SHA-256 digests. A presented key is hashed too, so every
 * comparison is between two 32-byte values with `timingSafeEqual`, and every configured key is
 * compared (no early exit): the time taken says nothing about how much of a key was right, nor
 * about which key matched or how long the keys are.
 */
export class ApiKeys {
  private readonly digests: Buffer[];
  /** Each key's fingerprint, computed once (the same index as `digests`). */
  private readonly fingerprints: string[];

  constructor(keys: readonly string[]) {
    const hex = keys.map(sha256Hex);
    this.digests = hex.map((digest) => Buffer.from(digest, 'hex'));
    // A fingerprint of the digest, so not even the key's SHA-256 appears in Redis keys or logs.
    this.fingerprints = hex.map((digest) => sha256Hex(digest).slice(0, 16));
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** The matching key's fingerprint, or undefined. */
  identify(presented: string): string | undefined {
    // From hex into a small Buffer, which Node cuts from its shared pool: a digest returned as a
    // Buffer gets memory of its own, whose allocation and collection cost more than the hash.
    const digest = Buffer.from(sha256Hex(presented), 'hex');
    let match = -1;
    for (let i = 0; i < this.digests.length; i++) {
      if (crypto.timingSafeEqual(digest, this.digests[i])) match = i;
    }
    return match < 0 ? undefined : this.fingerprints[match];
  }
}

/** crypto.hash (Node ≥ 20.12) is the one-shot form, several times faster than a Hash object. */
const oneShotHash = (crypto as { hash?: typeof crypto.hash }).hash;

function sha256Hex(text: string): string {
  return oneShotHash
    ? oneShotHash('sha256', text, 'hex')
    : crypto.createHash('sha256').update(text, 'utf8').digest('hex');
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

function challenge(reply: FastifyReply, scheme: 'basic' | 'bearer' | 'both', invalid: boolean): void {
  const basic = `Basic realm="${REALM}", charset="UTF-8"`;
  const bearer = `Bearer realm="${REALM}"${invalid ? ', error="invalid_token"' : ''}`;
  reply.header('WWW-Authenticate', scheme === 'basic' ? basic : scheme === 'bearer' ? bearer : `${basic}, ${bearer}`);
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
  // Admin keys (the dashboard's write actions, see routes/dashboard.ts) open the dashboard too.
  const dashboardKeys = new ApiKeys([...opts.config.apiKeys, ...opts.config.adminApiKeys]);
  if (!keys.enabled) {
    app.log.warn(
      '!!! API_KEYS is not set: the API is OPEN to anyone who can reach it. Set API_KEYS to ' +
        'comma-separated keys to require "Authorization: Bearer <key>" (NODE_ENV=production refuses to start without). !!!',
    );
    return;
  }
  app.log.info({ keys: opts.config.apiKeys.length }, 'API keys required on /v1 and the dashboard');

  // Callback style rather than async: no promise per request on every protected route.
  app.addHook('onRequest', (request, reply, done) => {
    const pattern = routePattern(request);
    if (isOpenPattern(pattern)) {
      done();
      return;
    }
    const path = routePath(request, pattern);
    const dashboard = underPrefix(path, DASHBOARD_PREFIX);
    // Unknown paths outside the protected areas are plain 404s.
    if (pattern === undefined && !PROTECTED_PREFIXES.some((prefix) => underPrefix(path, prefix))) {
      done();
      return;
    }

    const page = pattern !== undefined && BROWSER_PAGES.has(pattern);
    const scheme = dashboard ? 'basic' : page ? 'both' : 'bearer';
    const presented = presentedKey(request.headers.authorization, dashboard || page);
    if (presented === undefined) {
      challenge(reply, scheme, false);
      done(
        new AppError('UNAUTHORIZED', {
          message: dashboard
            ? 'the dashboard needs an API key: sign in with any user name and a key as the password, or send "Authorization: Bearer <key>"'
            : page
              ? 'this page needs an API key: in a browser sign in with any user name and a key as the password; ' +
                'scripts send "Authorization: Bearer <key>"'
              : 'this route needs an API key: send "Authorization: Bearer <key>"',
        }),
      );
      return;
    }
    const id = (dashboard ? dashboardKeys : keys).identify(presented);
    if (id === undefined) {
      challenge(reply, scheme, true);
      done(new AppError('UNAUTHORIZED', { message: 'the API key is not valid' }));
      return;
    }
    request.apiKeyId = id;
    done();
  });
}

export default fp(authPlugin, { name: 'fitwell-auth' });
